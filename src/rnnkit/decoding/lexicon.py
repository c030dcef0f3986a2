"""Dictionary-constrained CTC decoding: a prefix trie of words and a beam search held to it.

Words are spelled in the model's output units (characters or phonemes). The search is a CTC
prefix beam search (see :mod:`rnnkit.decoding.beam`) whose prefixes must walk the trie: a
prefix inside a word may only grow by a unit that continues some word, and a word may only be
left where one ends. The accepted outputs are the empty output and ``w1 w2 ... wn`` (no
separator unit) or ``w1 | w2 | ... | wn`` (with ``word_separator``: exactly one separator
between words, none before the first or after the last; with ``optional_separator`` too, each
separator may be left out). Where words may meet without a separator the same units can split
into words in several ways; each split is its own hypothesis.

Ranking score = ``log P(units | x) + word_bonus * number of words`` (+ ``lm_weight * log P(words)``
with a word LM). Only complete hypotheses (empty, or ending at a word's end) are returned. Besides its ``beam_size`` best, the
beam keeps the ``nbest`` best hypotheses that could end at each frame, so every utterance gets
an answer (at worst the empty output) even when no word in progress fits the frames left.

>>> import numpy as np
>>> from rnnkit.data.vocab import Vocabulary
>>> vocab = Vocabulary(tokens=("_", "a", "b", "|"), unk=None, blank="_")
>>> lex = Lexicon.build(["ab", "b"], vocab)
>>> lp = np.log([[[.1, .8, .05, .05], [.1, .1, .1, .7], [.1, .1, .7, .1]]])   # best path "a|b"
>>> [h] = lexicon_beam_search(lp, lexicon=lex, blank=0, word_separator=3)[0]
>>> h.words, vocab.decode(h.tokens)
(('ab',), 'ab')
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from .beam import candidate_tokens
from .hypothesis import Hypothesis, check_inputs
from .lexicon_search import TrieArrays, search
from .lm import LMScorer

ROOT = 0


class Lexicon:
    """A prefix trie over word spellings (tuples of unit ids).

    ``children[node]`` maps a unit to the next node; ``word_at[node]`` is the index of the
    (first) word spelled by the path to ``node``, or -1. Homophones (one spelling, several
    words) are all kept in ``words`` but decode as the first.
    """

    def __init__(self, words: Sequence[str], spellings: Sequence[Sequence[int]]):
        if not words:
            raise RnnkitError("the lexicon is empty")
        if len(words) != len(spellings):
            raise RnnkitError(f"{len(words)} words but {len(spellings)} spellings")
        self.words = tuple(words)
        self.spellings = tuple(tuple(int(u) for u in s) for s in spellings)
        self.children: list[dict[int, int]] = [{}]
        self.word_at = [-1]
        for w, spelling in enumerate(self.spellings):
            if not spelling:
                raise RnnkitError(f"word {self.words[w]!r} has an empty spelling")
            node = ROOT
            for unit in spelling:
                nxt = self.children[node].get(unit)
                if nxt is None:
                    nxt = self.children[node][unit] = len(self.children)
                    self.children.append({})
                    self.word_at.append(-1)
                node = nxt
            if self.word_at[node] < 0:
                self.word_at[node] = w
        self.units = frozenset(u for s in self.spellings for u in s)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, entries: Iterable[str | tuple[str, Sequence[str]]], vocab: Vocabulary) -> "Lexicon":
        """A lexicon from words spelled by their characters, or (word, units) pairs (phonemes).

        Every unit must be a symbol of ``vocab`` other than its blank.

        >>> v = Vocabulary(tokens=("<b>", "K", "AE", "T"), unk=None, blank="<b>", kind="token")
        >>> lex = Lexicon.build([("cat", ["K", "AE", "T"])], v)
        >>> lex.spellings
        ((1, 2, 3),)
        >>> Lexicon.build(["cat"], v)
        Traceback (most recent call last):
        ...
        rnnkit.errors.RnnkitError: word 'cat' has unit 'c', which is not in the vocabulary
        """
        words, spellings = [], []
        for entry in entries:
            word, units = (entry, list(entry)) if isinstance(entry, str) else (entry[0], list(entry[1]))
            for unit in units:
                if unit not in vocab:
                    raise RnnkitError(f"word {word!r} has unit {unit!r}, which is not in the vocabulary")
                if unit == vocab.blank:
                    raise RnnkitError(f"word {word!r} is spelled with the blank {unit!r}")
            words.append(word)
            spellings.append([vocab.index(u) for u in units])
        return cls(words, spellings)

    @classmethod
    def from_file(cls, path: str | Path, vocab: Vocabulary) -> "Lexicon":
        """One entry a line: ``word`` (spelled by its characters) or ``word unit unit ...``.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "words.txt")
        >>> _ = open(path, "w").write("ab\\nba b a\\n")
        >>> Lexicon.from_file(path, Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")).spellings
        ((1, 2), (2, 1))
        """
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise RnnkitError(f"cannot read lexicon {str(path)!r}: {exc.strerror}") from None
        fields = [line.split() for line in lines if line.strip()]
        return cls.build([f[0] if len(f) == 1 else (f[0], f[1:]) for f in fields], vocab)


def lexicon_beam_search(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                        *, lexicon: Lexicon, blank: int, beam_size: int = 16, nbest: int = 1,
                        word_separator: int | None = None, optional_separator: bool = False,
                        word_bonus: float = 0.0, token_threshold: float | None = 10.0,
                        lm: LMScorer | None = None, lm_weight: float = 0.5,
                        lm_ids: Sequence[int] | None = None) -> list[list[Hypothesis]]:
    """CTC beam search over a [B, T, C] batch that outputs only sequences of lexicon words.

    ``word_separator``: the unit between words (e.g. the id of "|" or " "), or None when words
    follow each other directly; ``optional_separator``: words may also meet without one.
    ``word_bonus`` is added per word (positive: more, shorter
    words). ``token_threshold`` prunes tokens as in :func:`~rnnkit.decoding.beam.prefix_beam_search`.
    ``lm``: a word-level :class:`~rnnkit.decoding.lm.LMScorer` (e.g. an
    :class:`~rnnkit.decoding.ngram.NgramLM` over words) whose ``lm_weight * log P(word | history)``
    joins the score as each word is finished; its token id of lexicon word i is ``lm_ids[i]``
    (default i). Returns per utterance up to ``nbest`` complete hypotheses, best first (equal
    scores in a fixed order), with ``words`` set. All utterances are searched together, in
    arrays (:mod:`rnnkit.decoding.lexicon_search`).

    >>> vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
    >>> lp = np.log([[[.1, .8, .1], [.1, .1, .8], [.1, .8, .1]]])          # best path "aba"
    >>> [(h.words, round(h.score, 3)) for h in lexicon_beam_search(
    ...     lp, lexicon=Lexicon.build(["ab", "a", "ba"], vocab), blank=0, nbest=2)[0]]
    [(('a', 'ba'), -0.669), (('ab', 'a'), -0.669)]
    """
    if beam_size < 1 or nbest < 1:
        raise ValueError(f"beam_size and nbest must be positive, got {beam_size} and {nbest}")
    log_probs, lengths = check_inputs(log_probs, lengths, blank)
    C = log_probs.shape[2]
    if max(lexicon.units) >= C:
        raise RnnkitError(f"the lexicon spells words with unit id {max(lexicon.units)}, "
                          f"outside the {C} output symbols")
    if blank in lexicon.units:
        raise RnnkitError(f"the lexicon spells words with the blank id {blank}")
    if word_separator is not None:
        if not 0 <= word_separator < C or word_separator == blank:
            raise ValueError(f"word separator {word_separator} must be a non-blank id in [0, {C})")
        if word_separator in lexicon.units:
            raise RnnkitError(f"the lexicon spells words with the word separator id {word_separator}")
    if optional_separator and word_separator is None:
        raise ValueError("an optional separator needs word_separator")
    if lm is not None and not lm_weight >= 0:
        raise ValueError(f"lm_weight must be >= 0, got {lm_weight}")
    if lm_ids is not None and len(lm_ids) != len(lexicon):
        raise RnnkitError(f"lm_ids names {len(lm_ids)} words, the lexicon has {len(lexicon)}")
    B, T, _ = log_probs.shape
    lp = log_probs.astype(np.float64)
    past = np.arange(T)[None, :] >= lengths[:, None]          # [B, T]: frames past each length
    lp[past] = -math.inf
    lp[past, blank] = 0.0                                       # so every score stays as it was
    cand = candidate_tokens(lp, blank, token_threshold) & ~past[..., None]
    trie = TrieArrays(lexicon, C, word_separator, optional_separator)
    return search(lp, cand, trie, lexicon.words, blank, beam_size, nbest, word_bonus,
                  lm, lm_weight if lm is not None else 0.0, lm_ids)
