"""minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?", arXiv 2410.01201).

Both cells drop the hidden state from their gates, so every gate depends on the input alone
and the recurrence becomes the linear one ``h_t = a_t * h_{t-1} + b_t``:

    minGRU   z_t = sigmoid(k_z)                 a_t = 1 - z_t     b_t = z_t * g(k_h)
    minLSTM  f_t, i_t = sigmoid(k_f), sigmoid(k_i)
             f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
                                                a_t = f'_t        b_t = i'_t * g(k_h)

with ``[k_z, k_h]`` (``[k_f, k_i, k_h]``) one linear projection of ``x_t`` and
``g(x) = x + 0.5 if x >= 0 else sigmoid(x)`` (positive, so ``b_t`` has a logarithm).

Training solves the recurrence for all steps at once with the paper's log-space scan
(:func:`parallel_scan_log`): with ``A_t = sum_{s<=t} log a_s``,

    h_t = exp(A_t) * h_0 + exp(A_t + logcumsumexp_{s<=t}(log b_s - A_s))

Generation runs the same cells one step at a time (:meth:`MinRNNEncoder.step`, and any call
with ``T == 1``) with the sequential formulas above; both give the same numbers.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .dropout import FastDropout
from .encoders import State

MIN_KINDS = ("gru", "lstm")


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation: ``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """``log(g(x))``, finite with finite gradients for any x.

    ``log(x + 0.5) = log1p(2x) - log 2`` above zero and ``-softplus(-x)`` below, written as one
    sum of two branch-free terms (``torch.where`` and ``clamp``'s backward are slow on CPU).
    """
    return torch.log1p(2 * F.relu(x)) - F.softplus(F.relu(-x))


def _use_loops(device: torch.device) -> bool:
    """Whether scans over T run as T vectorised steps (CPU) rather than torch's scan kernels.

    On CPU torch's cumulative kernels run scalar along a strided T: for 32 x 128 x 512 on one
    core, logcumsumexp takes about 75 ms and cumsum 8 ms, against about 5 ms and 1 ms for T
    vectorised ops over [B, H]. Accelerators keep the parallel kernels.
    """
    return device.type == "cpu"


def _cumulative(u: torch.Tensor, op: str) -> torch.Tensor:
    """cumsum (``op="add"``) or logcumsumexp (``op="logaddexp"``) of u [B, T, H] over T; no autograd."""
    if not _use_loops(u.device):
        return torch.cumsum(u, 1) if op == "add" else torch.logcumsumexp(u, 1)
    binary = getattr(torch, op)
    out = torch.empty_like(u, memory_format=torch.contiguous_format)
    acc = out[:, 0].copy_(u[:, 0])
    for t in range(1, u.shape[1]):
        acc = binary(acc, u[:, t], out=out[:, t])
    return out


def _exp_floored(x: torch.Tensor) -> torch.Tensor:
    """exp(x), but at least about 3 * the smallest normal float, where exp(x) would underflow.

    exp is ~100x slower on CPU when its result is subnormal or zero; the floor changes results
    by under 1e-37 (float32) in absolute terms.
    """
    return x.clamp_min(math.log(torch.finfo(x.dtype).tiny) + 1).exp_()


def _adjoint(grad_h: torch.Tensor, log_a: torch.Tensor, a_star: torch.Tensor) -> torch.Tensor:
    """q [B, T, H] solving ``q_t = G_t + a_{t+1} q_{t+1}`` backwards from ``q_T = G_T``.

    In parallel form ``q_t = exp(-A_t) sum_{s>=t} G_s exp(A_s)``: a reversed log-space scan,
    once for G's positive and once for its negative part. Where the scan runs as a loop (CPU)
    the recurrence itself is cheaper, needs no logarithms and loses no precision to large |A|.
    """
    if _use_loops(grad_h.device):
        a = _exp_floored(log_a)
        q = torch.empty_like(grad_h, memory_format=torch.contiguous_format)
        acc = q[:, -1].copy_(grad_h[:, -1])
        for t in range(grad_h.shape[1] - 2, -1, -1):
            acc = torch.addcmul(grad_h[:, t], a[:, t + 1], acc, out=q[:, t])
        return q
    # log of G's positive and negative parts, -inf elsewhere: log of the floored value, then
    # the floor sent to -inf (log(0) is slow on CPU, and a finite floor could bias q).
    tiny = torch.finfo(grad_h.dtype).tiny
    log_tiny = math.log(tiny) + 1e-3
    q = None
    for part in (grad_h, -grad_h):
        log_part = F.threshold(part.clamp_min(tiny).log_(), log_tiny, -math.inf).add_(a_star).flip(1)
        q_part = _cumulative(log_part, "logaddexp").flip(1).sub_(a_star).exp_()
        q = q_part if q is None else q.sub_(q_part)
    return q


class _LogScan(torch.autograd.Function):
    """``parallel_scan_log`` with a hand-written backward (fewer full-size passes than autograd's).

    With ``G = dL/dh``, the adjoint ``q = dL/db`` runs the recurrence backwards (:func:`_adjoint`);
    then ``dL/dlog b = q * b``, ``dL/dlog a = q * a_t h_{t-1} = q * (h - b)`` and
    ``dL/dh0 = a_1 q_1``.
    """

    @staticmethod
    def forward(ctx, log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        a_star = _cumulative(log_a, "add")  # A_t = log prod_{s<=t} a_s  [B, T, H]
        h = _cumulative(log_b - a_star, "logaddexp").add_(a_star).exp_()
        if h0 is not None:  # the carried state's term, outside log space (h0 may have any sign)
            h.addcmul_(_exp_floored(a_star), h0.unsqueeze(1))
        ctx.save_for_backward(log_a, a_star, log_b, h)
        ctx.has_h0 = h0 is not None
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: torch.Tensor):
        log_a, a_star, log_b, h = ctx.saved_tensors
        q = _adjoint(grad_h, log_a, a_star)  # dL/db  [B, T, H]
        b = log_b.exp()
        grad_log_a = (h - b).mul_(q)  # a_t h_{t-1} = h_t - b_t
        grad_log_b = b.mul_(q)
        grad_h0 = q[:, 0] * _exp_floored(a_star[:, 0]) if ctx.has_h0 else None
        return grad_log_a, grad_log_b, grad_h0


def _d_log_g(x: torch.Tensor) -> torch.Tensor:
    """d log g / dx: ``1 / (x + 0.5)`` above zero, ``sigmoid(-x)`` below (1.25 at 0).

    Branch-free as ``sigmoid(relu(-x)) + (sign(x) + 1) / 2 * (1 / (relu(x) + 0.5) - 0.5)``:
    ``torch.where`` costs about 15 elementwise passes on CPU.
    """
    above = F.relu(x).add_(0.5).reciprocal_().sub_(0.5)  # 1.5 below zero
    return torch.sigmoid(F.relu(-x)).addcmul_(torch.sign(x).add_(1), above, value=0.5)


class _MinGRUCoefficients(torch.autograd.Function):
    """k = [k_z, k_h] [B, T, 2H] -> log a = log(1 - z), log b = log z + log g(k_h).

    Hand-written backward (about 30% faster than autograd's on CPU, and the two halves of the
    gradient are written in place, not concatenated): d log a / dk_z = -z, d log b / dk_z = 1 - z.
    """

    @staticmethod
    def forward(ctx, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k_z, k_h = k.chunk(2, dim=-1)
        log_z = F.logsigmoid(k_z)
        ctx.save_for_backward(k)
        return log_z - k_z, log_z.add_(log_g(k_h))  # log(1 - sigmoid(k)) = log sigmoid(k) - k

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_a: torch.Tensor, grad_log_b: torch.Tensor) -> torch.Tensor:
        (k,) = ctx.saved_tensors
        k_z, k_h = k.chunk(2, dim=-1)
        grad_k = torch.empty_like(k)
        grad_z, grad_h = grad_k.chunk(2, dim=-1)
        both = torch.sigmoid(k_z).mul_(grad_log_a + grad_log_b)
        torch.sub(grad_log_b, both, out=grad_z)
        torch.mul(grad_log_b, _d_log_g(k_h), out=grad_h)
        return grad_k


class _MinLSTMCoefficients(torch.autograd.Function):
    """k = [k_f, k_i, k_h] [B, T, 3H] -> log a = log f', log b = log i' + log g(k_h).

    With ``d = log i - log f``: ``log f' = logsigmoid(-d)``, ``log i' = log f' + d``, so
    d log a / dd = -i' and d log b / dd = f'; d log i / dk_i = sigmoid(-k_i), likewise for f.
    """

    @staticmethod
    def forward(ctx, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k_f, k_i, k_h = k.chunk(3, dim=-1)
        diff = F.logsigmoid(k_i).sub_(F.logsigmoid(k_f))  # log i - log f
        log_f = F.logsigmoid(-diff)  # log f' = log(f / (f + i)) = -log(1 + i / f)
        ctx.save_for_backward(k, log_f)
        return log_f, diff.add_(log_f).add_(log_g(k_h))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_a: torch.Tensor, grad_log_b: torch.Tensor) -> torch.Tensor:
        k, log_f = ctx.saved_tensors
        k_f, k_i, k_h = k.chunk(3, dim=-1)
        grad_k = torch.empty_like(k)
        grad_f, grad_i, grad_h = grad_k.chunk(3, dim=-1)
        grad_diff = log_f.exp().mul_(grad_log_a + grad_log_b).sub_(grad_log_a)  # f' gb - i' ga
        torch.mul(grad_diff, torch.sigmoid(-k_i), out=grad_i)
        torch.mul(grad_diff, torch.sigmoid(k_f).sub_(1), out=grad_f)  # -sigmoid(-k_f)
        torch.mul(grad_log_b, _d_log_g(k_h), out=grad_h)
        return grad_k


def parallel_scan_log(log_a: torch.Tensor, log_b: torch.Tensor,
                      h0: torch.Tensor | None = None) -> torch.Tensor:
    """All ``h_t = a_t * h_{t-1} + b_t`` at once from ``log a``, ``log b`` [B, T, H].

    ``h0`` [B, H] (zero when None) may have any sign: its term ``exp(A_t) * h0`` stays out of
    log space; b must be positive (log b finite or -inf). Returns h [B, T, H] (h_1 .. h_T).
    Run it in float32 or wider: ``h_t = exp(A_t + L_t)`` loses about ``|A_t| * eps``
    relative precision, e.g. 2e-5 after 200 steps of a = 0.4 in float32 (a long stream cut
    into BPTT segments restarts A at each segment; the carried h0 term is exact).

    >>> a, b = torch.full((1, 3, 1), 0.5), torch.ones(1, 3, 1)
    >>> parallel_scan_log(a.log(), b.log(), torch.full((1, 1), 2.0)).flatten().tolist()
    [2.0, 2.0, 2.0]
    """
    return _LogScan.apply(log_a, log_b, h0)


def _scan_dtype(dtype: torch.dtype) -> torch.dtype:
    # bf16/fp16 projections (autocast) are lifted to float32; float64 stays (gradcheck).
    return torch.promote_types(dtype, torch.float32)


class MinRNNLayer(nn.Module):
    """One minGRU (``kind="gru"``) or minLSTM (``kind="lstm"``) layer: [B, T, D] -> [B, T, H].

    All gate and candidate pre-activations come from one fused ``nn.Linear(D, n * H)``
    (n = 2 for minGRU, 3 for minLSTM). ``forward(x, h0)`` uses the log-space scan for
    T > 1 and the sequential formulas for T == 1; ``h0`` is [B, H] or None (zeros).
    """

    def __init__(self, input_size: int, hidden_size: int, kind: str = "gru"):
        super().__init__()
        if kind not in MIN_KINDS:
            raise ValueError(f"unknown min-RNN kind {kind!r}; choose one of {', '.join(MIN_KINDS)}")
        self.kind, self.hidden_size = kind, hidden_size
        self.proj = nn.Linear(input_size, (2 if kind == "gru" else 3) * hidden_size)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        k = self.proj(x)
        k = k.to(_scan_dtype(k.dtype))  # [B, T, n * H]; the scan runs in float32 or wider
        if k.shape[1] == 1:
            return self._step(k[:, 0], h0).unsqueeze(1)
        log_a, log_b = self._log_coefficients(k)
        return parallel_scan_log(log_a, log_b, None if h0 is None else h0.to(k.dtype))

    def _log_coefficients(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log a, log b [B, T, H] from the projections k [B, T, n * H]."""
        gates = _MinGRUCoefficients if self.kind == "gru" else _MinLSTMCoefficients
        return gates.apply(k)

    def _step(self, k: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """One step of the paper's sequential cell: k [B, n * H], h [B, H] or None -> [B, H]."""
        if self.kind == "gru":
            k_z, k_h = k.chunk(2, dim=-1)
            z = torch.sigmoid(k_z)
            a, b = 1 - z, z * g(k_h)
        else:
            k_f, k_i, k_h = k.chunk(3, dim=-1)
            f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
            a, b = f / (f + i), i / (f + i) * g(k_h)
        return b if h is None else a * h.to(k.dtype) + b


class MinRNNEncoder(nn.Module):
    """Stacked minGRU / minLSTM encoder, batch first, following rnnkit's encoder protocol.

    Layer 0 maps ``input_size`` to ``hidden_size``. Every later layer is a pre-norm residual
    block on the dropped-out output of the layer below, ``x + cell(LayerNorm(x))`` with
    ``x = dropout(out)`` (the paper stacks its cells with residuals and normalisation; its
    per-block MLP is left out). State: ``(h,)`` with h [num_layers, B, hidden_size], the last
    recurrent hidden of each layer (the cell's h, not the residual sum). The scan starts from
    a carried state, so a stream cut into segments gives the outputs of one pass; the encoder
    never detaches. With ``lengths`` outputs past a sequence's length are zero and the state
    is the one at its last valid step (the carried state for length 0). The scan runs in
    float32 under bf16/fp16 autocast; outputs and state are float32 then.

    >>> enc = MinRNNEncoder(input_size=4, hidden_size=8, num_layers=2, kind="gru")
    >>> out, state = enc(torch.randn(3, 5, 4), lengths=torch.tensor([5, 3, 1]))
    >>> tuple(out.shape), [tuple(s.shape) for s in state]
    ((3, 5, 8), [(2, 3, 8)])
    >>> step_out, state = enc.step(torch.randn(3, 4), state)  # generation: one step per call
    >>> tuple(step_out.shape)
    (3, 8)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, kind: str = "gru",
                 dropout: float = 0.0):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers, self.kind = input_size, hidden_size, num_layers, kind
        self.layers = nn.ModuleList(
            MinRNNLayer(input_size if i == 0 else hidden_size, hidden_size, kind) for i in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers - 1))
        self.dropout = FastDropout(dropout)
        self.output_size = hidden_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """x [B, T, input_size], lengths [B] or None, state ``(h [L, B, H],)`` or None.

        Returns (out [B, T, H], state); see the class docstring.
        """
        h0 = self._check(x, lengths, state)
        B, T, _ = x.shape
        if lengths is not None:
            lengths = lengths.to(x.device)
            last = (lengths - 1).clamp(min=0)  # index of each sequence's last valid step
        out, finals = x, []
        for i, layer in enumerate(self.layers):
            if i:
                x_i = self.dropout(out)
                h = layer(self.norms[i - 1](x_i), None if h0 is None else h0[i])
                out = x_i + h
            else:
                h = out = layer(x, None if h0 is None else h0[0])  # [B, T, H]
            if lengths is None:
                finals.append(h[:, -1])
            else:
                final = h[torch.arange(B, device=h.device), last]  # [B, H]
                if h0 is not None:
                    final = torch.where((lengths > 0)[:, None], final, h0[i].to(final.dtype))
                finals.append(final)
        if lengths is not None:
            mask = torch.arange(T, device=x.device)[None, :] < lengths[:, None]  # [B, T]
            out = out * mask[..., None]
        return out, (torch.stack(finals),)

    def step(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One step of every stream, for generation: x [B, input_size] -> (out [B, H], state)."""
        out, state = self(x.unsqueeze(1), None, state)
        return out[:, 0], state

    def _check(self, x: torch.Tensor, lengths: torch.Tensor | None, state: State | None) -> torch.Tensor | None:
        """Validate the inputs once, here at the public boundary; return h0 [L, B, H] or None."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected x of shape [B, T, {self.input_size}], got {list(x.shape)}")
        B, T, _ = x.shape
        if T == 0:
            raise ValueError("expected at least one time step, got T = 0")
        if lengths is not None and lengths.shape != (B,):
            raise ValueError(f"expected lengths of shape [{B}], got {list(lengths.shape)}")
        if lengths is not None and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"lengths must lie in [0, {T}], got {lengths.tolist()}")
        if not state:
            return None
        h0 = state[0]
        if len(state) != 1 or h0.shape != (self.num_layers, B, self.hidden_size):
            raise ValueError(f"expected state (h,) with h of shape [{self.num_layers}, {B}, {self.hidden_size}], "
                             f"got {[list(s.shape) for s in state]}")
        return h0
