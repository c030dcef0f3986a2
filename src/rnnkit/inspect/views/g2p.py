"""Pronounce: a g2p run's n-best pronunciations of the words typed, with their probabilities."""
from __future__ import annotations

from typing import Any

from ...errors import RnnkitError
from . import Field, View, number, table, text

MAX_WORDS = 500


def answer(run: Any, form: dict[str, str]) -> list[dict[str, Any]]:
    words = text(form, "words").split()
    if len(words) > MAX_WORDS:
        raise RnnkitError(f"this page pronounces at most {MAX_WORDS} words at once")
    nbest = number(form, "nbest", 3, 1, 20, integer=True)
    rows = [[word, k + 1, " ".join(p.phonemes), f"{p.probability:.3f}"]
            for word, prons in zip(words, run.predictor.pronunciations(words, nbest=nbest, beam=max(5, nbest)))
            for k, p in enumerate(prons)]
    return [table(["word", "rank", "phonemes", "probability"], rows)]


VIEW = View(name="pronounce", title="Pronounce", tasks=("g2p",), answer=answer, button="Pronounce",
            fields=lambda run: [Field("words", "Words (separated by spaces)", "text", "rnnkit recurrent read"),
                                Field("nbest", "Pronunciations per word", "number", 3)])
