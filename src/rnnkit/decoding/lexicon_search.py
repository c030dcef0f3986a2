"""The engine of :func:`~rnnkit.decoding.lexicon.lexicon_beam_search`: one CTC prefix beam search
over a whole batch at once, held to a lexicon trie, in numpy arrays rather than Python objects.

Every hypothesis of every utterance is a row of flat arrays, grouped by utterance: p_blank,
p_non-blank, last unit, trie node, words started, a 64-bit hash of its prefix (units and trie
nodes) and of its parent's, LM state and score. A frame is a handful of array operations over all
rows: the stays (blank, or the last unit again); the parent's path into each row through its last
unit again (the prefix search's merge, the parent found by its hash wherever it now is); the extensions, each row
times each candidate unit, looked up in the trie's transition table, left out when their score
cannot reach the beam (below both the beam_size-th stay and the nbest-th stay that could end) or
when the row they would make exists; and per-utterance pruning by ``argpartition`` of a padded
[utterances, candidates] score matrix. Each frame stores, per kept row, the row it came from,
the unit it emitted (-1 for a stay) and the word that unit finished; the best hypotheses are
read back at the end by walking those pointers.

Word-level LM fusion: when a unit finishes word ``w`` (a separator, the first unit of the next
word, or the end of the utterance), ``lm_weight * log P(w | previous words)`` joins the score; the
LM is any :class:`~rnnkit.decoding.lm.LMScorer` over word ids (the lexicon's word order, or the
ids ``lm_ids`` gives). Ranking score = acoustic + lm_weight * LM + word_bonus * words; while a
word is in progress the ranking also counts ``lm_weight`` times the best unigram log-probability of
the words it may still become (look-ahead, as flashlight's smearing), replaced by the real
probability when the word is finished, so LM-likely words are not pruned before they are done.
The returned scores are exact: acoustic + lm_weight * LM + word_bonus * words.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .hypothesis import Hypothesis

ROOT = 0
CANNOT_END = -2
_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(h: np.ndarray, unit: np.ndarray, child: np.ndarray) -> np.ndarray:
    """A 64-bit hash of a prefix: splitmix64 of (parent prefix's hash, unit, trie node)."""
    with np.errstate(over="ignore"):
        x = h ^ (unit.astype(np.uint64) * _K1 + child.astype(np.uint64) * _K2 + _K3)
        x = (x ^ (x >> np.uint64(30))) * _K2
        x = (x ^ (x >> np.uint64(27))) * _K3
        return x ^ (x >> np.uint64(31))


def _find(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query in ``keys`` (distinct, any order), or -1."""
    if not len(keys):
        return np.full(len(queries), -1)
    sort = np.argsort(keys)
    at = np.minimum(np.searchsorted(keys[sort], queries), len(keys) - 1)
    return np.where(keys[sort][at] == queries, sort[at], -1)


class TrieArrays:
    """The lexicon grammar as sorted edge keys (node * C + unit -> child) and per-node words.

    Nodes: the trie's, then ``after_sep`` (reached by a separator: must start a word, cannot end).
    """

    def __init__(self, lexicon, num_units: int, separator: int | None, optional: bool, dense_limit: int = 30_000_000):
        self.C, self.sep, self.optional = num_units, separator, optional
        self.after_sep = len(lexicon.children)
        edges = sorted((node * num_units + u, child) for node, kids in enumerate(lexicon.children) for u, child in kids.items())
        self.keys = np.array([k for k, _ in edges], dtype=np.int64)
        self.child = np.array([c for _, c in edges], dtype=np.int64)
        self.table = None  # [nodes, units] -> child or -1, where it fits in memory
        if (self.after_sep + 1) * num_units <= dense_limit:
            self.table = np.full((self.after_sep + 1) * num_units, -1, dtype=np.int64)
            self.table[self.keys] = self.child
        self.word_at = np.array(list(lexicon.word_at) + [-1], dtype=np.int64)
        self.final = np.where(self.word_at >= 0, self.word_at, CANNOT_END)
        self.final[ROOT] = -1                       # the empty output is complete
        self.final[self.after_sep] = CANNOT_END

    def lookahead(self, word_scores: np.ndarray) -> np.ndarray:
        """[nodes]: inside a word, the best score of the words it may still become (0 at the roots)."""
        best = np.full(self.after_sep + 1, -math.inf)
        ends = np.flatnonzero(self.word_at >= 0)
        best[ends] = word_scores[self.word_at[ends]]
        parents = np.zeros(len(self.child), dtype=np.int64)
        parents[:] = self.keys // self.C
        for k in np.argsort(-self.child, kind="stable").tolist():     # deepest (newest) nodes first
            best[parents[k]] = max(best[parents[k]], best[self.child[k]])
        best[ROOT] = best[self.after_sep] = 0.0
        return best

    def lookup(self, nodes: np.ndarray, units: np.ndarray) -> np.ndarray:
        """The child of each (node, unit), or -1 where the trie has no such edge."""
        q = nodes * self.C + units
        if self.table is not None:
            return self.table[q]
        i = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        return np.where(self.keys[i] == q, self.child[i], -1)

    def moves(self, node: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every allowed move of each (node, unit) pair: (pair index, move, child, word finished or -1),
        grouped by move, each group in pair order. Moves: 0 on in the word (or the word's first unit, at a root), 1 the separator
        after a word, 2 straight into the next word after a word."""
        at_root = (node == ROOT) | (node == self.after_sep)
        child = self.lookup(np.where(at_root, ROOT, node), units)
        pairs = [np.flatnonzero(child >= 0)]
        moves, children, done = [np.zeros(len(pairs[0]), np.int64)], [child[pairs[0]]], [np.full(len(pairs[0]), -1)]
        ending = np.flatnonzero(~at_root & (self.word_at[node] >= 0))          # rows at a word's end
        finished, u = self.word_at[node[ending]], units[ending]
        if self.sep is not None:
            k = np.flatnonzero(u == self.sep)
            pairs.append(ending[k]), moves.append(np.ones(len(k), np.int64))
            children.append(np.full(len(k), self.after_sep)), done.append(finished[k])
        if self.sep is None or self.optional:
            nxt = self.lookup(np.zeros_like(u), u)
            k = np.flatnonzero(nxt >= 0) if self.sep is None else np.flatnonzero((nxt >= 0) & (u != self.sep))
            pairs.append(ending[k]), moves.append(np.full(len(k), 2, np.int64)), children.append(nxt[k])
            done.append(finished[k])
        return np.concatenate(pairs), np.concatenate(moves), np.concatenate(children), np.concatenate(done)


class _WordLM:
    """Word completions scored by an LMScorer. LM states are numbered as they are made (a state
    and a word give a new one: states are opaque, never compared); each state's distribution over
    the lexicon's words is asked for once, batched over the states new in a frame; the moves
    (state, word) -> (next state, log P) are a sorted array searched for a whole frame at once."""

    def __init__(self, lm, ids: Sequence[int]):
        self.lm, self.ids = lm, np.asarray(ids, dtype=np.int64)
        self.states: list[Any] = [lm.initial_state()]
        self.dists: dict[int, np.ndarray] = {}
        self.keys, self.next, self.logp = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        self.look = np.zeros(1)

    def unigram(self) -> np.ndarray:
        """[words]: log P(word) at the start, for the trie's look-ahead."""
        return np.asarray(self.lm.next_log_probs([self.states[0]])[0], dtype=np.float64)[self.ids]

    def _learn(self, keys: np.ndarray) -> None:
        """Add the moves ``keys`` (state * words + word, distinct, none known yet)."""
        W = len(self.ids)
        state, word = (keys // W).tolist(), (keys % W).tolist()
        need = sorted(set(state) - set(self.dists))
        if need:
            rows = np.asarray(self.lm.next_log_probs([self.states[s] for s in need]), dtype=np.float64)[:, self.ids]
            self.dists.update(zip(need, rows))
        logp = np.array([self.dists[s][w] for s, w in zip(state, word)])
        first = len(self.states)
        self.states += [self.lm.advance(self.states[s], int(self.ids[w])) for s, w in zip(state, word)]
        keys, nxt = np.concatenate([self.keys, keys]), np.concatenate([self.next, np.arange(first, len(self.states))])
        order = np.argsort(keys, kind="stable")
        self.keys, self.next, self.logp = keys[order], nxt[order], np.concatenate([self.logp, logp])[order]

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        return pos, (self.keys[pos] == keys) if len(self.keys) else np.zeros(len(keys), bool)

    def apply(self, states: np.ndarray, scores: np.ndarray, words: np.ndarray) -> None:
        """For rows whose word ``words`` >= 0 finished: advance ``states`` and add to ``scores`` in place."""
        rows = np.flatnonzero(words >= 0)
        if not len(rows):
            return
        keys = states[rows] * len(self.ids) + words[rows]
        pos, known = self._find(keys)
        if not known.all():
            self._learn(np.unique(keys[~known]))
            pos, _ = self._find(keys)
        states[rows] = self.next[pos]
        scores[rows] += self.logp[pos]


def _lse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.logaddexp(a, b)


def _grid(b: np.ndarray, B: int, *groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Column of each row in a [B, width] grid: rows of utterance i fill row i in order. ``b`` lists
    the utterance of each row: the concatenation of ``groups`` (index arrays into ``b``), each
    sorted by utterance."""
    col = np.empty(len(b), dtype=np.int64)
    filled = np.zeros(B, dtype=np.int64)
    for g in groups:
        gb = b[g]
        counts = np.bincount(gb, minlength=B)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        col[g] = filled[gb] + np.arange(len(g)) - first[gb]
        filled += counts
    return col, int(filled.max()) if B else 0


def _best(score: np.ndarray, k: int) -> np.ndarray:
    """Mask [B, W] of each row's k best finite entries (and any tied with the k-th)."""
    return (score >= _kth(score, k)[:, None]) & (score > -math.inf)


def _kth(score: np.ndarray, k: int) -> np.ndarray:
    """[B]: each row's k-th best entry (-inf where it has fewer)."""
    width = score.shape[1]
    if width < k:
        return np.full(score.shape[0], -math.inf)
    if k == 1:
        return score.max(1)
    return np.partition(score, width - k, axis=1)[:, width - k]


def _scatter(b: np.ndarray, col: np.ndarray, values: np.ndarray, shape: tuple[int, int],
             where: np.ndarray | None = None) -> np.ndarray:
    """A [B, W] grid of -inf with ``values`` at (b, col) (only where ``where``)."""
    grid = np.full(shape, -math.inf)
    if where is None:
        grid[b, col] = values
    else:
        grid[b[where], col[where]] = values[where]
    return grid


def _frame(r: dict, row: np.ndarray, cand: np.ndarray, trie: TrieArrays, blank: int, beam: int, nbest: int,
           bonus: float, word_lm: _WordLM | None, weight: float):
    """One frame: (the kept rows, and their (came from, unit emitted or -1, word finished or -1))."""
    b, pb, pnb, last = r["b"], r["pb"], r["pnb"], r["last"]
    B, C, M = len(row), row.shape[1], len(b)
    salt = b.astype(np.uint64) * _K3
    parent = _find(r["hash"] ^ salt, r["up"] ^ salt)        # the row holding each row's parent prefix, or -1
    ptot = _lse(pb, pnb)
    stay_b = ptot + row[b, blank]
    stay_nb = np.where(last >= 0, pnb + row[b, np.maximum(last, 0)], -math.inf)
    stay_total = _lse(stay_b, stay_nb)
    # The parent's path into a row through the row's last unit again (when it is a candidate);
    # the likelier of the two paths says when that unit was emitted.
    g = np.flatnonzero(parent >= 0)
    taken = np.zeros(M * C * 3, dtype=bool)
    taken[(parent[g] * C + last[g]) * 3 + r["move"][g]] = True
    g = g[cand[b[g], last[g]]]
    h = parent[g]
    p = np.where(last[g] == last[h], pb[h], ptot[h]) + row[b[g], last[g]]
    prev, unit, fin = np.arange(M), np.full(M, -1), np.full(M, -1)
    later = p > stay_total[g]
    prev[g[later]], unit[g[later]], fin[g[later]] = h[later], last[g[later]], r["fin"][g[later]]
    stay_nb[g] = _lse(stay_nb[g], p)
    look = word_lm.look[r["node"]] if word_lm is not None else 0.0
    score = _lse(stay_b, stay_nb) + bonus * r["nw"] + weight * (r["lm"] + look)
    P = np.where(np.arange(C)[None, :] == last[:, None], pb[:, None], ptot[:, None]) + row[b]     # [M, C]
    bound = _bound(r, P, cand[b], taken, score, trie, B, beam, nbest, bonus, word_lm, weight)
    # Extensions that could still be kept (an upper bound of their score reaches the bound).
    upper = P + (bonus * (r["nw"] + (bonus > 0)) + weight * r["lm"])[:, None]
    m, u = np.nonzero(cand[b] & (upper >= bound[b][:, None]) & (P > -math.inf))
    p = P[m, u]
    i, move, child, done = trie.moves(r["node"][m], u)
    m, u, p = m[i], u[i], p[i]
    new = ~taken[(m * C + u) * 3 + move]                               # rows that exist already
    m, u, p, move, child, done = m[new], u[new], p[new], move[new], child[new], done[new]
    starts = np.where(move == 0, (r["node"][m] == ROOT) | (r["node"][m] == trie.after_sep), move == 2).astype(np.int64)
    lms, lm = r["lms"][m].copy(), r["lm"][m].copy()
    if word_lm is not None:
        word_lm.apply(lms, lm, done)
    c = {"b": np.concatenate([b, b[m]]), "pb": np.concatenate([stay_b, np.full(len(m), -math.inf)]),
         "pnb": np.concatenate([stay_nb, p]), "last": np.concatenate([last, u]),
         "node": np.concatenate([r["node"], child]), "nw": np.concatenate([r["nw"], r["nw"][m] + starts]),
         "hash": np.concatenate([r["hash"], _mix(r["hash"][m], u, child)]),
         "up": np.concatenate([r["up"], r["hash"][m]]), "move": np.concatenate([r["move"], move]),
         "lms": np.concatenate([r["lms"], lms]), "lm": np.concatenate([r["lm"], lm]),
         "fin": np.concatenate([r["fin"], done])}
    steps = (np.concatenate([prev, m]), np.concatenate([unit, u]), np.concatenate([fin, done]))
    look = word_lm.look[child] if word_lm is not None else 0.0
    scores = np.concatenate([score, p + bonus * c["nw"][M:] + weight * (lm + look)])
    groups = np.cumsum(np.concatenate([[M], np.bincount(move, minlength=3)]))
    k = _prune(c["b"], scores, trie.final[c["node"]] != CANNOT_END, B, groups, beam, nbest)
    return {name: v[k] for name, v in c.items()}, tuple(s[k] for s in steps)


def _bound(r: dict, P: np.ndarray, cand: np.ndarray, taken: np.ndarray, score: np.ndarray, trie: TrieArrays,
           B: int, beam: int, nbest: int, bonus: float, word_lm: _WordLM | None, weight: float) -> np.ndarray:
    """[B]: what a new row must score to be kept. Below it, a row is not among the ``beam`` best
    (that many known candidates beat it: the stays, and each row's best new extension on in its
    word) nor among the ``nbest`` best that could end (that many stays that could end beat it)."""
    b, node, M = r["b"], r["node"], len(r["b"])
    at_root = (node == ROOT) | (node == trie.after_sep)
    child = trie.lookup(np.where(at_root, ROOT, node)[:, None], np.arange(P.shape[1])[None, :])     # [M, C]
    fresh = cand & (child >= 0) & ~taken.reshape(M, -1, 3)[:, :, 0]
    look = weight * word_lm.look[np.maximum(child, 0)] if word_lm is not None else 0.0
    extension = P + (bonus * (r["nw"] + at_root) + weight * r["lm"])[:, None] + look
    best_new = np.where(fresh, extension, -math.inf).max(1) if M else np.zeros(0)
    col, width = _grid(b, B, np.arange(M))
    both = np.concatenate([_scatter(b, col, score, (B, width)), _scatter(b, col, best_new, (B, width))], axis=1)
    final = trie.final[node] != CANNOT_END
    return np.minimum(_kth(both, beam), _kth(_scatter(b, col, score, (B, width), final), nbest))


def _prune(b: np.ndarray, score: np.ndarray, final: np.ndarray, B: int, groups: np.ndarray, beam: int,
           nbest: int) -> np.ndarray:
    """Candidate rows to keep, grouped by utterance: each one's ``beam`` best, and its ``nbest``
    best that could end here (an answer for every utterance). The rows [0, groups[0]),
    [groups[0], groups[1]), ... are each in utterance order."""
    bounds = np.concatenate([[0], groups])
    col, width = _grid(b, B, *(np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])))
    keep = _best(_scatter(b, col, score, (B, width)), beam) | _best(_scatter(b, col, score, (B, width), final), nbest)
    k = np.flatnonzero(keep[b, col])
    return k[np.argsort(b[k], kind="stable")]


def search(lp: np.ndarray, cand: np.ndarray, trie: TrieArrays, words: Sequence[str], blank: int,
           beam_size: int, nbest: int, word_bonus: float, lm=None, lm_weight: float = 0.0,
           lm_ids: Sequence[int] | None = None) -> list[list[Hypothesis]]:
    """lp [B, T, C] float64, padded past each length with blank = 0 and the rest -inf; cand [B, T, C]."""
    B, T, C = lp.shape
    word_lm = None
    if lm is not None:
        word_lm = _WordLM(lm, lm_ids if lm_ids is not None else range(len(words)))
        word_lm.look = trie.lookahead(word_lm.unigram())
    rows = {"b": np.arange(B), "pb": np.zeros(B), "pnb": np.full(B, -math.inf), "last": np.full(B, -1),
            "node": np.zeros(B, np.int64), "nw": np.zeros(B, np.int64), "hash": np.zeros(B, np.uint64),
            "up": np.ones(B, np.uint64),
            "move": np.zeros(B, np.int64), "lms": np.zeros(B, np.int64), "lm": np.zeros(B), "fin": np.full(B, -1)}
    history = []
    for t in range(T):
        rows, steps = _frame(rows, lp[:, t, :], cand[:, t, :], trie, blank, beam_size, nbest, word_bonus, word_lm,
                             lm_weight)
        history.append(steps)
    return _finish(rows["b"], rows["pb"], rows["pnb"], rows["node"], rows["nw"], rows["lms"], rows["lm"], history,
                   trie, words, word_lm, B, nbest, word_bonus, lm_weight)


def _finish(utt, pb, pnb, node, nw, lm_state, lm_score, history, trie, words, word_lm, B, nbest, word_bonus,
            lm_weight) -> list[list[Hypothesis]]:
    """Each utterance's ``nbest`` complete rows, best first (equal scores by their words, then
    units), read back through the frames' pointers."""
    end = trie.final[node]
    lm_score = lm_score.copy()
    if word_lm is not None:
        word_lm.apply(lm_state.copy(), lm_score, end)
    acoustic = _lse(pb, pnb)
    score = acoustic + word_bonus * nw + lm_weight * lm_score
    found: list[list[Hypothesis]] = [[] for _ in range(B)]
    for i in np.lexsort((-score, utt)).tolist():
        b = int(utt[i])
        if end[i] == CANNOT_END or score[i] == -math.inf:
            continue
        if len(found[b]) >= nbest and score[i] < found[b][-1].score:   # beyond the nbest (and their ties)
            continue
        tokens, times, done = [], [], [int(end[i])] if end[i] >= 0 else []
        s = i
        for t in range(len(history) - 1, -1, -1):
            prev, unit, fin = history[t]
            if unit[s] >= 0:
                tokens.append(int(unit[s]))
                times.append(t)
                if fin[s] >= 0:
                    done.append(int(fin[s]))
            s = prev[s]
        found[b].append(Hypothesis(tokens=tuple(reversed(tokens)), score=float(score[i]), timesteps=tuple(reversed(times)),
                                   acoustic_score=float(acoustic[i]), lm_score=float(lm_score[i]),
                                   words=tuple(words[w] for w in reversed(done))))
    return [sorted(hyps, key=lambda h: (-h.score, h.words, h.tokens))[:nbest] for hyps in found]
