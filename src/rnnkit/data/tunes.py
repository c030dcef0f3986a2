"""Collections of ABC tunes with their kind (jig, reel, waltz, ...): what a tune generator is conditioned on.

A collection is an ``.abc`` file or a folder of them (read in sorted order); each file holds tunes
that start at ``X:`` lines. A tune's kind is its rhythm field ``R:`` when it has one (``R:Hornpipe``
-> ``hornpipe``), else its file's name: the stem lowercased, a trailing letter range dropped
(``reelsa-c.abc`` -> ``reels``, ``jigs.abc`` -> ``jigs``); :func:`find_kind` also takes the
singular (``jig``).

A tune's meter is its first ``M:`` field. Common and cut time (``C``, ``C|``, ``4/4``, ``2/2``) are one
meter here, ``4/4``: four crotchets or two minims to the bar, the same bar and the same binary beat
(the Nottingham reels mix them); other meters compare as written (``6/8`` is not ``3/4``).

>>> kind_of("X:1\\nT:A\\nR:Hornpipe\\nK:G\\n", "hpps.abc"), kind_of("X:1\\nK:G\\n", "reelsa-c.abc")
('hornpipe', 'reels')
>>> kind_of("X:1\\nK:G\\n", "waltzes.abc"), meter_of("X:1\\nM:C|\\nK:G\\n"), meter_of("X:1\\nM: 6/8\\nK:G\\n")
('waltzes', '4/4', '6/8')
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from ..errors import RnnkitError
from .documents import END, find_documents

COMMON_TIME = {"C": "4/4", "C|": "4/4", "2/2": "4/4", "4/4": "4/4"}
OTHER_METER = "?"  # the meter class of a tune without M:, or with a meter no training tune had


@dataclass(frozen=True)
class Tune:
    text: str  # from its X: line, ending in a newline
    kind: str
    source: str  # the file it came from


def kind_of(tune: str, path: str) -> str:
    """The tune's ``R:`` field, else its file's name (see the module docstring), lowercased."""
    m = re.search(r"(?m)^R:\s*(.+?)\s*$", tune.split("\nK:", 1)[0])
    if m:
        return m.group(1).lower()
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    return re.sub(r"(?<=.)[a-z]-[a-z]$", "", stem)


def find_kind(name: str, kinds: list[str] | tuple[str, ...]) -> str | None:
    """The kind ``name`` asks for: itself, or its plural (``jig`` -> ``jigs``, ``waltz`` -> ``waltzes``).

    >>> find_kind("jig", ["jigs", "reels"]), find_kind("Reels", ["jigs", "reels"]), find_kind("polka", ["jigs"])
    ('jigs', 'reels', None)
    """
    name = name.strip().lower()
    return next((k for k in (name, name + "s", name + "es") if k in kinds), None)


def meter_of(tune: str) -> str | None:
    """The tune's first ``M:`` field, common and cut time as ``4/4``; None without one."""
    m = re.search(r"(?m)^M:\s*(\S+)", tune)
    if not m:
        return None
    return COMMON_TIME.get(m.group(1), m.group(1))


def music_of(tune: str) -> str:
    """The tune's music: its lines after the first key field (``K:``), without spaces or line breaks;
    two tunes with the same music are the same tune, whatever their titles.

    >>> music_of("X:1\\nT:A\\nM:3/4\\nK:G\\n|:GAB|c d e:|\\n"), music_of("X:1\\nT:A\\n")
    ('|:GAB|cde:|', '')
    """
    parts = re.split(r"(?m)^K:.*$", tune, maxsplit=1)
    return re.sub(r"\s+", "", parts[1]) if len(parts) == 2 else ""


def read_tunes(path: str) -> list[Tune]:
    """Every tune of an ``.abc`` file or of the ``.abc`` files in a folder, with its kind."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".abc"))
        if not files:
            raise RnnkitError(f"no .abc files in {path}")
    elif os.path.isfile(path):
        files = [path]
    else:
        raise RnnkitError(f"tune collection not found: {path}")
    tunes = []
    for file in files:
        try:
            with open(file, encoding="utf-8", errors="strict") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise RnnkitError(f"{file}: cannot read it as UTF-8 text ({exc})") from None
        if END in text:
            raise RnnkitError(f"{file} holds the character U+0004, which marks the end of a tune here")
        try:
            docs, _ = find_documents(text, "^X:")
        except RnnkitError:
            raise RnnkitError(f"{file}: no tune in it (a tune starts at an X: line)") from None
        tunes += [Tune(doc, kind_of(doc, file), file) for doc in docs]
    return tunes


def kind_meters(tunes: list[Tune], share: float = 0.1) -> dict[str, list[str]]:
    """Each kind's meters as the data defines them: those of at least ``share`` of its tunes."""
    by_kind: dict[str, Counter] = {}
    for t in tunes:
        by_kind.setdefault(t.kind, Counter())[meter_of(t.text)] += 1
    return {kind: sorted(m for m, n in counts.items() if m is not None and n >= share * sum(counts.values()))
            for kind, counts in sorted(by_kind.items())}


def meter_classes(tunes: Sequence[Tune]) -> list[str]:
    """The meters of ``tunes`` (:func:`meter_of`), after :data:`OTHER_METER` (no ``M:``, or
    one the training tunes never had).

    >>> meter_classes([Tune("X:1\\nM:C|\\nK:G\\n", "reels", ""), Tune("X:2\\nM:3/4\\nK:G\\n", "waltzes", "")])
    ['?', '3/4', '4/4']
    """
    return [OTHER_METER, *sorted({m for t in tunes if (m := meter_of(t.text)) is not None})]


def meter_counts(tunes: Sequence[Tune]) -> dict[str, dict[str, int]]:
    """Each kind's training tunes by meter (what generation draws a kind's meter from)."""
    out: dict[str, dict[str, int]] = {}
    for t in tunes:
        m = meter_of(t.text)
        if m is not None:
            counts = out.setdefault(t.kind, {})
            counts[m] = counts.get(m, 0) + 1
    return out
