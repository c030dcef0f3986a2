"""Many-to-one divergence: one target per sequence (a class, an answer, a phoneme).

Two readings of "the output for the whole sequence":

* question answering: only the output at the final valid step counts,
  ``Div = Xent(label, Y_{L-1})`` (``weights="last"``, the default);
* phoneme classification: every step should already say the label,
  ``Div = sum_t w_t * Xent(label, Y_t)`` with ``w_t`` spread over the valid steps
  (``weights="uniform"``: ``w_t = 1 / L``) or given by the caller.

Reduction: ``total`` is the weighted sum, ``count`` the sum of the weights over valid steps.
The two named schemes give every sequence weight 1, so ``count`` is the number of sequences
and ``total / count`` is a per-sequence average in both.

>>> import torch
>>> logits = torch.zeros(2, 3, 4)                     # uniform over 4 classes
>>> r = many_to_one_xent(logits, torch.tensor([1, 2]), torch.tensor([3, 1]))
>>> round(float(r.total), 4), int(r.count)            # 2 * log 4
(2.7726, 2)
>>> r = many_to_one_xent(logits, torch.tensor([1, 2]), torch.tensor([3, 1]), weights="uniform")
>>> round(float(r.mean), 4)
1.3863
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LossResult
from .timesync import length_mask

SCHEMES = ("last", "uniform")


def _check(logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> None:
    if logits.dim() != 3:
        raise ValueError(f"logits must be [B, T, C], got shape {tuple(logits.shape)}")
    B, T, _ = logits.shape
    if labels.shape != (B,):
        raise ValueError(f"labels must be [B] = {(B,)}, got {tuple(labels.shape)}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths must be [B] = {(B,)}, got {tuple(lengths.shape)}")
    if B and int(lengths.max()) > T:
        raise ValueError(f"a length ({int(lengths.max())}) exceeds the {T} steps of the tensor")
    if B and int(lengths.min()) < 1:
        raise ValueError(f"every sequence needs at least one step, got length {int(lengths.min())}")


def last_step_logits(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output at each sequence's final valid step: [B, T, C], [B] -> [B, C].

    >>> x = torch.arange(6.).view(1, 3, 2)
    >>> last_step_logits(x, torch.tensor([2])).tolist()
    [[2.0, 3.0]]
    """
    index = (lengths.to(logits.device) - 1).view(-1, 1, 1).expand(-1, 1, logits.shape[2])  # [B, 1, C]
    return logits.gather(1, index).squeeze(1)


def many_to_one_xent(logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor,
                     weights: str | torch.Tensor = "last") -> LossResult:
    """Cross-entropy of one label per sequence against the outputs of a [B, T, C] sequence.

    logits [B, T, C]; labels [B] class ids; lengths [B] valid steps (>= 1).
    ``weights``: ``"last"`` (final valid step only; count = B), ``"uniform"`` (w_t = 1/L on
    each valid step; count = B) or a tensor [T] or [B, T] of w_t (zeroed past each length;
    count = their sum over valid steps).

    >>> logits = torch.tensor([[[0., 5.], [5., 0.]]])    # step 0 says class 1, step 1 class 0
    >>> float(many_to_one_xent(logits, torch.tensor([0]), torch.tensor([2])).total) < 0.01
    True
    >>> r = many_to_one_xent(logits, torch.tensor([0]), torch.tensor([2]), torch.tensor([1., 0.]))
    >>> round(float(r.total), 3), float(r.count)         # the weight picks step 0, which is wrong
    (5.007, 1.0)
    """
    _check(logits, labels, lengths)
    B, T, C = logits.shape
    lengths = lengths.to(logits.device)
    if isinstance(weights, str):
        if weights not in SCHEMES:
            raise ValueError(f"weights must be one of {SCHEMES} or a tensor, got {weights!r}")
        if weights == "last":
            # Cross-entropy in fp32 even under autocast, as in time_synchronous_xent.
            nll = F.cross_entropy(last_step_logits(logits, lengths).float(), labels, reduction="none")
            return LossResult(nll.sum(), B)
        w = length_mask(lengths, T).float() / lengths[:, None].float()  # [B, T], rows sum to 1
    else:
        w = torch.as_tensor(weights, dtype=torch.float32, device=logits.device)
        if w.shape not in ((T,), (B, T)):
            raise ValueError(f"weights must be [T] or [B, T] = {(B, T)}, got {tuple(w.shape)}")
        w = w.expand(B, T) * length_mask(lengths, T)
    nll = F.cross_entropy(logits.reshape(B * T, C).float(), labels.repeat_interleave(T),
                          reduction="none").view(B, T)
    count = w.sum()
    return LossResult((nll * w).sum(), B if isinstance(weights, str) else count)
