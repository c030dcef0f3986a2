"""Speech features computed with torch: log-mel filterbank and MFCC frames, and their normalisation.

For a recording x at ``rate`` Hz (defaults for 8 kHz speech):

1. frames of ``frame_ms`` (25 ms = 200 samples) every ``hop_ms`` (10 ms = 80 samples); a recording
   shorter than one frame is an error; a final partial frame is dropped;
2. each frame times a Hann window (symmetric), zero-padded to ``n_fft`` (256) points, and its
   power spectrum |DFT|^2 over the ``n_fft // 2 + 1`` bins from 0 Hz to rate / 2;
3. ``n_mels`` (40) triangular filters equally spaced on the HTK mel scale, mel(f) = 2595
   log10(1 + f / 700), from ``f_min`` (20 Hz) to ``f_max`` (rate / 2), each peaking at 1 at its
   centre; log-mel = log(power @ filters + 1e-6);
4. MFCC: the first ``n_mfcc`` (13) coefficients of the orthonormal DCT-II of each log-mel frame.

:class:`Normalizer` holds per-dimension mean and standard deviation over the training frames
(global), saved as JSON in the run folder and applied the same way at inference.

>>> x = torch.sin(2 * torch.pi * 1000 * torch.arange(8000) / 8000)   # 1 s of 1 kHz at 8 kHz
>>> f = compute_features(x, FeatureConfig())
>>> tuple(f.shape)                                                   # 98 frames of 40 log-mels
(98, 40)
>>> int(f[0].argmax()) == int(mel_filterbank(FeatureConfig())[128 * 1000 // 4000].argmax())
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import RnnkitError

KINDS = ("logmel", "mfcc")


@dataclass(frozen=True)
class FeatureConfig:
    """How frames are computed (saved in the run's config.json)."""

    kind: str = "logmel"  # or "mfcc"
    rate: int = 8000
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 256
    n_mels: int = 40
    n_mfcc: int = 13
    f_min: float = 20.0
    f_max: float | None = None  # None: rate / 2

    def validate(self) -> "FeatureConfig":
        if self.kind not in KINDS:
            raise RnnkitError(f"features must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.frame_samples > self.n_fft:
            raise RnnkitError(f"a {self.frame_ms} ms frame is {self.frame_samples} samples, more than n_fft={self.n_fft}")
        if not 0 <= self.f_min < (self.f_max or self.rate / 2) <= self.rate / 2:
            raise RnnkitError(f"need 0 <= f_min < f_max <= rate / 2, got {self.f_min}, {self.f_max}, {self.rate}")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise RnnkitError(f"n_mfcc must be in 1..n_mels={self.n_mels}, got {self.n_mfcc}")
        return self

    @property
    def frame_samples(self) -> int:
        return int(round(self.rate * self.frame_ms / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.rate * self.hop_ms / 1000))

    @property
    def size(self) -> int:
        """Numbers per frame."""
        return self.n_mels if self.kind == "logmel" else self.n_mfcc


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """[n_fft // 2 + 1, n_mels]: triangles on the mel scale over the DFT bins' frequencies."""
    f_max = cfg.f_max or cfg.rate / 2
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(cfg.f_min)), float(hz_to_mel(f_max)), cfg.n_mels + 2,
                                     dtype=torch.float64))
    freqs = torch.arange(cfg.n_fft // 2 + 1, dtype=torch.float64) * cfg.rate / cfg.n_fft
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def power_spectrum(x: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """[T, n_fft // 2 + 1]: |DFT|^2 of each Hann-windowed frame of the 1-d signal ``x``."""
    n, hop = cfg.frame_samples, cfg.hop_samples
    if x.shape[-1] < n:
        raise RnnkitError(f"the recording is {x.shape[-1]} samples, shorter than one {cfg.frame_ms:g} ms frame ({n})")
    frames = x.float().unfold(-1, n, hop) * torch.hann_window(n, periodic=False)
    return torch.fft.rfft(frames, n=cfg.n_fft).abs().square()


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """[n_in, n_out]: the orthonormal DCT-II, y_k = s_k sum_n x_n cos(pi k (2n + 1) / (2 n_in))."""
    n = torch.arange(n_in, dtype=torch.float64)[:, None]
    k = torch.arange(n_out, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    m[:, 0] /= math.sqrt(2.0)
    return m.float()


def compute_features(x: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """[T, cfg.size] frames of the 1-d signal ``x`` (see the module docstring)."""
    logmel = torch.log(power_spectrum(torch.as_tensor(x), cfg) @ mel_filterbank(cfg) + 1e-6)
    return logmel if cfg.kind == "logmel" else logmel @ dct_matrix(cfg.n_mels, cfg.n_mfcc)


def stack_frames(f: torch.Tensor, k: int) -> torch.Tensor:
    """[T, F] -> [ceil(T / k), k * F]: each k consecutive frames side by side (the last one
    repeated to fill the final group), so the network steps every k hops.

    >>> stack_frames(torch.arange(5.0)[:, None], 2).tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 4.0]]
    """
    if k < 1:
        raise RnnkitError(f"frames to stack must be positive, got {k}")
    if k == 1:
        return f
    fill = (-f.shape[0]) % k
    if fill:
        f = torch.cat([f, f[-1:].expand(fill, -1)])
    return f.reshape(f.shape[0] // k, k * f.shape[1])


@dataclass(frozen=True)
class Normalizer:
    """Per-dimension mean and standard deviation of the training frames: (f - mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, features: Sequence[torch.Tensor]) -> "Normalizer":
        frames = torch.cat([f.double() for f in features])
        return cls(tuple(frames.mean(0).tolist()), tuple(frames.std(0).clamp(min=1e-5).tolist()))

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return (f - torch.tensor(self.mean, dtype=f.dtype)) / torch.tensor(self.std, dtype=f.dtype)

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Normalizer":
        try:
            return cls(tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["std"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RnnkitError(f"malformed feature statistics: {exc}") from None
