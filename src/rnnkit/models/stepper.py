"""One-step inference for generation: feed one symbol per stream, get next-symbol logits.

``nn.LSTM`` called one step at a time re-lays its weights out on every call, which makes
sampling slow. A :class:`Stepper` lays the weights out once (input and recurrent matrices
stacked, biases summed, the embedding folded into the first layer's input matrix) and runs
the cell equations with a handful of fused ops. The prime goes through the whole-sequence
path (``model.forward``), which is exact and fast; only the feedback loop steps.

>>> import torch
>>> from .model import ModelConfig, build_model
>>> model = build_model(ModelConfig(vocab_size=7, num_outputs=7, hidden_size=8, embedding_dim=4)).eval()
>>> ids = torch.tensor([[1, 2, 3, 4]])
>>> full, _ = model(ids)
>>> stepper = Stepper(model)
>>> first = stepper.prime(ids[:, :3])
>>> torch.allclose(stepper.step(ids[:, 3]), full[:, 3], atol=1e-5)
True
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import RecurrentEncoder, State


class Stepper:
    """Incremental decoding for a model with symbol input; ``prime`` then ``step`` repeatedly."""

    def __init__(self, model: nn.Module, precision: str = "fp32"):
        """``precision="bf16"`` keeps the recurrent matrices in bf16 (half the bytes to read per
        step); activations, the state and the output head stay fp32. On the 2-core development
        CPU it gave about 1.1x for one stream and 1.6-1.8x for 8-64 streams
        (benchmarks/sampling_speed.py)."""
        self.model = model
        self.weight_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        enc = model.encoder
        self.fast = (isinstance(enc, RecurrentEncoder) and not enc.rnn.bidirectional
                     and isinstance(model.input, nn.Embedding))
        self.state: State | None = None
        if self.fast:
            self._layout(enc)

    @torch.no_grad()
    def _layout(self, enc: RecurrentEncoder) -> None:
        rnn, self.cell = enc.rnn, enc.cell
        H = rnn.hidden_size
        # LSTM gates come as (i, f, g, o); reorder to (i, f, o, g) so one sigmoid covers three gates.
        order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]) \
            if self.cell == "lstm" else None
        self.layers = []
        for k in range(rnn.num_layers):
            w_ih, w_hh = getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(rnn, f"bias_ih_l{k}"), getattr(rnn, f"bias_hh_l{k}")
            if order is not None:
                w_ih, w_hh, b_ih, b_hh = w_ih[order], w_hh[order], b_ih[order], b_hh[order]
            low = lambda w: w.to(self.weight_dtype).contiguous()  # noqa: E731  [G, in], as nn.Linear keeps it
            if self.cell == "gru":
                # GRU keeps the recurrent bias of the candidate inside the reset gate: keep the products apart.
                w_in = self.model.input.weight @ w_ih.t() + b_ih if k == 0 else low(w_ih)
                self.layers.append((w_in, None if k == 0 else b_ih.clone(), low(w_hh), b_hh.clone()))
            elif k == 0:
                # Embedding then a linear map is a table lookup: fold them (and both biases), one row per symbol.
                self.layers.append((self.model.input.weight @ w_ih.t() + b_ih + b_hh, None, low(w_hh), None))
            else:
                # One product for input and recurrence: [x, h] @ [W_ih; W_hh]^T.
                self.layers.append((low(torch.cat([w_ih, w_hh], 1)), b_ih + b_hh, None, None))
        self.head_w = self.model.head.weight.detach().clone()
        self.head_b = self.model.head.bias.detach().clone()

    def _mm(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [B, in] (fp32) times w [G, in]^T -> [B, G] fp32."""
        if w.dtype == torch.float32:
            return nn.functional.linear(x, w)
        if x.shape[0] == 1:  # the matrix-vector kernel reads bf16 weights fastest
            return torch.mv(w, x[0].to(w.dtype)).float()[None]
        return nn.functional.linear(x.to(w.dtype), w).float()

    @torch.no_grad()
    def prime(self, ids: torch.Tensor) -> torch.Tensor:
        """Run ``ids`` [B, T] through the whole-sequence path; returns logits [B, C] of the last step."""
        logits, self.state = self.model(ids, None, None)
        return logits[:, -1].float()

    @torch.no_grad()
    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed ``ids`` [B]; returns next-symbol logits [B, C] and advances the state."""
        if not self.fast:
            logits, self.state = self.model(ids[:, None], None, self.state)
            return logits[:, 0].float()
        hs = self.state[0]
        cs = self.state[1] if self.cell == "lstm" else None
        new_h, new_c = [], []
        x = None
        for k, (w_in, b, w_hh, b_hh) in enumerate(self.layers):
            h = hs[k]
            if self.cell == "gru":
                gi = w_in[ids] if k == 0 else self._mm(x, w_in) + b  # [B, 3H]
                gh = self._mm(h, w_hh) + b_hh
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(in_ + r * hn)
                h = n + z * (h - n)
            else:
                if k == 0:
                    pre = w_in[ids] + self._mm(h, w_hh)  # [B, G]: folded input rows + recurrence
                else:
                    pre = self._mm(torch.cat([x, h], 1), w_in) + b
                if self.cell == "lstm":
                    H = h.shape[1]
                    ifo = torch.sigmoid(pre[:, :3 * H])
                    c = torch.addcmul(ifo[:, H:2 * H] * cs[k], ifo[:, :H], torch.tanh(pre[:, 3 * H:]))
                    h = ifo[:, 2 * H:] * torch.tanh(c)
                    new_c.append(c)
                else:
                    h = torch.tanh(pre) if self.cell == "rnn_tanh" else torch.relu(pre)
            new_h.append(h)
            x = h
        self.state = (torch.stack(new_h), torch.stack(new_c)) if self.cell == "lstm" else (torch.stack(new_h),)
        return nn.functional.linear(x, self.head_w, self.head_b)
