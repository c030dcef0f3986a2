"""What every decoder returns, and the input checks every decoder shares.

Decoders are model-agnostic: they read log-probabilities ``[B, T, C]`` (a torch tensor or a
numpy array) with integer lengths ``[B]`` and return, per utterance, an n-best list of
immutable :class:`Hypothesis` objects, best first.

>>> h = Hypothesis(tokens=(3, 1), score=-1.5, timesteps=(0, 4), acoustic_score=-1.5)
>>> h.to_dict()["timesteps"]
[0, 4]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.vocab import Vocabulary


@dataclass(frozen=True)
class Hypothesis:
    """One decoded output sequence.

    ``tokens``: output ids (after merging/collapsing, for the decoders that do so);
    ``score``: what the decoder ranked by (``acoustic_score + lm_weight * lm_score`` plus
    any insertion or word bonus); ``timesteps``: for each token, the frame where it was
    emitted (the first frame of its run); ``acoustic_score``: the log-probability the search
    gave the tokens (a path for greedy decoders, a sum over alignments for CTC beam searches);
    ``lm_score``: the language model's log-probability of the tokens (0 without one);
    ``words``: the dictionary words, for lexicon decoding.
    """

    tokens: tuple[int, ...]
    score: float
    timesteps: tuple[int, ...]
    acoustic_score: float = 0.0
    lm_score: float = 0.0
    words: tuple[str, ...] = ()

    def text(self, vocab: Vocabulary) -> str:
        """The tokens as text in ``vocab`` (characters joined, other tokens space-joined).

        >>> v = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
        >>> Hypothesis(tokens=(1, 2, 1), score=0.0, timesteps=(0, 1, 2)).text(v)
        'aba'
        """
        return vocab.decode(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists for tuples)."""
        return {"tokens": list(self.tokens), "score": self.score, "timesteps": list(self.timesteps),
                "acoustic_score": self.acoustic_score, "lm_score": self.lm_score, "words": list(self.words)}


def check_inputs(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                 blank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate decoder inputs once, at the public boundary.

    Returns (log_probs as a float32 array [B, T, C] (float64 input stays float64), lengths as an
    int64 array [B]);
    ``lengths=None`` means every utterance fills the T frames.

    >>> lp, n = check_inputs(torch.zeros(2, 3, 4, dtype=torch.bfloat16), [3, 1])
    >>> lp.dtype, n.tolist()
    (dtype('float32'), [3, 1])
    >>> check_inputs(np.zeros((1, 3, 4)), [5])
    Traceback (most recent call last):
    ...
    ValueError: a length (5) exceeds the 3 frames of log_probs
    """
    if torch.is_tensor(log_probs):
        wide = log_probs.dtype == torch.float64
        log_probs = log_probs.detach().to("cpu", torch.float64 if wide else torch.float32).numpy()
    log_probs = np.asarray(log_probs)
    # float64 stays float64 (exact references compare to 1e-9); anything else becomes float32.
    log_probs = np.ascontiguousarray(log_probs, dtype=np.float64 if log_probs.dtype == np.float64 else np.float32)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be [B, T, C], got shape {tuple(log_probs.shape)}")
    B, T, C = log_probs.shape
    if lengths is None:
        lengths = np.full(B, T, dtype=np.int64)
    else:
        if torch.is_tensor(lengths):
            lengths = lengths.detach().cpu().numpy()
        lengths = np.asarray(lengths)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must be [B] = {(B,)}, got {tuple(lengths.shape)}")
        if lengths.size and not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be integers, got {lengths.dtype}")
        lengths = lengths.astype(np.int64)
    if B and int(lengths.max()) > T:
        raise ValueError(f"a length ({int(lengths.max())}) exceeds the {T} frames of log_probs")
    if B and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be non-negative, got {int(lengths.min())}")
    if blank is not None and not 0 <= blank < C:
        raise ValueError(f"blank id {blank} is outside the vocabulary of {C} symbols")
    return log_probs, lengths
