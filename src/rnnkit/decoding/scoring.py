"""Scoring decoded sequences: edit distance and error rates (word, digit, phoneme error rate).

The error rate of a set of utterances is the total edit distance (substitutions, deletions and
insertions, each costing 1) divided by the total reference length, so long references weigh
more than short ones, as in the usual WER/PER.

>>> edit_distance([3, 3, 7], [3, 7]), edit_distance("kitten", "sitting")
(1, 3)
>>> error_rate([[1, 2], [3]], [[1, 2], [4, 4]])      # 0 + 2 errors over 3 reference symbols
0.6666666666666666
"""
from __future__ import annotations

from typing import Sequence


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Fewest substitutions, deletions and insertions that turn ``ref`` into ``hyp``."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1]


def error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """Total edit distance over total reference length (0 for no reference symbols and no output)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    length = sum(len(r) for r in refs)
    return errors / length if length else float(errors > 0)
