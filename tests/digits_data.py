"""Synthetic "spoken digits" written for rnnkit's tests (no recordings copied): each digit is two
tones in a fixed order, so only a net that remembers the first half can name it at the end."""
from __future__ import annotations

import numpy as np
import soundfile

RATE = 8000
TONES = {0: (500, 1500), 1: (1500, 500), 2: (700, 700), 3: (2500, 1000)}


def digit_signal(digit: int, speaker: int, index: int, seconds: float = 0.24) -> np.ndarray:
    """Float samples of one utterance: tone a then tone b, shifted per speaker, with a little noise."""
    rng = np.random.default_rng(1000 * digit + 100 * speaker + index)
    a, b = (f * (1 + 0.08 * speaker) for f in TONES[digit])
    n = int(seconds * RATE * rng.uniform(0.8, 1.2))
    t = np.arange(n) / RATE
    x = np.where(t < t[-1] / 2, np.sin(2 * np.pi * a * t), np.sin(2 * np.pi * b * t))
    return (0.4 * x + 0.01 * rng.standard_normal(n)).astype(np.float32)


def write_digits(folder, speakers: int = 2, indices: int = 15) -> str:
    """``{digit}_spk{s}_{index}.wav`` for every digit in TONES; index 0-4 test, 5-9 dev, 10+ train."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in TONES:
        for s in range(speakers):
            for i in range(indices):
                soundfile.write(folder / f"{d}_spk{s}_{i}.wav", digit_signal(d, s, i), RATE, subtype="PCM_16")
    return str(folder)
