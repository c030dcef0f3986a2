"""Reading speech recordings: any format libsndfile reads (WAV, FLAC, OGG, ...), as float32 mono at
the rate the model wants, with the silence around the speech trimmed.

* Samples of any subtype (16-bit, 24-bit, float) become float32 in [-1, 1]; several channels are
  averaged (mono mixdown); another sample rate is resampled (band-limited, by the FFT).
* Silence trimming by energy: the recording is cut into 25 ms frames every 10 ms; frames whose
  RMS level is within ``top_db`` (40 dB) of the loudest frame are speech; everything before the
  first and after the last speech frame is dropped, but for ``margin`` (50 ms) either side.
  A recording whose loudest frame is below -70 dBFS holds no speech and is an error.

The same trimming runs in training and at inference, so a user's recording with a second of
silence around the word is read as the trimmed training recordings were.

>>> import numpy as np
>>> rate = 8000
>>> t = np.arange(rate) / rate
>>> x = np.concatenate([np.zeros(4000), 0.5 * np.sin(2 * np.pi * 440 * t[:2000]), np.zeros(4000)])
>>> y = trim_silence(x.astype(np.float32), rate)
>>> round(len(y) / rate, 3)   # 0.25 s of tone, the frames that touch it (35 ms), 50 ms either side
0.385
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import RnnkitError

SILENCE_DBFS = -70.0


def read_audio(path: str | bytes, rate: int, name: str | None = None) -> np.ndarray:
    """The samples of ``path`` (or of a file's bytes, called ``name`` in errors) as float32 mono
    at ``rate`` Hz; bad files raise RnnkitError."""
    import io

    import soundfile

    if isinstance(path, bytes):
        source, path = io.BytesIO(path), name or "the recording"
    elif not os.path.isfile(path):
        raise RnnkitError(f"{path}: no such file")
    else:
        source = path
    try:
        samples, file_rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:  # not audio, truncated header, ...
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        raise RnnkitError(f"{path}: not a readable audio file ({reason})") from None
    if samples.shape[0] == 0:
        raise RnnkitError(f"{path}: the recording is empty")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return resample(mono, file_rate, rate) if file_rate != rate else np.ascontiguousarray(mono)


def resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``x`` at ``new_rate``: its spectrum below both Nyquist frequencies, by FFT (band-limited).

    >>> t = np.arange(1600) / 16000
    >>> y = resample(np.sin(2 * np.pi * 1000 * t), 16000, 8000)     # 1 kHz at 16 kHz -> 8 kHz
    >>> bool(np.abs(y - np.sin(2 * np.pi * 1000 * np.arange(800) / 8000)).max() < 1e-6)   # float32 rounding
    True
    """
    n = len(x)
    m = max(int(round(n * new_rate / rate)), 1)
    spectrum = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spectrum), m // 2 + 1)
    out = np.zeros(m // 2 + 1, dtype=np.complex128)
    out[:keep] = spectrum[:keep]
    if m % 2 == 0 and keep == m // 2 + 1 and n > m:  # the new Nyquist bin holds both halves' share
        out[-1] = out[-1].real
    return (np.fft.irfft(out, m) * (m / n)).astype(np.float32)


def frame_levels(x: np.ndarray, rate: int, frame_ms: float = 25.0, hop_ms: float = 10.0) -> np.ndarray:
    """RMS level in dBFS of each 25 ms frame every 10 ms (a final partial frame counts)."""
    frame, hop = int(rate * frame_ms / 1000), int(rate * hop_ms / 1000)
    starts = np.arange(0, max(len(x) - frame, 0) + 1, hop)
    if starts[-1] + frame < len(x):
        starts = np.append(starts, starts[-1] + hop)
    rms = np.array([np.sqrt(np.mean(np.square(x[s:s + frame], dtype=np.float64))) for s in starts])
    return 20 * np.log10(np.maximum(rms, 1e-10))


def speech_bounds(x: np.ndarray, rate: int, top_db: float = 40.0, margin_ms: float = 50.0,
                  name: str = "recording") -> tuple[int, int]:
    """Samples [start, end) of the speech in ``x`` with its margin (see the module docstring)."""
    levels = frame_levels(x, rate)
    if levels.max() < SILENCE_DBFS:
        raise RnnkitError(f"{name}: silence only (loudest 25 ms frame {levels.max():.0f} dBFS, "
                          f"speech needs at least {SILENCE_DBFS:.0f})")
    speech = np.flatnonzero(levels >= levels.max() - top_db)
    hop, frame, margin = int(rate * 0.010), int(rate * 0.025), int(rate * margin_ms / 1000)
    return max(int(speech[0]) * hop - margin, 0), min(int(speech[-1]) * hop + frame + margin, len(x))


def trim_silence(x: np.ndarray, rate: int, top_db: float = 40.0, margin_ms: float = 50.0,
                 name: str = "recording") -> np.ndarray:
    """``x`` without the silence before and after the speech (see the module docstring)."""
    start, end = speech_bounds(x, rate, top_db, margin_ms, name)
    return x[start:end]
