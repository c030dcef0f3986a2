"""Greedy decoding: the most probable symbol at every frame, then (optionally) collapsing.

* ``collapse="none"``: per-step argmax, one token per frame (taggers, time-synchronous output);
* ``collapse="repeats"``: adjacent repeats merged (aligned order-synchronous output, where a
  symbol is repeated over its duration);
* ``collapse="ctc"``: adjacent repeats merged, then the blank dropped.

Merging alone cannot output the same symbol twice in a row: "1 1 1 1" merges to "1", never
to "1 1". CTC's blank separates the two: "1 _ 1" collapses to "1 1".

>>> merge_repeats([1, 1, 1, 1]), ctc_collapse([1, 0, 1], blank=0)
([1], [1, 1])
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .hypothesis import Hypothesis, check_inputs

COLLAPSE = ("none", "repeats", "ctc")


def run_starts(tokens: Sequence[int], drop: int | None = None) -> list[int]:
    """Positions of the first element of each run of equal tokens, skipping runs of ``drop``.

    >>> run_starts([5, 5, 0, 0, 5, 7, 7], drop=0)
    [0, 4, 5]
    """
    out, prev = [], None
    for i, token in enumerate(tokens):
        if token != prev and token != drop:
            out.append(i)
        prev = token
    return out


def merge_repeats(tokens: Sequence[int]) -> list[int]:
    """Adjacent repeats merged into one.

    >>> merge_repeats([2, 2, 3, 3, 3, 2])
    [2, 3, 2]
    """
    return [tokens[i] for i in run_starts(tokens)]


def ctc_collapse(tokens: Sequence[int], blank: int) -> list[int]:
    """CTC's many-to-one map: merge adjacent repeats, then drop the blank.

    >>> ctc_collapse([0, 1, 1, 0, 0, 1, 2, 2, 0], blank=0)
    [1, 1, 2]
    """
    return [tokens[i] for i in run_starts(tokens, drop=blank)]


def greedy_decode(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                  *, collapse: str = "none", blank: int | None = None) -> list[list[Hypothesis]]:
    """Best path decoding of a [B, T, C] batch: argmax per frame, then ``collapse``.

    Returns one single-hypothesis list per utterance (the same shape as the n-best lists of the
    beam searches). ``score`` and ``acoustic_score`` are the best path's log-probability;
    ``timesteps`` are the first frame of each kept run. ``blank`` is needed for ``"ctc"``.

    >>> lp = np.log([[[0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.9, 0.1]]])   # [1, 4, 2]
    >>> [h] = greedy_decode(lp, collapse="ctc", blank=0)[0]
    >>> h.tokens, h.timesteps, round(h.score, 4)
    ((1,), (1,), -1.196)
    >>> greedy_decode(lp)[0][0].tokens
    (0, 1, 1, 0)
    """
    if collapse not in COLLAPSE:
        raise ValueError(f"collapse must be one of {COLLAPSE}, got {collapse!r}")
    if collapse == "ctc" and blank is None:
        raise ValueError("CTC collapsing needs the blank id")
    log_probs, lengths = check_inputs(log_probs, lengths, blank)
    best = log_probs.argmax(-1)                                        # [B, T]
    path_scores = np.take_along_axis(log_probs, best[..., None], -1)[..., 0].astype(np.float64)  # [B, T]
    out = []
    for b, n in enumerate(lengths.tolist()):
        path = best[b, :n]
        if collapse == "none":
            keep = np.arange(n)
        else:
            # A run starts where the symbol changes; CTC also drops the blank's runs.
            start = np.ones(n, dtype=bool)
            start[1:] = path[1:] != path[:-1]
            if collapse == "ctc":
                start &= path != blank
            keep = np.flatnonzero(start)
        score = float(path_scores[b, :n].sum())
        out.append([Hypothesis(tokens=tuple(path[keep].tolist()), score=score,
                               timesteps=tuple(keep.tolist()), acoustic_score=score)])
    return out
