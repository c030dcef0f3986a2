"""Dictionary-constrained CTC decoding: a prefix trie of words and a beam search held to it.

Words are spelled in the model's output units (characters or phonemes). The search is a CTC
prefix beam search (see :mod:`rnnkit.decoding.beam`) whose prefixes must walk the trie: a
prefix inside a word may only grow by a unit that continues some word, and a word may only be
left where one ends. The accepted outputs are the empty output and ``w1 w2 ... wn`` (no
separator unit) or ``w1 | w2 | ... | wn`` (with ``word_separator``: exactly one separator
between words, none before the first or after the last; with ``optional_separator`` too, each
separator may be left out). Where words may meet without a separator the same units can split
into words in several ways; each split is its own hypothesis.

Ranking score = ``log P(units | x) + word_bonus * number of words``. Only complete
hypotheses (empty, or ending at a word's end) are returned. Besides its ``beam_size`` best, the
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

import heapq
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from .beam import candidate_tokens
from .hypothesis import Hypothesis, check_inputs

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


class _Grammar:
    """The lexicon as transitions: node -> {unit: ((next node, starts a word, word done), ...)}."""

    def __init__(self, lexicon: Lexicon, separator: int | None, optional: bool = False):
        self.lex, self.sep, self.optional = lexicon, separator, optional
        self.after_sep = len(lexicon.children)  # a second root: reached by a separator, not final
        self.num_nodes = self.after_sep + 1
        self._cache: dict[int, dict[int, tuple[tuple[int, bool, int], ...]]] = {}

    def transitions(self, node: int) -> dict[int, tuple[tuple[int, bool, int], ...]]:
        out = self._cache.get(node)
        if out is not None:
            return out
        lex = self.lex
        at_root = node in (ROOT, self.after_sep)
        out = {u: ((child, at_root, -1),) for u, child in lex.children[ROOT if at_root else node].items()}
        done = -1 if at_root else lex.word_at[node]
        if done >= 0 and self.sep is not None:
            out[self.sep] = ((self.after_sep, False, done),)
        if done >= 0 and (self.sep is None or self.optional):
            # No separator needed: a unit may go on in this word or start the next one.
            for u, child in lex.children[ROOT].items():
                out[u] = out.get(u, ()) + ((child, True, done),)
        self._cache[node] = out
        return out

    def final_word(self, node: int) -> int | None:
        """Word completed by ending at ``node`` (-1: none needed), or None if it cannot end there."""
        if node == ROOT:
            return -1
        if node == self.after_sep:
            return None
        return self.lex.word_at[node] if self.lex.word_at[node] >= 0 else None


def unroll_times(node: tuple | None) -> tuple[int, ...]:
    """Frames from a linked list ``(frame, parent node)`` of emission times, oldest first."""
    times = []
    while node is not None:
        times.append(node[0])
        node = node[1]
    return tuple(reversed(times))


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


def _prune(nxt: dict[int, list], info: list, grammar: _Grammar, beam_size: int, nbest: int,
           word_bonus: float) -> dict[int, list]:
    """The ``beam_size`` best hypotheses, plus the ``nbest`` best that could end here.

    Keeping complete-able hypotheses apart means an utterance always has an answer, even
    when every word the beam is inside turns out not to fit the frames left.
    """
    scored = [(_lse(e[0], e[1]) + word_bonus * info[k][4], k) for k, e in nxt.items()]
    keep = [k for s, k in heapq.nlargest(beam_size, scored) if s > -math.inf]
    if len(scored) > beam_size:
        kept = set(keep)
        final = ((s, k) for s, k in scored if grammar.final_word(info[k][2]) is not None)
        keep += [k for s, k in heapq.nlargest(nbest, final) if s > -math.inf and k not in kept]
    return {k: nxt[k] for k in keep}


def _search(lp: np.ndarray, cand: np.ndarray, grammar: _Grammar, blank: int, beam_size: int, nbest: int,
            word_bonus: float) -> list[Hypothesis]:
    """One utterance: lp [T, C], cand [T, C] bool. Hypotheses are keyed by an integer id."""
    # info[key] = (parent key, unit, trie node, word completed by this unit, number of words)
    info: list[tuple[int, int, int, int, int]] = [(-1, -1, ROOT, -1, 0)]
    ids: dict[int, int] = {}                           # (parent key, unit, node) packed in one int
    C, N = lp.shape[1], grammar.num_nodes
    ends_word = grammar.lex.word_at + [-1]          # the after-separator root ends no word
    # key -> [p_b, p_nb, best single contribution, its emission frames (frame, parent node)]
    beam: dict[int, list] = {0: [0.0, -math.inf, 0.0, None]}
    inf = math.inf
    for t, (row, units) in enumerate(zip(lp.tolist(), (np.flatnonzero(c).tolist() for c in cand))):
        allowed = set(units)
        # Stays first: every hypothesis stays a candidate, so the beam_size-th best stay bounds
        # from below what a new hypothesis must score to enter the beam.
        nxt: dict[int, list] = {}
        for key, (pb, pnb, _, times) in beam.items():
            last = info[key][1]
            stay_b = _lse(pb, pnb) + row[blank]
            stay_nb = pnb + row[last] if last >= 0 else -inf
            stay = _lse(stay_b, stay_nb)
            nxt[key] = [stay_b, stay_nb, stay, times]
        stays = [e[2] + word_bonus * info[k][4] for k, e in nxt.items()]
        bound = heapq.nlargest(beam_size, stays)[-1] if len(stays) >= beam_size else -inf
        for key, (pb, pnb, _, times) in beam.items():
            _, last, node, _, nwords = info[key]
            p_tot = _lse(pb, pnb)
            trans = grammar.transitions(node)
            # Walk the shorter of the frame's candidates and the node's transitions.
            steps = ((u, trans.get(u)) for u in units) if len(units) < len(trans) else (
                (u, o) for u, o in trans.items() if u in allowed)
            for unit, options in steps:
                if options is None:
                    continue
                p = (pb if unit == last else p_tot) + row[unit]
                for child, starts, done in options:
                    packed = (key * C + unit) * N + child
                    new = ids.get(packed)
                    grown = nxt.get(new) if new is not None else None
                    if grown is not None:  # already a hypothesis: add this path to it
                        grown[1] = _lse(grown[1], p)
                        if p > grown[2]:  # the likelier path says when the unit was emitted
                            grown[2], grown[3] = p, (t, times)
                        continue
                    # A new hypothesis has this one path only: skip it if it cannot enter the beam
                    # (unless it could end here, for the reserve of complete hypotheses).
                    if p + word_bonus * (nwords + starts) < bound and ends_word[child] < 0:
                        continue
                    if new is None:
                        new = ids[packed] = len(info)
                        info.append((key, unit, child, done, nwords + starts))
                    nxt[new] = [-inf, p, p, (t, times)]
        beam = _prune(nxt, info, grammar, beam_size, nbest, word_bonus)
    return _finish(beam, info, grammar, nbest, word_bonus)


def _finish(beam: dict[int, list], info: list, grammar: _Grammar, nbest: int,
            word_bonus: float) -> list[Hypothesis]:
    """The complete hypotheses of the final beam, best first."""
    complete = []
    for key, (pb, pnb, _, times) in beam.items():
        end = grammar.final_word(info[key][2])
        if end is not None:
            acoustic = _lse(pb, pnb)
            complete.append((acoustic + word_bonus * info[key][4], acoustic, key, end, times))
    complete.sort(key=lambda c: -c[0])
    out = []
    for score, acoustic, key, end, times in complete[:nbest]:
        tokens, words = [], [end] if end >= 0 else []
        while key > 0:
            parent, unit, _, done, _ = info[key]
            tokens.append(unit)
            if done >= 0:
                words.append(done)
            key = parent
        out.append(Hypothesis(tokens=tuple(reversed(tokens)), score=score, timesteps=unroll_times(times),
                              acoustic_score=acoustic, words=tuple(grammar.lex.words[w] for w in reversed(words))))
    return out


def lexicon_beam_search(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                        *, lexicon: Lexicon, blank: int, beam_size: int = 16, nbest: int = 1,
                        word_separator: int | None = None, optional_separator: bool = False,
                        word_bonus: float = 0.0, token_threshold: float | None = 10.0) -> list[list[Hypothesis]]:
    """CTC beam search over a [B, T, C] batch that outputs only sequences of lexicon words.

    ``word_separator``: the unit between words (e.g. the id of "|" or " "), or None when words
    follow each other directly; ``optional_separator``: words may also meet without one.
    ``word_bonus`` is added per word (positive: more, shorter
    words). ``token_threshold`` prunes tokens as in :func:`~rnnkit.decoding.beam.prefix_beam_search`.
    Returns per utterance up to ``nbest`` complete hypotheses, best first, with ``words`` set.

    >>> vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
    >>> lp = np.log([[[.1, .8, .1], [.1, .1, .8], [.1, .8, .1]]])          # best path "aba"
    >>> [(h.words, round(h.score, 3)) for h in lexicon_beam_search(
    ...     lp, lexicon=Lexicon.build(["ab", "a", "ba"], vocab), blank=0, nbest=2)[0]]
    [(('ab', 'a'), -0.669), (('a', 'ba'), -0.669)]
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
    grammar = _Grammar(lexicon, word_separator, optional_separator)
    out = []
    for b, n in enumerate(lengths.tolist()):
        lp = log_probs[b, :n].astype(np.float64)
        cand = candidate_tokens(lp, blank, token_threshold)
        out.append(_search(lp, cand, grammar, blank, beam_size, nbest, word_bonus))
    return out
