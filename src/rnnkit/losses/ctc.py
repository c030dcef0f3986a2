"""Connectionist temporal classification: order-synchronous divergence with unknown alignment.

``-log P(targets | x) = -log sum over alignments a that collapse to the targets of prod_t Y(t, a_t)``,
where collapsing merges adjacent repeats and then drops the blank. The blank is a property of
the vocabulary (``Vocabulary.blank``); :func:`blank_id` reads it.

Feasibility: an alignment needs one frame per target plus one blank between each pair of
equal adjacent targets ("1 1" cannot be told from "1" without a blank between), so an
utterance is feasible only when ``T >= U + number of adjacent repeats``. Infeasible pairs have
probability 0 (infinite loss). They are found before the loss, logged as a warning, excluded
from ``total`` and ``count``, and reported in ``CTCLossResult.infeasible``; they are never
silently zeroed into the average.

Reduction: ``total`` is the sum of ``-log P`` over feasible utterances; ``count`` is the number
of feasible utterances (default), or their frames or targets (``count_by``).

>>> import torch
>>> logits = torch.zeros(2, 2, 3)                          # uniform over blank=0, 1, 2
>>> r = ctc_loss(logits, torch.tensor([[1, 1], [1, 2]]), torch.tensor([2, 2]),
...              torch.tensor([2, 2]), blank=0)
>>> r.infeasible, r.num_infeasible, int(r.count)            # "1 1" needs 3 frames
((0,), 1, 1)
>>> round(float(r.total), 4)                                # only path "1 2": -log (1/3)^2
2.1972
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from .base import LossResult

log = logging.getLogger(__name__)

COUNT_BY = ("utterances", "frames", "targets")


@dataclass(frozen=True)
class CTCLossResult(LossResult):
    """A LossResult over the feasible utterances, plus which batch rows were left out.

    ``infeasible``: batch indices whose targets cannot fit in their frames (excluded).
    """

    infeasible: tuple[int, ...] = ()

    @property
    def num_infeasible(self) -> int:
        """How many utterances were excluded as infeasible."""
        return len(self.infeasible)


def blank_id(vocab: Vocabulary) -> int:
    """The id of the vocabulary's CTC blank; RnnkitError if it has none.

    >>> blank_id(Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_", kind="char"))
    0
    >>> blank_id(Vocabulary(tokens=("a", "b"), unk=None))
    Traceback (most recent call last):
    ...
    rnnkit.errors.RnnkitError: the vocabulary has no blank symbol, which CTC needs
    """
    if vocab.blank is None:
        raise RnnkitError("the vocabulary has no blank symbol, which CTC needs")
    return vocab.index(vocab.blank)


def ctc_min_frames(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Fewest frames each target sequence needs: U + number of adjacent repeats. [B, U], [B] -> [B].

    >>> ctc_min_frames(torch.tensor([[1, 1, 2], [3, 3, 0]]), torch.tensor([3, 1])).tolist()
    [4, 1]
    """
    B, U = targets.shape
    valid = torch.arange(U, device=targets.device)[None, :] < target_lengths[:, None]  # [B, U]
    repeats = (targets[:, 1:] == targets[:, :-1]) & valid[:, 1:]                       # [B, U-1]
    return target_lengths + repeats.sum(1)


def _check(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor,
           target_lengths: torch.Tensor, blank: int) -> None:
    if logits.dim() != 3:
        raise ValueError(f"logits must be [B, T, C], got shape {tuple(logits.shape)}")
    B, T, C = logits.shape
    if targets.dim() != 2 or targets.shape[0] != B:
        raise ValueError(f"targets must be [B, U] with B = {B}, got {tuple(targets.shape)}")
    for name, value in (("lengths", lengths), ("target_lengths", target_lengths)):
        if value.shape != (B,):
            raise ValueError(f"{name} must be [B] = {(B,)}, got {tuple(value.shape)}")
        if B and int(value.min()) < 0:
            raise ValueError(f"{name} must be non-negative, got {int(value.min())}")
    if B and int(lengths.max()) > T:
        raise ValueError(f"a length ({int(lengths.max())}) exceeds the {T} steps of the tensor")
    if B and int(target_lengths.max()) > targets.shape[1]:
        raise ValueError(f"a target length ({int(target_lengths.max())}) exceeds the "
                         f"{targets.shape[1]} columns of targets")
    if not 0 <= blank < C:
        raise ValueError(f"blank id {blank} is outside the vocabulary of {C} symbols")
    valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < target_lengths[:, None]
    used = targets[valid]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= C):
        raise ValueError(f"target ids must lie in [0, {C}), got {int(used.min())}..{int(used.max())}")
    if bool((used == blank).any()):
        raise ValueError(f"targets contain the blank id {blank}")


def ctc_loss(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor,
             target_lengths: torch.Tensor, *, blank: int, count_by: str = "utterances") -> CTCLossResult:
    """CTC divergence of padded targets against a [B, T, C] output sequence.

    logits [B, T, C] (log-softmax is applied in fp32; log-probabilities pass unchanged);
    targets [B, U] padded label ids (no blanks); lengths [B] valid frames; target_lengths [B].
    ``count_by``: "utterances", "frames" or "targets" of the feasible utterances.
    Uses ``torch.nn.functional.ctc_loss`` (``zero_infinity=False``: infeasible rows never
    reach it).

    >>> logits = torch.zeros(1, 3, 2)                       # blank=0 and "1", each 1/2
    >>> r = ctc_loss(logits, torch.tensor([[1]]), torch.tensor([3]), torch.tensor([1]), blank=0)
    >>> float((-r.total).exp())                              # 6 of the 8 paths give "1"
    0.75
    """
    if count_by not in COUNT_BY:
        raise ValueError(f"count_by must be one of {COUNT_BY}, got {count_by!r}")
    targets = targets.to(logits.device).long()
    lengths = lengths.to(logits.device).long()
    target_lengths = target_lengths.to(logits.device).long()
    _check(logits, targets, lengths, target_lengths, blank)
    feasible = ctc_min_frames(targets, target_lengths) <= lengths          # [B]
    infeasible = tuple(int(i) for i in torch.nonzero(~feasible).flatten())
    if infeasible:
        log.warning("CTC: %d of %d utterances have fewer frames than their targets need "
                    "and are left out of the loss (batch rows %s)", len(infeasible), len(feasible),
                    list(infeasible))
    keep = torch.nonzero(feasible).flatten()
    if keep.numel() == 0:
        # Nothing to learn from; a zero that still depends on the logits keeps backward() valid.
        return CTCLossResult(logits.sum() * 0.0, 0, infeasible)
    if targets.shape[1] == 0:
        targets = targets.new_zeros(targets.shape[0], 1)   # ctc_loss wants a column; none is read
    # Log-softmax in fp32: bf16/fp16 lose the small differences the forward sums are made of.
    log_probs = F.log_softmax(logits[keep].float(), dim=-1).transpose(0, 1)  # [T, B', C]
    nll = F.ctc_loss(log_probs, targets[keep], lengths[keep], target_lengths[keep], blank=blank,
                     reduction="none", zero_infinity=False)                 # [B']
    if count_by == "utterances":
        count = int(keep.numel())
    elif count_by == "frames":
        count = int(lengths[keep].sum())
    else:
        count = int(target_lengths[keep].sum())
    return CTCLossResult(nll.sum(), count, infeasible)
