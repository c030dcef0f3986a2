"""A character (or any symbol) n-gram language model estimated from text, for decoding.

Smoothing is interpolated Kneser-Ney with one absolute discount ``D``::

    P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h')

where ``h'`` drops the oldest symbol of ``h``. The highest order of a query uses raw counts;
the lower orders it backs off to use continuation counts (how many distinct symbols precede
``h' w``), and the recursion ends in the uniform distribution over the vocabulary (less the
blank). Contexts never seen fall through to the shorter context. Every distribution sums to 1.

Models are saved as plain JSON (counts and the vocabulary), never pickled. The model speaks
the :class:`~rnnkit.decoding.lm.LMScorer` protocol over the vocabulary's ids, so
``prefix_beam_search(..., lm=NgramLM.fit(texts, vocab))`` fuses it.

>>> from rnnkit.data.vocab import Vocabulary
>>> vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
>>> lm = NgramLM.fit(["abababab"], vocab, order=2)
>>> lm.log_prob([1], 2) > lm.log_prob([1], 1)      # "b" follows "a"
True
>>> round(float(np.exp(lm.next_log_probs([(1,)])[0]).sum()), 6)
1.0
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..data.vocab import Vocabulary
from ..errors import RnnkitError

FORMAT = "rnnkit.ngram"


class NgramLM:
    """Interpolated Kneser-Ney n-gram over a vocabulary's ids (see the module docstring).

    ``counts[k]`` maps (k+1)-grams (tuples of ids) to how often they occur; build one with
    :meth:`fit` or :meth:`load`. States (for decoders) are tuples of the last ``order - 1`` ids.
    """

    def __init__(self, vocab: Vocabulary, order: int, counts: Sequence[dict[tuple[int, ...], int]],
                 discount: float = 0.75):
        if order < 1:
            raise RnnkitError(f"n-gram order must be at least 1, got {order}")
        if not 0.0 < discount < 1.0:
            raise RnnkitError(f"n-gram discount must lie in (0, 1), got {discount}")
        if len(counts) != order:
            raise RnnkitError(f"an order-{order} model needs {order} count tables, got {len(counts)}")
        self.vocab, self.order, self.discount = vocab, order, float(discount)
        self.counts = [dict(c) for c in counts]
        support = np.ones(len(vocab), dtype=bool)
        if vocab.blank is not None:
            support[vocab.index(vocab.blank)] = False
        self._uniform = np.where(support, 1.0 / support.sum(), 0.0)
        # Per context: (next ids, raw counts) for queries; (next ids, continuation counts) for back-off.
        self._raw = [self._tables(c) for c in self.counts]
        continuation = [Counter(g[1:] for g in self.counts[k + 1]) for k in range(order - 1)]
        self._cont = [self._tables(c) for c in continuation]
        self._cache: dict[tuple[tuple[int, ...], bool], np.ndarray] = {}

    @staticmethod
    def _tables(counts: dict[tuple[int, ...], int]) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
        grouped: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for gram, c in counts.items():
            grouped.setdefault(gram[:-1], []).append((gram[-1], c))
        return {h: (np.array([w for w, _ in wc]), np.array([c for _, c in wc], dtype=np.float64))
                for h, wc in grouped.items()}

    @classmethod
    def fit(cls, texts: Iterable[str | Sequence[str]], vocab: Vocabulary, order: int = 3,
            discount: float = 0.75) -> "NgramLM":
        """Count the 1..order-grams of each text (encoded with ``vocab``; texts are independent).

        >>> v = Vocabulary(tokens=("a", "b"), unk=None)
        >>> NgramLM.fit(["aab"], v, order=2).counts
        [{(0,): 2, (1,): 1}, {(0, 0): 1, (0, 1): 1}]
        """
        if order < 1:
            raise RnnkitError(f"n-gram order must be at least 1, got {order}")
        counts = [Counter() for _ in range(order)]
        for text in texts:
            ids = tuple(vocab.encode(text).tolist())
            for k in range(order):
                counts[k].update(ids[i:i + k + 1] for i in range(len(ids) - k))
        if not counts[0]:
            raise RnnkitError("cannot estimate an n-gram model from empty text")
        return cls(vocab, order, [dict(c) for c in counts], discount)

    # -- probabilities ----------------------------------------------------------------------------
    def _dist(self, context: tuple[int, ...], top: bool) -> np.ndarray:
        """P(. | context) as a [C] array; ``top``: the query's own order (raw counts)."""
        key = (context, top)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lower = self._dist(context[1:], False) if context else self._uniform
        # Table k scores the symbol after a k-symbol context.
        entry = (self._raw if top else self._cont)[len(context)].get(context)
        if entry is None:
            p = lower
        else:
            ids, c = entry
            total = c.sum()
            p = self.discount * len(ids) / total * lower
            p[ids] += np.maximum(c - self.discount, 0.0) / total
        self._cache[key] = p
        return p

    def _context(self, context: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(i) for i in context[max(0, len(context) - (self.order - 1)):]) if self.order > 1 else ()

    def log_prob(self, context: Sequence[int], token: int) -> float:
        """log P(token | the last order-1 ids of context)."""
        with np.errstate(divide="ignore"):
            return float(np.log(self._dist(self._context(context), True)[int(token)]))

    def score(self, ids: Sequence[int]) -> float:
        """log P(ids), each id given the ones before it (no start or end symbol)."""
        return sum(self.log_prob(ids[:i], ids[i]) for i in range(len(ids)))

    # -- the LMScorer protocol ---------------------------------------------------------------
    def initial_state(self) -> tuple[int, ...]:
        """The empty context."""
        return ()

    def next_log_probs(self, states: Sequence[tuple[int, ...]]) -> np.ndarray:
        """[N, C] log P(next id | state); the blank gets -inf."""
        with np.errstate(divide="ignore"):
            return np.log(np.stack([self._dist(s, True) for s in states]))

    def advance(self, state: tuple[int, ...], token: int) -> tuple[int, ...]:
        """The context after ``token`` (the last order-1 ids)."""
        return (state + (int(token),))[1:] if len(state) >= self.order - 1 else state + (int(token),)

    # -- persistence ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "version": 1, "order": self.order, "discount": self.discount,
                "vocab": self.vocab.to_json(),
                "counts": [[[*gram, c] for gram, c in sorted(table.items())] for table in self.counts]}

    @classmethod
    def from_json(cls, data: dict) -> "NgramLM":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RnnkitError(f"not an rnnkit n-gram model (expected format {FORMAT!r})")
        try:
            vocab = Vocabulary.from_json(data["vocab"])
            counts = [{tuple(int(i) for i in row[:-1]): int(row[-1]) for row in table} for table in data["counts"]]
            return cls(vocab, int(data["order"]), counts, float(data["discount"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RnnkitError(f"malformed n-gram model: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the model as JSON."""
        Path(path).write_text(json.dumps(self.to_json()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "NgramLM":
        """Read a model written by :meth:`save`; RnnkitError on a missing or malformed file.

        >>> import os, tempfile
        >>> v = Vocabulary(tokens=("a", "b"), unk=None)
        >>> lm, path = NgramLM.fit(["abba"], v, order=2), os.path.join(tempfile.mkdtemp(), "lm.json")
        >>> lm.save(path)
        >>> NgramLM.load(path).log_prob([0], 1) == lm.log_prob([0], 1)
        True
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RnnkitError(f"cannot read n-gram model {str(path)!r}: {exc}") from None
        return cls.from_json(data)
