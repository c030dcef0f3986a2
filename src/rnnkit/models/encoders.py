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
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .dropout import FastDropout

State = tuple[torch.Tensor, ...]

RNN_CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
# The one-layer kernels nn.LSTM / nn.GRU / nn.RNN call (with their flat weights).
_VF_RUN = {"lstm": torch._VF.lstm, "gru": torch._VF.gru, "rnn_tanh": torch._VF.rnn_tanh,
           "rnn_relu": torch._VF.rnn_relu}


class RecurrentEncoder(nn.Module):
    """Stacked (optionally bidirectional) LSTM / GRU / Elman RNN, batch first.

    State: LSTM ``(h, c)``, others ``(h,)``, each [num_layers * num_directions, B, hidden_size].
    With ``lengths`` the padded tail is packed away, so the backward net starts at each
    sequence's real end; outputs past a sequence's length are zero.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 bidirectional: bool = False, dropout: float = 0.0, weight_drop: float = 0.0,
                 locked: bool = False):
        super().__init__()
        # nn.LSTM's own dropout stays 0: see ``between``.
        kwargs = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                      batch_first=True, bidirectional=bidirectional)
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
        # The inter-layer dropout. While it is in force (training, rate > 0) the stack runs one layer
        # at a time with it, on every device and for packed input too: nn.LSTM's own dropout draws
        # its CPU mask with bernoulli_ (slow there) and on a GPU uses cuDNN's dropout state, which
        # no checkpoint can save; this mask comes from the seeded generator the checkpoint saves.
        self.between = FastDropout(dropout if num_layers > 1 else 0.0, locked=locked)
        # DropConnect on the recurrent matrices (Wan et al. 2013; "weight drop" in Merity et al. 2017):
        # each hidden-to-hidden weight is zeroed with this probability, one mask per forward call, the
        # same at every step. Like ``between`` it runs the stack one layer at a time while in force.
        self.weight_drop = FastDropout(weight_drop)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        hx = None
        if state:
            hx = state if self.cell == "lstm" else state[0]
        run = self._layer_by_layer if self._explicit() else self.rnn
        if lengths is None:
            out, new = run(x, hx)
        else:
            total = x.shape[1]
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, new = run(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        return out, (tuple(new) if self.cell == "lstm" else (new,))

    def _explicit(self) -> bool:
        """Whether a dropout of this encoder's own (``between``, ``weight_drop``) is in force now."""
        return self.training and (self.between.rate > 0 or self.weight_drop.rate > 0)

    def layer_weights(self, k: int) -> list[torch.Tensor]:
        """Layer ``k``'s flat weights, both directions ([w_ih, w_hh, b_ih, b_hh] each), with the
        recurrent matrices w_hh dropped while ``weight_drop`` is in force."""
        rnn = self.rnn
        per_layer = len(rnn._flat_weights) // rnn.num_layers
        weights = rnn._flat_weights[k * per_layer:(k + 1) * per_layer]
        if not (self.training and self.weight_drop.rate > 0):
            return weights
        per_dir = per_layer // (2 if rnn.bidirectional else 1)
        return [self.weight_drop(w) if i % per_dir == 1 else w for i, w in enumerate(weights)]

    def outputs(self, x: torch.Tensor, lengths: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """The outputs [B, T, H] of a padded batch, zero past each length, computed without packing:
        the numbers of ``forward(x, lengths, state)[0]`` (to float rounding), no final state.
        ``state`` (None: zeros) is where each layer and direction starts, as in :meth:`forward`.

        The forward net runs over the padded rows as they are (the padding comes after every real
        step, so nothing before it changes); the backward net runs over each row reversed within
        its length (its padding again comes last), and its outputs are put back in order. Dropout
        between layers as in training. On a CPU this trains about twice as fast as the packed
        path, whose backward pass slices the packed data one step at a time; without gradients
        (inference) the packed path is the faster one, and is taken.
        """
        if not torch.is_grad_enabled():
            return self.forward(x, lengths, state)[0]
        rnn = self.rnn
        B, T = x.shape[:2]
        steps = torch.arange(T, device=x.device)[None, :]
        lengths = lengths.to(x.device)[:, None]
        real = steps < lengths  # [B, T]
        rev = torch.where(real, lengths - 1 - steps, steps)[..., None]  # t <-> length - 1 - t within each row
        dirs = 2 if rnn.bidirectional else 1
        per_dir = len(rnn._flat_weights) // (rnn.num_layers * dirs)
        zeros = x.new_zeros(1, B, rnn.hidden_size)
        h0 = (zeros, zeros) if self.cell == "lstm" else zeros
        data = x
        for k in range(rnn.num_layers):
            data = self.between(data) if k else data
            outs, layer = [], self.layer_weights(k)
            for d in range(dirs):
                if state:  # this layer and direction's own start: rows k * dirs + d of the state
                    row = slice(k * dirs + d, k * dirs + d + 1)
                    h0 = (state[0][row], state[1][row]) if self.cell == "lstm" else state[0][row]
                weights = layer[d * per_dir:(d + 1) * per_dir]
                inp = data if d == 0 else data.gather(1, rev.expand_as(data))
                out = _VF_RUN[self.cell](inp, h0, weights, rnn.bias, 1, 0.0, self.training, False, True)[0]
                outs.append(out if d == 0 else out.gather(1, rev.expand_as(out)))
            data = torch.cat(outs, dim=-1) if dirs == 2 else outs[0]
        return data * real[..., None]

    def _layer_by_layer(self, x: torch.Tensor | PackedSequence, hx):
        """The stacked forward with :class:`FastDropout` between layers and on the recurrent
        matrices (same maths as ``self.rnn`` with both off).

        ``x`` is a padded [B, T, D] batch or a PackedSequence (whose data [N, D] is dropped alike).
        """
        rnn = self.rnn
        dirs = 2 if rnn.bidirectional else 1
        packed = isinstance(x, PackedSequence)
        data, batch = (x.data, int(x.batch_sizes[0])) if packed else (x, x.shape[0])
        if hx is None:
            zeros = data.new_zeros(rnn.num_layers * dirs, batch, rnn.hidden_size)
            hx = (zeros, zeros) if self.cell == "lstm" else zeros
        elif packed:  # the packed rows are sorted by length: the state follows them (as nn.LSTM does)
            hx = rnn.permute_hidden(hx, x.sorted_indices)
        run = _VF_RUN[self.cell]
        outs_h, outs_c = [], []
        for k in range(rnn.num_layers):
            if k:
                data = self.between(data)
            weights = self.layer_weights(k)
            rows = slice(k * dirs, (k + 1) * dirs)
            h0 = (hx[0][rows], hx[1][rows]) if self.cell == "lstm" else hx[rows]
            # One layer, no dropout of its own: (input, [batch_sizes,] hx, weights, bias, layers, dropout,
            # train, bidirectional[, batch_first]), the two overloads nn.LSTM.forward itself calls.
            if packed:
                result = run(data, x.batch_sizes, h0, weights, rnn.bias, 1, 0.0, True, rnn.bidirectional)
            else:
                result = run(data, h0, weights, rnn.bias, 1, 0.0, True, rnn.bidirectional, True)
            data, outs_h = result[0], outs_h + [result[1]]
            if self.cell == "lstm":
                outs_c.append(result[2])
        h = torch.cat(outs_h)
        new = (h, torch.cat(outs_c)) if self.cell == "lstm" else h
        if not packed:
            return data, new
        return (PackedSequence(data, x.batch_sizes, x.sorted_indices, x.unsorted_indices),
                rnn.permute_hidden(new, x.unsorted_indices))


class TDNNEncoder(nn.Module):
    """Time-delay net: output t = tanh(W [x_{t-window+1}; ...; x_t] + b) (Bengio et al., 2003).

    Causal by default (a language model may not look ahead). The state is the last
    ``window - 1`` inputs, so a stream cut into segments gives the same outputs as one pass.
    With ``causal=False`` the window is centred (a tagger may look both ways) and no state is kept.
    ``direct``: the output also carries the window's inputs [x_{t-window+1}; ...; x_t], so a linear
    head on it computes b + W x + U tanh(d + H x), the 2003 net's optional direct connections.
    """

    def __init__(self, input_size: int, hidden_size: int, window: int = 5, num_layers: int = 1,
                 causal: bool = True, dropout: float = 0.0, direct: bool = False):
        super().__init__()
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window, self.causal, self.direct = window, causal, direct
        layers: list[nn.Module] = []
        size = input_size
        for i in range(num_layers):
            # Only the first layer spans the window; later layers are per-step (the 2003 net's hidden stack).
            layers.append(nn.Conv1d(size, hidden_size, kernel_size=window if i == 0 else 1))
            size = hidden_size
        self.layers = nn.ModuleList(layers)
        self.dropout = FastDropout(dropout)
        self.output_size = hidden_size + (window * input_size if direct else 0)

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
        if self.direct:  # the window's inputs themselves too: the head then adds W x (Bengio's direct connections)
            window = xx.unfold(1, self.window, 1)  # [B, T, D, window], oldest first
            out = torch.cat([out, window.transpose(2, 3).reshape(B, T, self.window * D)], dim=-1)
        if lengths is not None:
            mask = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]
            out = out * mask[..., None]
        return out, new_state

