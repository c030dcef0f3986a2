"""Spoken-digit recordings named ``{digit}_{speaker}_{index}.wav`` (the Free Spoken Digit Dataset's
scheme), found anywhere under a folder, and their splits.

Splits, by the index in the name:

* official: index 0-4 **test** (the dataset's own split), 5-9 **dev** (held out of its training
  part to choose the checkpoint), 10 and up **train**; every speaker is in every split;
* leave one speaker out (``test_speaker``): all of that speaker's recordings are **test**; of the
  other speakers', index 0-4 **dev** and 5 and up **train**: the figure for a voice never heard.

>>> recs = [Recording("a", 3, "ann", 2), Recording("b", 3, "ann", 7), Recording("c", 1, "bob", 30)]
>>> {k: [r.path for r in v] for k, v in split_recordings(recs).items()}
{'train': ['c'], 'dev': ['b'], 'test': ['a']}
>>> {k: [r.path for r in v] for k, v in split_recordings(recs, test_speaker="ann").items()}
{'train': ['c'], 'dev': [], 'test': ['a', 'b']}
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Sequence

from ..errors import RnnkitError

NAME = re.compile(r"^(\d+)_([^_]+)_(\d+)\.wav$", re.IGNORECASE)


@dataclass(frozen=True)
class Recording:
    path: str
    digit: int
    speaker: str
    index: int


def parse_name(path: str) -> Recording:
    """The digit, speaker and index in a file name; a name off the scheme or a digit outside 0-9 is an error."""
    m = NAME.match(os.path.basename(path))
    if not m:
        raise RnnkitError(f"{path}: expected a name like 7_speaker_12.wav ({{digit}}_{{speaker}}_{{index}}.wav)")
    digit = int(m.group(1))
    if not 0 <= digit <= 9:
        raise RnnkitError(f"{path}: label {m.group(1)} is not a digit 0-9")
    return Recording(path, digit, m.group(2), int(m.group(3)))


def find_recordings(folder: str) -> list[Recording]:
    """Every ``*.wav`` under ``folder`` (sorted by path), parsed; a folder with none is an error."""
    if not os.path.isdir(folder):
        raise RnnkitError(f"{folder}: not a folder (give the dataset folder, e.g. ../shared/data/fsdd)")
    paths = sorted(os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
                   if f.lower().endswith(".wav"))
    if not paths:
        raise RnnkitError(f"{folder}: no .wav files under it")
    return [parse_name(p) for p in paths]


def split_recordings(recs: Sequence[Recording], test_speaker: str | None = None) -> dict[str, list[Recording]]:
    """train / dev / test recordings (see the module docstring)."""
    if test_speaker is not None:
        if not any(r.speaker == test_speaker for r in recs):
            speakers = ", ".join(sorted({r.speaker for r in recs}))
            raise RnnkitError(f"no recordings of speaker {test_speaker!r} (speakers: {speakers})")
        others = [r for r in recs if r.speaker != test_speaker]
        return {"train": [r for r in others if r.index >= 5], "dev": [r for r in others if r.index < 5],
                "test": [r for r in recs if r.speaker == test_speaker]}
    return {"train": [r for r in recs if r.index >= 10], "dev": [r for r in recs if 5 <= r.index < 10],
            "test": [r for r in recs if r.index < 5]}
