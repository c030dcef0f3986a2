"""Aligned order-synchronous divergence: the output order is known and so is the alignment.

A transcript ``/B/ /IY/ /F/`` aligned to 8 frames as segments ending at frames 2, 5 and 7
(durations 3, 3, 2) gives frame targets in one of two schemes::

    frame:              0    1    2    3    4    5    6    7
    scheme "last":      .    .    B    .    .    IY   .    F     (. = ignored)
    scheme "repeat":    B    B    B    IY   IY   IY   F    F

"last" scores each symbol once, at the frame where it ends (the output is read there);
"repeat" scores every frame with the symbol being spoken. Either way the divergence is the
time-synchronous cross-entropy over the labelled frames, so ``count`` is the number of scored
frames (symbols for "last", frames for "repeat").

>>> frame_targets([1, 2, 3], ends=[2, 5, 7], scheme="last").tolist()
[-100, -100, 1, -100, -100, 2, -100, 3]
>>> frame_targets([1, 2, 3], durations=[3, 3, 2], scheme="repeat").tolist()
[1, 1, 1, 2, 2, 2, 3, 3]
"""
from __future__ import annotations

from typing import Sequence

import torch

from .base import LossResult
from .timesync import time_synchronous_xent

SCHEMES = ("last", "repeat")


def ends_from_durations(durations: Sequence[int]) -> list[int]:
    """Segment end frames (inclusive) of consecutive segments with these frame counts.

    >>> ends_from_durations([3, 3, 2])
    [2, 5, 7]
    """
    ends, t = [], -1
    for d in durations:
        if int(d) < 1:
            raise ValueError(f"durations must be positive, got {int(d)}")
        t += int(d)
        ends.append(t)
    return ends


def _resolve_ends(num_symbols: int, ends: Sequence[int] | None, durations: Sequence[int] | None) -> list[int]:
    if (ends is None) == (durations is None):
        raise ValueError("give exactly one of ends and durations")
    ends = ends_from_durations(durations) if durations is not None else [int(e) for e in ends]
    if len(ends) != num_symbols:
        raise ValueError(f"{num_symbols} symbols but {len(ends)} segments")
    if any(b <= a for a, b in zip(ends, ends[1:])) or (ends and ends[0] < 0):
        raise ValueError(f"segment end frames must be non-negative and increasing, got {ends}")
    return ends


def frame_targets(symbols: Sequence[int], *, ends: Sequence[int] | None = None,
                  durations: Sequence[int] | None = None, scheme: str = "last",
                  num_frames: int | None = None, ignore_index: int = -100) -> torch.Tensor:
    """Frame-level targets [T] for one aligned sequence.

    symbols: U symbol ids in output order. Give the alignment as ``ends`` (U inclusive end
    frames, increasing; segment u spans ``ends[u-1]+1 .. ends[u]``) or ``durations`` (U
    positive frame counts). ``num_frames`` (default: the last end + 1) may add trailing frames,
    which are ``ignore_index`` in both schemes (they belong to no symbol).

    >>> frame_targets([4, 4], durations=[1, 2], scheme="repeat", num_frames=4).tolist()
    [4, 4, 4, -100]
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    ends = _resolve_ends(len(symbols), ends, durations)
    needed = ends[-1] + 1 if ends else 0
    T = needed if num_frames is None else int(num_frames)
    if T < needed:
        raise ValueError(f"the alignment needs {needed} frames, got num_frames={T}")
    out = torch.full((T,), ignore_index, dtype=torch.long)
    if not ends:
        return out
    sym = torch.as_tensor(list(symbols), dtype=torch.long)
    end = torch.as_tensor(ends, dtype=torch.long)
    if scheme == "last":
        out[end] = sym
    else:
        durations_ = torch.diff(end, prepend=torch.tensor([-1]))
        out[:needed] = sym.repeat_interleave(durations_)
    return out


def batch_frame_targets(symbols: Sequence[Sequence[int]], *, ends: Sequence[Sequence[int]] | None = None,
                        durations: Sequence[Sequence[int]] | None = None, scheme: str = "last",
                        num_frames: Sequence[int] | None = None,
                        ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded frame targets [B, T] and frame counts [B] for a batch of aligned sequences.

    Each row is :func:`frame_targets` of one sequence; ``num_frames`` [B] gives each sequence's
    frame count (default: its last end + 1). Padding is ``ignore_index``.

    >>> y, n = batch_frame_targets([[1], [2, 3]], durations=[[2], [1, 1]], scheme="repeat")
    >>> y.tolist(), n.tolist()
    ([[1, 1], [2, 3]], [2, 2])
    """
    B = len(symbols)
    for name, value in (("ends", ends), ("durations", durations), ("num_frames", num_frames)):
        if value is not None and len(value) != B:
            raise ValueError(f"{B} sequences but {len(value)} {name}")
    rows = [frame_targets(symbols[b], ends=None if ends is None else ends[b],
                          durations=None if durations is None else durations[b], scheme=scheme,
                          num_frames=None if num_frames is None else num_frames[b],
                          ignore_index=ignore_index) for b in range(B)]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    T = int(lengths.max()) if B else 0
    out = torch.full((B, T), ignore_index, dtype=torch.long)
    for b, r in enumerate(rows):
        out[b, :len(r)] = r
    return out, lengths


def aligned_xent(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None,
                 ignore_index: int = -100) -> LossResult:
    """Cross-entropy over the labelled frames of aligned targets (from :func:`frame_targets`).

    logits [B, T, C]; targets [B, T] with ``ignore_index`` on unscored frames; lengths [B].
    ``count`` is the number of scored frames.

    >>> y, n = batch_frame_targets([[1, 2]], ends=[[1, 3]], scheme="last")
    >>> r = aligned_xent(torch.zeros(1, 4, 3), y, n)
    >>> int(r.count), round(float(r.mean), 4)           # two symbols, each log 3
    (2, 1.0986)
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be [B, T, C], got shape {tuple(logits.shape)}")
    return time_synchronous_xent(logits, targets, lengths, ignore_index=ignore_index)
