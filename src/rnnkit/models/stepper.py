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
from .model import PairEmbedding, class_vectors


PRECISIONS = ("fp32", "bf16", "int8")


class Matrix:
    """A weight matrix w [G, in] laid out once for repeated products ``x @ w.T (+ bias)``.

    ``fp32`` is exact. ``bf16`` stores the matrix in bf16 (half the bytes per step). ``int8``
    stores it as int8 with one fp scale per output row (weight-only quantisation, a quarter of
    the bytes; inputs are rounded to bf16): the product is within about 1% of fp32. One stream
    reads every recurrent weight once per symbol, so fewer bytes is what makes it faster.
    """

    def __init__(self, w: torch.Tensor, precision: str = "fp32"):
        self.precision = precision
        w = w.detach().float()
        # torch._weight_int8pack_mm (2.13) reads garbage past the end of a row whose length is not a
        # multiple of its vector width: 8 on an AVX2 CPU (a 650-unit LSTM gave logits off by 1e20, or NaN),
        # 16 for one input row on an AVX-512 CPU (24 and 136 wide rows: NaN, 1e22, a segfault). int8 rows
        # are padded with zero columns to a multiple of 16, and the inputs with zeros to match.
        self.pad = (-w.shape[1]) % 16 if precision == "int8" else 0
        if precision == "int8":
            w = nn.functional.pad(w, (0, self.pad))
            scales = w.abs().amax(1).clamp_min(1e-12) / 127.0
            self.w = torch.round(w / scales[:, None]).to(torch.int8).contiguous()
            self.scales = scales.to(torch.bfloat16)
        else:
            self.w = w.to(torch.bfloat16 if precision == "bf16" else torch.float32).contiguous()

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, in] fp32 -> [B, G] fp32, plus ``bias`` ([G] or [B, G])."""
        if self.precision == "fp32":
            return torch.addmm(bias, x, self.w.t()) if bias is not None else torch.mm(x, self.w.t())
        if self.precision == "int8":
            x = nn.functional.pad(x, (0, self.pad)) if self.pad else x
            y = torch._weight_int8pack_mm(x.to(torch.bfloat16), self.w, self.scales).float()
        elif x.shape[0] == 1:  # the matrix-vector kernel reads bf16 weights fastest
            y = torch.mv(self.w, x[0].to(torch.bfloat16)).float()[None]
        else:
            y = torch.mm(x.to(torch.bfloat16), self.w.t()).float()
        return y if bias is None else y + bias


class Stepper:
    """Incremental decoding for a model with symbol input; ``prime`` then ``step`` repeatedly."""

    def __init__(self, model: nn.Module, precision: str = "fp32"):
        """``precision`` is how the recurrent matrices are kept (see :class:`Matrix`): ``fp32``
        (exact), ``bf16`` or ``int8``. Activations, the state, the folded first-layer input rows
        and the output head stay fp32. Speeds: benchmarks/sampling_speed.py and README."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model, self.precision = model, precision
        enc = model.encoder
        self.fast = (isinstance(enc, RecurrentEncoder) and not enc.rnn.bidirectional
                     and isinstance(model.input, (nn.Embedding, PairEmbedding)))
        self._state: State | None = None
        self._layers_state: list[list[torch.Tensor]] | None = None
        # A model with condition_input: the classes of the streams, and their first-layer rows (see prime).
        self.conditions: torch.Tensor | None = None
        self.condition_rows: torch.Tensor | None = None
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
            low = lambda w: Matrix(w, self.precision)  # noqa: E731
            if k == 0:
                self.w_ih0 = w_ih.detach().float()  # a condition's vector goes through the same map (see prime)
            if self.cell == "gru":
                # GRU keeps the recurrent bias of the candidate inside the reset gate: keep the products apart.
                if k == 0:
                    self._fold_input(w_ih, b_ih)
                self.layers.append((None if k == 0 else low(w_ih), None if k == 0 else b_ih.clone(), low(w_hh),
                                    b_hh.clone()))
            elif k == 0:
                # Embedding then a linear map is a table lookup: fold them (and both biases), one row per symbol.
                self._fold_input(w_ih, b_ih + b_hh)
                self.layers.append((None, None, low(w_hh), None))
            else:
                # One product for input and recurrence: [x, h] @ [W_ih; W_hh]^T.
                self.layers.append((low(torch.cat([w_ih, w_hh], 1)), b_ih + b_hh, None, None))
        self.head_w_t = self.model.head.weight.detach().t().contiguous()  # [H, C]
        self.head_b = self.model.head.bias.detach().clone()

    def _fold_input(self, w_ih: torch.Tensor, bias: torch.Tensor) -> None:
        """The first layer's input map folded into each embedding table (a PairEmbedding has two or
        three, whose folded rows are summed: :meth:`_input_rows`), ``bias`` into the first."""
        inp = self.model.input
        tables = inp.tables if isinstance(inp, PairEmbedding) else [inp]
        self.input_tables = [t.weight @ w_ih.t() for t in tables]
        self.input_tables[0] = self.input_tables[0] + bias

    def _input_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The first layer's input pre-activation of ``ids`` [B] (bias included), [B, G]."""
        if len(self.input_tables) == 1:
            return self.input_tables[0].index_select(0, ids)
        parts = self.model.input.lookups(ids)
        return sum(folded.index_select(0, rows) for folded, rows in zip(self.input_tables, parts))

    @property
    def state(self) -> State | None:
        """The recurrent state in the encoder's layout (each [num_layers, B, H])."""
        if self._layers_state is None:
            return self._state
        return tuple(torch.stack(part) for part in self._layers_state)

    @state.setter
    def state(self, value: State | None) -> None:
        self._state, self._layers_state = value, None
        if value is not None and self.fast:
            # Kept as per-layer lists while stepping: no stacking and unstacking every symbol.
            self._layers_state = [list(part.float().unbind(0)) for part in value]

    @torch.inference_mode()
    def prime(self, ids: torch.Tensor, state: State | None = None, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """Run ``ids`` [B, T] through the whole-sequence path from ``state`` (None: zeros; a
        conditioned model's :meth:`initial_state`); returns logits [B, C] of the last step.
        ``conditions`` [B] or [B, K]: the classes added to every input (a model with ``condition_input``)."""
        logits, self.state = self.model(ids, None, state, conditions)
        self.conditions, self.condition_rows = conditions, None
        if conditions is not None and self.fast and self.model.config.condition_input:
            # The first layer's input is embedding + condition: its pre-activation gains this per-stream row.
            self.condition_rows = class_vectors(self.model.condition_input, conditions).float() @ self.w_ih0.t()  # [B, G]
        return logits[:, -1].float()

    @torch.inference_mode()
    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed ``ids`` [B]; returns next-symbol logits [B, C] and advances the state."""
        if not self.fast:
            logits, self.state = self.model(ids[:, None], None, self.state, self.conditions)
            return logits[:, 0].float()
        extra = self.condition_rows
        hs = self._layers_state[0]
        cs = self._layers_state[1] if self.cell == "lstm" else None
        x = None
        for k, (w_in, b, w_hh, b_hh) in enumerate(self.layers):
            h = hs[k]
            if self.cell == "gru":
                gi = self._input_rows(ids) if k == 0 else w_in(x, b)  # [B, 3H]
                if k == 0 and extra is not None:
                    gi = gi + extra
                gh = w_hh(h, b_hh)
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(in_ + r * hn)
                h = n + z * (h - n)
            else:
                if k == 0:
                    rows = self._input_rows(ids)  # folded input rows, [B, G]
                    pre = w_hh(h, rows if extra is None else rows + extra)  # + recurrence
                else:
                    pre = w_in(torch.cat([x, h], 1), b)
                if self.cell == "lstm":
                    H = h.shape[1]
                    i, f, o = torch.sigmoid(pre.narrow(1, 0, 3 * H)).split(H, 1)
                    c = torch.addcmul(f * cs[k], i, torch.tanh(pre.narrow(1, 3 * H, H)))
                    h = o * torch.tanh(c)
                    cs[k] = c
                else:
                    h = torch.tanh(pre) if self.cell == "rnn_tanh" else torch.relu(pre)
            hs[k] = h
            x = h
        return torch.addmm(self.head_b, x, self.head_w_t)


@torch.inference_mode()
def teacher_forced_xent(model: nn.Module, ids: torch.Tensor, precision: str = "fp32") -> float:
    """Nats per symbol of ``ids`` [T] fed one step at a time through a :class:`Stepper`.

    Scores what sampling computes (the one-step path, with its matrices in ``precision``) on a
    known text: symbol t+1 is scored from the state after ``ids[:t+1]``; the first symbol is fed
    through ``prime``, the rest through ``step``. Compare with the whole-sequence forward to see
    what a lower precision costs (benchmarks/sampling_speed.py, tests/unit/models/).
    """
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError("ids must be one sequence [T] of at least 2 symbols")
    stepper = Stepper(model, precision)
    out = [stepper.prime(ids[None, :1])]
    for t in range(1, ids.numel() - 1):
        out.append(stepper.step(ids[t:t + 1]))
    return float(nn.functional.cross_entropy(torch.cat(out), ids[1:]))
