"""The connected-digits predictor: recordings in, digits with their times out.

Decoders (``decoder=``):

* ``greedy``: the best output at each step, repeats merged, output 0 dropped (CTC's collapse,
  or merging an aligned model's frames and dropping its pauses);
* ``beam``: CTC prefix beam search (CTC models);
* ``lexicon``: CTC beam search that accepts only sequences of the ten digit words, spelled in
  the model's units (for a phoneme model, the only decoder that yields digits).

Times: each output is emitted at a step; its segment runs from that step while the step's
best output stays the same, and a digit spelled in phonemes runs from its first phoneme's
segment to its last's. For an aligned model that is the span it was trained to label; a CTC
model's outputs are peaks, so its segments mark where it recognised the digit, often shorter
than the digit itself. Times are seconds in the original recording (before trimming).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..data.audio import read_audio, speech_bounds
from ..data.batching import pad_sequences
from ..data.features import FeatureConfig, Normalizer, compute_features, stack_frames
from ..decoding.beam import prefix_beam_search
from ..decoding.greedy import greedy_decode
from ..decoding.hypothesis import Hypothesis
from ..decoding.lexicon import Lexicon, lexicon_beam_search
from ..errors import RnnkitError

DECODERS = ("greedy", "beam", "lexicon")
BLANK = 0  # output 0: CTC's blank, or an aligned model's pause class


def frames_of(samples: np.ndarray, features: FeatureConfig, norm: Normalizer | None, stack: int) -> torch.Tensor:
    """Network inputs [S, stack * F] of a signal (normalised when ``norm`` is given)."""
    f = compute_features(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), features)
    return stack_frames(norm(f) if norm is not None else f, stack)


def step_geometry(features: FeatureConfig, stack: int) -> tuple[int, int]:
    """(hop, window) in samples of one network step: stacked frames cover ``window`` samples."""
    return stack * features.hop_samples, features.frame_samples + (stack - 1) * features.hop_samples


@dataclass(frozen=True)
class Segment:
    """One decoded symbol (a digit, or a phoneme) and its seconds in the recording."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    """``digits`` (None for a phoneme model's greedy or beam output, which is not words);
    ``units`` the output symbols; ``segments`` one per digit, or per unit when there are no digits."""

    digits: tuple[int, ...] | None
    units: tuple[str, ...]
    segments: tuple[Segment, ...]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"digits": None if self.digits is None else "".join(map(str, self.digits)), "units": list(self.units),
                "segments": [{"symbol": s.symbol, "start": round(s.start, 3), "end": round(s.end, 3)}
                             for s in self.segments], "score": round(self.score, 4)}


@dataclass
class Transcriber:
    """A trained connected-digit recogniser (what ``rnnkit.load`` returns for a connected run)."""

    model: torch.nn.Module
    features: FeatureConfig
    normalizer: Normalizer
    stack: int
    trim_db: float
    divergence: str
    symbols: tuple[str, ...]
    pronunciations: dict[int, tuple[str, ...]] | None
    config: dict[str, Any]
    step: int
    beam_size: int = 16
    _lexicon: Lexicon | None = field(default=None, repr=False)

    # -- inputs and outputs -----------------------------------------------------------------
    def read(self, audio: str | np.ndarray, name: str = "recording") -> tuple[torch.Tensor, int]:
        """(inputs [S, D], the sample where they start): a path or samples at the model's rate,
        trimmed of leading and trailing silence."""
        if isinstance(audio, str):
            name, audio = audio, read_audio(audio, self.features.rate)
        audio = np.asarray(audio, dtype=np.float32)
        start, end = speech_bounds(audio, self.features.rate, self.trim_db, name=name)
        try:
            return frames_of(audio[start:end], self.features, self.normalizer, self.stack), start
        except RnnkitError as exc:
            raise RnnkitError(f"{name}: {exc}") from None

    def log_probs(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities [B, S, C] (CPU, fp32) and lengths [B] of a list of inputs [S, D]."""
        device = next(self.model.parameters()).device
        x, lengths = pad_sequences(list(inputs))
        self.model.eval()
        with torch.no_grad():
            logits, _ = self.model(x.to(device), lengths)
        return logits.float().log_softmax(-1).cpu(), lengths

    @property
    def lexicon(self) -> Lexicon:
        """The ten digit words ("0" .. "9") spelled in the model's units."""
        if self._lexicon is None:
            index = {s: i for i, s in enumerate(self.symbols)}
            spell = (lambda d: [index[str(d)]]) if self.pronunciations is None else (
                lambda d: [index[p] for p in self.pronunciations[d]])
            self._lexicon = Lexicon([str(d) for d in range(10)], [spell(d) for d in range(10)])
        return self._lexicon

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor, decoder: str = "greedy") -> list[Hypothesis]:
        """The best hypothesis of each utterance of a [B, S, C] batch."""
        if decoder not in DECODERS:
            raise RnnkitError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        if decoder != "greedy" and self.divergence != "ctc":
            raise RnnkitError(f"the {decoder} decoder searches CTC outputs; this {self.divergence} model decodes greedy only")
        if decoder == "greedy":
            found = greedy_decode(log_probs, lengths, collapse="ctc", blank=BLANK)
        elif decoder == "beam":
            found = prefix_beam_search(log_probs, lengths, blank=BLANK, beam_size=self.beam_size)
        else:
            found = lexicon_beam_search(log_probs, lengths, lexicon=self.lexicon, blank=BLANK, beam_size=self.beam_size)
        return [hyps[0] for hyps in found]

    def digits_of(self, h: Hypothesis) -> tuple[int, ...] | None:
        """The digits of a hypothesis: its units for a digit model, its words for a lexicon search."""
        if h.words:
            return tuple(int(w) for w in h.words)
        if self.pronunciations is None:
            return tuple(int(self.symbols[t]) for t in h.tokens)
        return () if not h.tokens else None

    # -- transcripts --------------------------------------------------------------------------
    def transcript(self, h: Hypothesis, best: np.ndarray, offset: int) -> Transcript:
        """A hypothesis with times: ``best`` [S] is each step's best output, ``offset`` the first sample."""
        hop, window = step_geometry(self.features, self.stack)
        rate = self.features.rate
        spans = []
        for token, t in zip(h.tokens, h.timesteps):
            end = t
            while end + 1 < len(best) and best[end + 1] == token:
                end += 1
            spans.append(((offset + t * hop) / rate, (offset + end * hop + window) / rate))
        units = tuple(self.symbols[t] for t in h.tokens)
        digits = self.digits_of(h)
        if digits is None:
            segments = tuple(Segment(u, a, b) for u, (a, b) in zip(units, spans))
        elif self.pronunciations is None:
            segments = tuple(Segment(str(d), a, b) for d, (a, b) in zip(digits, spans))
        else:
            segments, at = [], 0
            for d in digits:
                n = len(self.pronunciations[d])
                segments.append(Segment(str(d), spans[at][0], spans[at + n - 1][1]))
                at += n
            segments = tuple(segments)
        return Transcript(digits, units, segments, h.score)

    def transcribe(self, recordings: Sequence[str | np.ndarray], decoder: str = "greedy") -> list[Transcript]:
        """The transcript of each recording (a path, or float samples at the model's rate)."""
        if isinstance(recordings, (str, np.ndarray)):
            raise RnnkitError("transcribe takes a list of recordings (paths or sample arrays)")
        if not recordings:
            return []
        read = [self.read(r, f"recording {i + 1}") for i, r in enumerate(recordings)]
        lp, lengths = self.log_probs([x for x, _ in read])
        best = lp.argmax(-1).numpy()
        return [self.transcript(h, best[b, :int(lengths[b])], read[b][1])
                for b, h in enumerate(self.decode(lp, lengths, decoder))]
