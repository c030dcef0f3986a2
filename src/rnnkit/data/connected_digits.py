"""Connected-digit utterances built from single-digit recordings, with every digit's exact span.

An utterance joins 1-7 recordings (digits drawn uniformly, so repeats such as "3 3 7" occur)
with a pause before, between and after them of ``pause`` seconds (uniform in 0.05-0.25 s), and
optionally white noise at ``snr_db`` below the utterance's speech power. The recordings are
used as given (trim them first: :func:`rnnkit.data.audio.trim_silence`). Each digit's span is
its first and last sample in the utterance, so frame targets follow exactly; build test
utterances only from test recordings. Seeded: the same arguments give the same utterances.

>>> recs = [(np.ones(100, np.float32), 3), (2 * np.ones(50, np.float32), 7)]
>>> [u] = build_utterances(recs, 1, seed=1, rate=1000, digits=(3, 3))
>>> u.digits, [(s.start, s.end) for s in u.spans], len(u.samples)
([3, 7, 7], [(78, 178), (417, 467), (579, 629)], 763)
>>> bool((u.samples[417:467] == 2).all() and not u.samples[178:417].any())    # a 7, after a pause
True
>>> frame_digits(u, hop=100, frame=100).tolist()   # the digit whose span holds each frame's centre
[-1, 3, -1, -1, 7, -1, 7]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import RnnkitError


@dataclass(frozen=True)
class Span:
    """Samples [start, end) of one digit in its utterance."""

    digit: int
    start: int
    end: int

    def frames(self, hop: int, frame: int) -> tuple[int, int]:
        """Frames [first, last) whose centre lies in the span (frame t covers t*hop .. t*hop+frame)."""
        first = max(int(np.ceil((self.start - frame / 2) / hop)), 0)
        last = int(np.ceil((self.end - frame / 2) / hop))
        return first, max(last, first + 1)  # a digit shorter than a hop still gets its frame


@dataclass(frozen=True)
class Utterance:
    samples: np.ndarray
    spans: tuple[Span, ...]

    @property
    def digits(self) -> list[int]:
        return [s.digit for s in self.spans]


def frame_digits(utt: Utterance, hop: int, frame: int, num_frames: int | None = None) -> np.ndarray:
    """[T]: each frame's digit (frame t covers samples t*hop .. t*hop+frame), -1 in the pauses.

    T defaults to the frames that fit in the utterance; a digit keeps at least one frame.
    """
    T = num_frames if num_frames is not None else max((len(utt.samples) - frame) // hop + 1, 0)
    out = np.full(T, -1, dtype=np.int64)
    for span in utt.spans:
        first, last = span.frames(hop, frame)
        out[min(first, T):min(last, T)] = span.digit
    return out


def build_utterances(recordings: Sequence[tuple[np.ndarray, int]], count: int, seed: int, rate: int = 8000,
                     digits: tuple[int, int] = (1, 7), pause: tuple[float, float] = (0.05, 0.25),
                     snr_db: float | None = None) -> list[Utterance]:
    """``count`` utterances of ``digits`` (min, max) recordings each (see the module docstring)."""
    if not recordings:
        raise RnnkitError("no recordings to build connected-digit utterances from")
    if not 1 <= digits[0] <= digits[1]:
        raise RnnkitError(f"digits per utterance must be 1 <= min <= max, got {digits}")
    rng = np.random.default_rng(seed)
    return [_utterance(recordings, rng, rate, digits, pause, snr_db) for _ in range(count)]


def _utterance(recordings, rng, rate, digits, pause, snr_db) -> Utterance:
    n = int(rng.integers(digits[0], digits[1] + 1))
    picks = rng.integers(0, len(recordings), n)
    gaps = [np.zeros(int(rng.uniform(*pause) * rate), np.float32) for _ in range(n + 1)]
    pieces, spans, at = [gaps[0]], [], len(gaps[0])
    for k, i in enumerate(picks):
        samples, digit = recordings[int(i)]
        spans.append(Span(int(digit), at, at + len(samples)))
        pieces += [np.asarray(samples, np.float32), gaps[k + 1]]
        at += len(samples) + len(gaps[k + 1])
    x = np.concatenate(pieces)
    if snr_db is not None:
        speech = np.concatenate([x[s.start:s.end] for s in spans])
        power = float(np.mean(np.square(speech, dtype=np.float64))) / 10 ** (snr_db / 10)
        x = (x + rng.standard_normal(len(x)) * np.sqrt(power)).astype(np.float32)
    return Utterance(x, tuple(spans))
