"""Sequence encoders: [B, T, D] in, [B, T, H] out, with explicit recurrent state.

Every encoder follows one protocol (no shared base class is needed)::

    out, state = encoder(x, lengths=None, state=None)   # x [B, T, D]; lengths [B] or None
    encoder.output_size                                  # H

``state`` is a tuple of tensors (empty for stateless encoders), returned so the caller can
carry it into the next segment of a stream and detach it there; the encoder never detaches.

Cells: ``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu`` (Elman), each stacked and optionally
bidirectional (forward and backward nets whose outputs are concatenated), and ``tdnn``, the
fixed-window time-delay net of Bengio et al. (2003): each output sees the last ``window``
inputs, concatenated, through a tanh layer.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .dropout import FastDropout

State = tuple[torch.Tensor, ...]

RNN_CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")


class RecurrentEncoder(nn.Module):
    """Stacked (optionally bidirectional) LSTM / GRU / Elman RNN, batch first.

    State: LSTM ``(h, c)``, others ``(h,)``, each [num_layers * num_directions, B, hidden_size].
    With ``lengths`` the padded tail is packed away, so the backward net starts at each
    sequence's real end; outputs past a sequence's length are zero.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        kwargs = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                      batch_first=True, bidirectional=bidirectional,
                      dropout=dropout if num_layers > 1 else 0.0)
        if cell == "lstm":
            self.rnn: nn.RNNBase = nn.LSTM(**kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(**kwargs)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(nonlinearity=cell[4:], **kwargs)
        else:
            raise ValueError(f"unknown recurrent cell {cell!r}")
        self.cell = cell
        self.output_size = hidden_size * (2 if bidirectional else 1)
        # The inter-layer dropout. In training on the CPU the stack runs one layer at a time with it
        # (nn.LSTM's own dropout draws its mask with bernoulli_, which is slow there); elsewhere
        # (packed sequences, GPU) nn.LSTM's own dropout is set from it on every call.
        self.between = FastDropout(dropout if num_layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        self.rnn.dropout = self.between.rate  # follows the trainer's dropout schedule
        hx = None
        if state:
            hx = state if self.cell == "lstm" else state[0]
        if lengths is not None:
            total = x.shape[1]
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, new = self.rnn(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        elif self.training and self.between.rate > 0 and x.device.type == "cpu":
            out, new = self._layer_by_layer(x, hx)
        else:
            out, new = self.rnn(x, hx)
        return out, (tuple(new) if self.cell == "lstm" else (new,))

    def _layer_by_layer(self, x: torch.Tensor, hx):
        """The stacked forward with :class:`FastDropout` between layers (same maths as ``self.rnn``)."""
        rnn = self.rnn
        dirs = 2 if rnn.bidirectional else 1
        if hx is None:
            zeros = x.new_zeros(rnn.num_layers * dirs, x.shape[0], rnn.hidden_size)
            hx = (zeros, zeros) if self.cell == "lstm" else zeros
        run = {"lstm": torch._VF.lstm, "gru": torch._VF.gru, "rnn_tanh": torch._VF.rnn_tanh,
               "rnn_relu": torch._VF.rnn_relu}[self.cell]
        per_layer = len(rnn._flat_weights) // rnn.num_layers
        outs_h, outs_c = [], []
        for k in range(rnn.num_layers):
            if k:
                x = self.between(x)
            weights = rnn._flat_weights[k * per_layer:(k + 1) * per_layer]
            rows = slice(k * dirs, (k + 1) * dirs)
            if self.cell == "lstm":
                x, h, c = run(x, (hx[0][rows], hx[1][rows]), weights, rnn.bias, 1, 0.0, True,
                              rnn.bidirectional, True)
                outs_c.append(c)
            else:
                x, h = run(x, hx[rows], weights, rnn.bias, 1, 0.0, True, rnn.bidirectional, True)
            outs_h.append(h)
        h = torch.cat(outs_h)
        return x, ((h, torch.cat(outs_c)) if self.cell == "lstm" else h)


class TDNNEncoder(nn.Module):
    """Time-delay net: output t = tanh(W [x_{t-window+1}; ...; x_t] + b) (Bengio et al., 2003).

    Causal by default (a language model may not look ahead). The state is the last
    ``window - 1`` inputs, so a stream cut into segments gives the same outputs as one pass.
    With ``causal=False`` the window is centred (a tagger may look both ways) and no state is kept.
    """

    def __init__(self, input_size: int, hidden_size: int, window: int = 5, num_layers: int = 1,
                 causal: bool = True, dropout: float = 0.0):
        super().__init__()
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window, self.causal = window, causal
        layers: list[nn.Module] = []
        size = input_size
        for i in range(num_layers):
            # Only the first layer spans the window; later layers are per-step (the 2003 net's hidden stack).
            layers.append(nn.Conv1d(size, hidden_size, kernel_size=window if i == 0 else 1))
            size = hidden_size
        self.layers = nn.ModuleList(layers)
        self.dropout = FastDropout(dropout)
        self.output_size = hidden_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        B, T, D = x.shape
        pad = self.window - 1
        if self.causal:
            past = state[0] if state else x.new_zeros(B, pad, D)
            xx = torch.cat([past.to(x.dtype), x], dim=1)  # [B, pad + T, D]
            new_state: State = (xx[:, xx.shape[1] - pad:].clone(),) if pad else ()
        else:
            left = pad // 2
            xx = nn.functional.pad(x, (0, 0, left, pad - left))
            new_state = ()
        h = xx.transpose(1, 2)  # [B, D, pad + T]
        for i, layer in enumerate(self.layers):
            if i:
                h = self.dropout(h)
            h = torch.tanh(layer(h))
        out = h.transpose(1, 2)  # [B, T, H]
        if lengths is not None:
            mask = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]
            out = out * mask[..., None]
        return out, new_state

