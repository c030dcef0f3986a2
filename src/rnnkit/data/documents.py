"""Corpora made of documents (tunes, programs, letters): split by document, each one ended by a mark.

A text becomes documents where a line matches a pattern (``^X:`` for ABC tunes). The documents
are shuffled with a seed and dealt into train, validation and test parts, so a model is chosen
and judged on whole documents it never saw rather than on the tail of the text. Each document
is written followed by :data:`END` (ASCII end of transmission), one symbol of the vocabulary:
a language model learns where documents end, so a sampler can stop there, and a prime that
starts a document is read after an ``END``, as in training.

>>> parts = split_documents("X:1\\nA\\nX:2\\nB\\nX:3\\nC\\nX:4\\nD\\n", "^X:", 0.25, 0.25, seed=0)
>>> [len(parts[k]) for k in ("train", "valid", "test")], parts["dropped_chars"]
([2, 1, 1], 0)
>>> join_documents(["X:1\\nA\\n", "X:2\\nB\\n"]) == "X:1\\nA\\n" + END + "X:2\\nB\\n" + END
True
"""
from __future__ import annotations

import random
import re
from typing import Any

from ..errors import RnnkitError

END = "\x04"  # written after every document


def find_documents(text: str, pattern: str) -> tuple[list[str], int]:
    """The documents of ``text`` (each from a line matching ``pattern`` to the next such line,
    surrounding blank lines stripped, ending in one newline) and the characters before the first."""
    try:
        start = re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise RnnkitError(f"--documents {pattern!r} is not a regular expression: {exc}") from None
    starts = [m.start() for m in start.finditer(text) if m.start() == 0 or text[m.start() - 1] == "\n"]
    if not starts:
        raise RnnkitError(f"no line of the corpus matches --documents {pattern!r}")
    docs = [text[a:b].strip("\n") + "\n" for a, b in zip(starts, starts[1:] + [len(text)])]
    if any(END in d for d in docs):
        raise RnnkitError("the corpus holds the character U+0004, which marks the end of a document here")
    return docs, len(text[:starts[0]].strip())


def split_documents(text: str, pattern: str, valid_fraction: float, test_fraction: float,
                    seed: int = 0) -> dict[str, Any]:
    """``{"train", "valid", "test"}`` lists of documents (a seeded shuffle, dealt in that order;
    at least one each for validation and test when their fraction is above 0) and ``dropped_chars``."""
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise RnnkitError(f"valid and test fractions must be >= 0 and sum below 1, got {valid_fraction} and {test_fraction}")
    docs, dropped = find_documents(text, pattern)
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_valid = max(1, round(valid_fraction * len(docs))) if valid_fraction > 0 else 0
    n_test = max(1, round(test_fraction * len(docs))) if test_fraction > 0 else 0
    if n_valid + n_test >= len(docs):
        raise RnnkitError(f"{len(docs)} documents are too few to hold out {n_valid} for validation and {n_test} for test")
    picked = [docs[i] for i in order]
    return {"valid": picked[:n_valid], "test": picked[n_valid:n_valid + n_test], "train": picked[n_valid + n_test:],
            "dropped_chars": dropped}


def join_documents(docs: list[str]) -> str:
    """The documents as one text, each followed by :data:`END`."""
    return "".join(d + END for d in docs)
