"""Time-synchronous divergence: one target per output step.

Div = sum_t w_t * Xent(target_t, Y_t), over valid (unpadded) steps. A language model is the
case target_t = w_{t+1}: Xent = -sum_t log Y(t, w_{t+1}).

>>> import torch
>>> logits = torch.zeros(1, 3, 4)           # uniform over 4 symbols
>>> r = time_synchronous_xent(logits, torch.tensor([[0, 1, 2]]))
>>> round(float(r.total), 4), int(r.count)  # 3 * log 4
(4.1589, 3)
>>> r = time_synchronous_xent(logits, torch.tensor([[0, 1, 2]]), lengths=torch.tensor([2]))
>>> int(r.count)
2

Label smoothing ``eps`` scores each step against (1 - eps) on the target plus eps spread evenly
over all C symbols: (1 - eps) * nll + eps * mean_c(-log p_c). Uniform outputs score log C either way:

>>> r = time_synchronous_xent(logits, torch.tensor([[0, 1, 2]]), label_smoothing=0.1)
>>> round(float(r.total), 4)
4.1589
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LossResult


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """[B] lengths -> [B, T] bool mask, True on valid steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def time_synchronous_xent(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None,
                          weights: torch.Tensor | None = None, ignore_index: int = -100,
                          label_smoothing: float = 0.0) -> LossResult:
    """Sum over t of w_t * cross-entropy(targets[:, t], softmax(logits[:, t])).

    logits [B, T, C]; targets [B, T] ids (``ignore_index`` steps are skipped); lengths [B]
    (steps past a length are padding); weights [B, T] or [T] (per-time w_t, default 1);
    ``label_smoothing`` in [0, 1): the share of each step's target spread evenly over the C symbols.
    ``count`` is the number of scored steps (the weights' sum when weights are given).
    """
    B, T, C = logits.shape
    if targets.shape != (B, T):
        raise ValueError(f"targets must be [B, T] = {(B, T)}, got {tuple(targets.shape)}")
    # Cross-entropy in fp32 even under autocast: bf16 log-softmax loses the small differences.
    nll = F.cross_entropy(logits.reshape(B * T, C).float(), targets.reshape(B * T),
                          ignore_index=ignore_index, reduction="none",
                          label_smoothing=label_smoothing).view(B, T)
    valid = targets != ignore_index
    if lengths is not None:
        if int(lengths.max()) > T:
            raise ValueError(f"a length ({int(lengths.max())}) exceeds the {T} steps of the tensor")
        valid = valid & length_mask(lengths.to(targets.device), T)
    if weights is None:
        w = valid.to(nll.dtype)
        return LossResult((nll * w).sum(), int(valid.sum()))
    w = torch.as_tensor(weights, dtype=nll.dtype, device=nll.device).expand(B, T) * valid
    return LossResult((nll * w).sum(), w.sum())
