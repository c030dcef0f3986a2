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


def closest_reference(refs: Sequence[Sequence], hyp: Sequence) -> tuple[int, int]:
    """(edit distance from ``hyp`` to the closest of ``refs``, that reference's length); of equally
    close references, the longest (the lowest error rate).

    >>> closest_reference([["R", "IY", "D"], ["R", "EH", "D"]], ["R", "EH", "D"])
    (0, 3)
    """
    if not refs:
        raise ValueError("no reference")
    distances = [(edit_distance(r, hyp), len(r)) for r in refs]
    best = min(d for d, _ in distances)
    return best, max(n for d, n in distances if d == best)


def alternatives_error_rates(refs: Sequence[Sequence[Sequence]], hyps: Sequence[Sequence]) -> dict[str, float]:
    """Scores when each item has several correct answers (a word's pronunciations), as in the G2P
    literature: an item is right if it equals any of its references (``sequence_error_rate``, the
    word error rate of G2P); ``symbol_error_rate`` is the edit distance to the closest reference
    over that reference's length, summed over items (the phoneme error rate).

    >>> alternatives_error_rates([[["a", "b"], ["a", "c"]], [["d"]]], [["a", "c"], ["e", "d"]])
    {'sequence_error_rate': 0.5, 'symbol_error_rate': 0.3333333333333333, 'items': 2}
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} reference sets but {len(hyps)} hypotheses")
    wrong = errors = length = 0
    for alternatives, hyp in zip(refs, hyps):
        distance, n = closest_reference(alternatives, hyp)
        wrong, errors, length = wrong + (distance > 0), errors + distance, length + n
    return {"sequence_error_rate": wrong / max(len(refs), 1), "symbol_error_rate": errors / max(length, 1),
            "items": len(refs)}
