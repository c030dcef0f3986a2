"""CTC prefix beam search, optionally fused with a language model.

Every hypothesis is a label *prefix* with two probabilities: ``p_b`` (all alignments so far
that end in blank) and ``p_nb`` (those that end in the prefix's last label). At each frame a
prefix either stays (a blank, or a repeat of its last label) or grows by a label ``c``:
from ``p_b + p_nb`` in general, but only from ``p_b`` when ``c`` repeats the last label, since
without a blank between, a repeat merges. Summing over alignments this way makes the score of
a surviving prefix the total probability of its label sequence (a lower bound once the beam
has pruned some paths); with an unbounded beam the search is exact.

Ranking score = ``log(p_b + p_nb) + lm_weight * log P_lm(prefix) + insertion_bonus * len``.

Speed: the whole batch advances together, one vectorised numpy step per frame over a
``[B, beam, tokens]`` grid of extensions, so the Python overhead is paid per frame, not per
hypothesis. Only tokens within ``token_threshold`` of the frame's best (optionally also among
its ``top_k``) are tried. Prefixes are identified by a 62-bit hash of their labels (two
polynomial hashes modulo primes near 2^31; two distinct prefixes of one utterance collide with
probability about n^2 / 2^62, around 1e-11 for ten thousand prefixes), so merging an extension
into an existing hypothesis is an array comparison, and labels and emission frames are
recovered at the end from per-frame back-pointers.

>>> import numpy as np
>>> lp = np.log([[[0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.5, 0.4, 0.1]]])   # [1, 3, 3], blank 0
>>> best = prefix_beam_search(lp, blank=0, beam_size=8, nbest=2)[0]
>>> [(h.tokens, round(float(np.exp(h.score)), 3)) for h in best]        # P("1") = 0.524
[((1,), 0.524), ((), 0.125)]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .hypothesis import Hypothesis, check_inputs
from .lm import LMScorer

NEG_INF = -np.inf
_CHUNK_ELEMENTS = 1 << 20


def candidate_tokens(log_probs: np.ndarray, blank: int, token_threshold: float | None = None,
                     top_k: int | None = None) -> np.ndarray:
    """Which tokens a frame may extend a prefix with: [T, C] -> bool mask [T, C] (blank False).

    A token is kept when its log-prob is within ``token_threshold`` of the frame's best and,
    if ``top_k`` is given, among the frame's ``top_k`` best (blank counted).

    >>> lp = np.log([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    >>> candidate_tokens(lp, blank=0, token_threshold=1.0).tolist()
    [[False, False, False], [False, True, True]]
    >>> candidate_tokens(lp, blank=0, top_k=2).tolist()
    [[False, True, False], [False, True, True]]
    """
    keep = np.ones(log_probs.shape, dtype=bool)
    if token_threshold is not None:
        keep &= log_probs >= log_probs.max(-1, keepdims=True) - token_threshold
    if top_k is not None and top_k < log_probs.shape[-1]:
        ranked = np.argpartition(-log_probs, top_k - 1, axis=-1)[..., :top_k]
        top = np.zeros_like(keep)
        np.put_along_axis(top, ranked, True, axis=-1)
        keep &= top
    keep[..., blank] = False
    return keep


# Prefix hash: h -> (h * P + token + 1) mod M in each of two lanes; id = h1 * 2^31 + h2.
_M1, _P1, _M2, _P2 = 2147483647, 1000003, 2147483629, 911382323
_LOW = (1 << 31) - 1


def _extend_ids(ids: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Ids of prefixes ``ids`` grown by ``tokens`` (int64 arrays of one shape)."""
    h1 = ((ids >> 31) * _P1 + tokens + 1) % _M1
    h2 = ((ids & _LOW) * _P2 + tokens + 1) % _M2
    return (h1 << 31) | h2


class _Beam:
    """The beams of a batch of utterances: [B, K] arrays (K = beam size; empty slots hold -inf)."""

    def __init__(self, B: int, K: int, lm: LMScorer | None) -> None:
        self.empty_ids = -2 - np.arange(K)[None, :]             # distinct negative ids for empty slots
        self.ids = np.repeat(self.empty_ids, B, 0)
        self.ids[:, 0] = 0                                       # the empty prefix
        self.parents = np.full((B, K), -1)                      # id of the prefix less its last label
        self.last = np.full((B, K), -1)                         # last label (-1: empty prefix)
        self.p_b = np.full((B, K), NEG_INF)
        self.p_b[:, 0] = 0.0
        self.p_nb = np.full((B, K), NEG_INF)
        self.bonus = np.zeros((B, K))                           # lm_weight * lm + insertion_bonus * len
        self.lm_score = np.zeros((B, K))
        self.states = [lm.initial_state()] * (B * K) if lm is not None else []   # row-major [B, K]
        # Next-token LM log-probs per hypothesis [B, K, C], asked for once when it joins the beam.
        self.lm_rows = np.zeros((B, K, 0))
        self.lm_pending = np.ones((B, K), dtype=bool)


def _lm_ext(beam: _Beam, a: int, cand: np.ndarray, lm: LMScorer) -> np.ndarray:
    """[a, K, V] LM log-probs of each candidate after each prefix of the first ``a`` beams."""
    pending = np.flatnonzero((beam.lm_pending[:a] & (beam.ids[:a] >= 0)).ravel())   # flat [B, K] indices
    if pending.size:
        rows = np.asarray(lm.next_log_probs([beam.states[n] for n in pending.tolist()]), dtype=np.float64)
        if beam.lm_rows.shape[2] != rows.shape[1]:
            beam.lm_rows = np.zeros(beam.lm_pending.shape + rows.shape[1:])
        beam.lm_rows.reshape(-1, rows.shape[1])[pending] = rows
        beam.lm_pending.reshape(-1)[pending] = False
    return np.take_along_axis(beam.lm_rows[:a], cand[:, None, :], 2)


def _merge(beam: _Beam, a: int, k_last: np.ndarray, cand_lp: np.ndarray, p_tot: np.ndarray,
           stay_b: np.ndarray, stay_nb: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Fold extensions that are already in the beam into those hypotheses (``stay_nb`` in place).

    Row j already holds "row i's prefix + its last label" when j's parent is i's id and that
    label is a candidate (column ``k_last[j]``); that extension adds to j's p_nb instead of
    entering the grid. Returns back-pointers for the stays, (source row, emitted label), which
    point at row i where the new path outweighs j's own, and the grid cells (b, i, k) to drop.
    """
    K = beam.ids.shape[1]
    ids, parents, last, p_b = beam.ids[:a], beam.parents[:a], beam.last[:a], beam.p_b[:a]
    src, tok = np.broadcast_to(np.arange(K), (a, K)).copy(), np.full((a, K), -1)
    match = parents[:, :, None] == ids[:, None, :]                      # [a, K(j), K(i)]
    b, j = np.nonzero(match.any(2) & (k_last >= 0) & (ids >= 0))       # empty slots hold no prefix
    if not b.size:
        return src, tok, (b, b, b)
    i, k = match[b, j].argmax(1), k_last[b, j]
    label = last[b, j]
    grown = np.where(last[b, i] == label, p_b[b, i], p_tot[b, i]) + cand_lp[b, k]
    wins = grown > np.logaddexp(stay_b[b, j], stay_nb[b, j])
    src[b[wins], j[wins]], tok[b[wins], j[wins]] = i[wins], label[wins]
    stay_nb[b, j] = np.logaddexp(stay_nb[b, j], grown)
    return src, tok, (b, i, k)


def _step(beam: _Beam, a: int, lp_t: np.ndarray, cand_t: np.ndarray, blank: int, beam_threshold: float | None,
          lm: LMScorer | None, lm_weight: float, insertion_bonus: float) -> tuple[np.ndarray, np.ndarray]:
    """Advance the first ``a`` beams by one frame (lp_t, cand_t: [a, C]); returns back-pointers [a, K]."""
    K = beam.ids.shape[1]
    rows = np.arange(a)[:, None]
    p_b, p_nb, last, bonus = beam.p_b[:a], beam.p_nb[:a], beam.last[:a], beam.bonus[:a]
    p_tot = np.logaddexp(p_b, p_nb)
    stay_b = p_tot + lp_t[:, blank, None]
    # last = -1 (empty prefix) reads the final column; np.where discards it.
    stay_nb = np.where(last >= 0, p_nb + lp_t[rows, last], NEG_INF)
    V = int(cand_t.sum(1).max())
    masked = np.where(cand_t, lp_t, NEG_INF)
    cand = np.argsort(-masked, 1, kind="stable")[:, :V]                # [a, V] best candidates first
    cand_lp = masked[rows, cand]                                        # [a, V]
    column = np.full(lp_t.shape, -1)
    column[rows, cand] = np.arange(V)
    k_last = np.where(last >= 0, column[rows, last], -1)                # [a, K] column of the last label
    src, tok, (mb, mi, mk) = _merge(beam, a, k_last, cand_lp, p_tot, stay_b, stay_nb)
    scores = np.empty((a, K + K * V))
    scores[:, :K] = np.logaddexp(stay_b, stay_nb) + bonus
    # grid[b, i, k]: prefix i grown by cand[k], from p_b + p_nb, or only p_b for a repeat.
    grid = scores[:, K:].reshape(a, K, V)
    np.add((p_tot + bonus + insertion_bonus)[:, :, None], cand_lp[:, None, :], out=grid)
    rb, rj = np.nonzero(k_last >= 0)
    rk = k_last[rb, rj]
    grid[rb, rj, rk] = p_b[rb, rj] + bonus[rb, rj] + insertion_bonus + cand_lp[rb, rk]
    grid[mb, mi, mk] = NEG_INF
    lm_ext = _lm_ext(beam, a, cand, lm) if lm is not None and V else None
    if lm_ext is not None:
        grid += lm_weight * lm_ext
    top = np.argpartition(-scores, K - 1, 1)[:, :K] if scores.shape[1] > K else np.arange(K)[None].repeat(a, 0)
    best = scores[rows, top]
    valid = np.isfinite(best)
    if beam_threshold is not None:
        valid &= best >= best.max(1, keepdims=True) - beam_threshold
    stay = top < K
    i, k = np.where(stay, top, (top - K) // max(V, 1)), np.where(stay, 0, (top - K) % max(V, 1))
    label = np.where(stay, -1, cand[rows, k] if V else -1)
    ids, old_last = beam.ids[:a][rows, i], last[rows, i]
    grown_nb = np.where(old_last == label, p_b[rows, i], p_tot[rows, i]) + (cand_lp[rows, k] if V else NEG_INF)
    grown_lm = lm_ext[rows, i, k] if lm_ext is not None else 0.0
    beam.ids[:a] = np.where(valid, np.where(stay, ids, _extend_ids(ids, label)), beam.empty_ids)
    beam.parents[:a] = np.where(stay, beam.parents[:a][rows, i], ids)
    beam.last[:a] = np.where(stay, old_last, label)
    beam.p_b[:a] = np.where(valid & stay, stay_b[rows, i], NEG_INF)
    beam.p_nb[:a] = np.where(valid, np.where(stay, stay_nb[rows, i], grown_nb), NEG_INF)
    beam.bonus[:a] = bonus[rows, i] + np.where(stay, 0.0, insertion_bonus + lm_weight * grown_lm)
    if lm is not None:
        beam.lm_score[:a] = beam.lm_score[:a][rows, i] + np.where(stay, 0.0, grown_lm)
        if beam.lm_rows.shape[2]:
            beam.lm_rows[:a] = beam.lm_rows[:a][rows, i]
        beam.lm_pending[:a] = ~stay | beam.lm_pending[:a][rows, i]
        old = beam.states
        beam.states = [old[b * K + r] if s else lm.advance(old[b * K + r], c) for b, (rr, ss, cc) in
                       enumerate(zip(i.tolist(), stay.tolist(), label.tolist())) for r, s, c in zip(rr, ss, cc)
                       ] + old[a * K:]
    return np.where(stay, src[rows, i], i), np.where(stay, tok[rows, i], label)


def _search(lp: np.ndarray, lengths: np.ndarray, cand: np.ndarray, blank: int, beam_size: int, nbest: int,
            beam_threshold: float | None, lm: LMScorer | None, lm_weight: float,
            insertion_bonus: float) -> list[list[Hypothesis]]:
    """Prefix beam search of a batch sorted by decreasing length: lp [B, T, C], cand [B, T, C]."""
    B, T, _ = lp.shape
    K = beam_size
    beam = _Beam(B, K, lm)
    back_row = np.broadcast_to(np.arange(K, dtype=np.int32), (T, B, K)).copy()   # row at frame t-1
    back_tok = np.full((T, B, K), -1, dtype=np.int32)                            # label emitted at t
    for t in range(T):
        a = int((lengths > t).sum())      # utterances still running: a prefix of the sorted batch
        if a == 0:
            break
        back_row[t, :a], back_tok[t, :a] = _step(beam, a, lp[:a, t], cand[:a, t], blank, beam_threshold, lm,
                                                 lm_weight, insertion_bonus)
    acoustic = np.logaddexp(beam.p_b, beam.p_nb)
    final = acoustic + beam.bonus
    order = np.argsort(-final, 1, kind="stable")[:, :nbest]                      # [B, n]
    rows = np.arange(B)[:, None]
    r, emitted = order, np.empty((T, B, order.shape[1]), dtype=np.int32)
    for t in range(T - 1, -1, -1):
        emitted[t] = back_tok[t][rows, r]
        r = back_row[t][rows, r]
    out = []
    for b in range(B):
        hyps = []
        for n, i in enumerate(order[b].tolist()):
            if not np.isfinite(final[b, i]):
                break
            frames = np.flatnonzero(emitted[:, b, n] >= 0)
            hyps.append(Hypothesis(tokens=tuple(emitted[frames, b, n].tolist()), score=float(final[b, i]),
                                   timesteps=tuple(frames.tolist()), acoustic_score=float(acoustic[b, i]),
                                   lm_score=float(beam.lm_score[b, i])))
        out.append(hyps)
    return out


def prefix_beam_search(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                       *, blank: int, beam_size: int = 16, nbest: int = 1, token_threshold: float | None = 10.0,
                       top_k: int | None = None, beam_threshold: float | None = None,
                       lm: LMScorer | None = None, lm_weight: float = 0.5,
                       insertion_bonus: float = 0.0) -> list[list[Hypothesis]]:
    """CTC prefix beam search over a [B, T, C] batch of log-probabilities.

    ``beam_size`` prefixes are kept per frame; ``nbest`` (<= beam_size) are returned per
    utterance, best first. Token pruning: a frame only extends prefixes with tokens within
    ``token_threshold`` nats of its best token (None: all) and, if given, among its ``top_k``.
    ``beam_threshold``: drop prefixes that score that far below the frame's best (None: keep
    ``beam_size``). ``lm`` (see :class:`~rnnkit.decoding.lm.LMScorer`) is weighted by
    ``lm_weight``; ``insertion_bonus`` is added per output token (it offsets the LM's
    preference for short outputs).

    >>> lp = np.log(np.full((2, 4, 3), 1 / 3))
    >>> [len(n) for n in prefix_beam_search(lp, [4, 0], blank=0, nbest=3)]
    [3, 1]
    """
    if beam_size < 1 or nbest < 1:
        raise ValueError(f"beam_size and nbest must be positive, got {beam_size} and {nbest}")
    if nbest > beam_size:
        raise ValueError(f"nbest ({nbest}) cannot exceed beam_size ({beam_size})")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    log_probs, lengths = check_inputs(log_probs, lengths, blank)
    B, T, C = log_probs.shape
    out: list[list[Hypothesis]] = [[] for _ in range(B)]
    order = np.argsort(-lengths, kind="stable")         # longest first: running utterances lead
    # Chunks bound the memory of the [B, K, V] grids and the [T, B, K] back-pointers.
    chunk = max(1, min(_CHUNK_ELEMENTS // (beam_size * C), 16 * _CHUNK_ELEMENTS // (beam_size * max(T, 1))))
    for start in range(0, B, chunk):
        idx = order[start:start + chunk]
        n = lengths[idx]
        lp = log_probs[idx, :int(n.max()) if n.size else 0].astype(np.float64)
        cand = candidate_tokens(lp, blank, token_threshold, top_k)
        for b, hyps in zip(idx.tolist(), _search(lp, n, cand, blank, beam_size, nbest, beam_threshold, lm,
                                                 lm_weight, insertion_bonus)):
            out[b] = hyps
    return out


def exact_log_prob(log_probs: np.ndarray | torch.Tensor, tokens: Sequence[int], blank: int) -> float:
    """log P(tokens | one utterance's log-probs [T, C]) summed over all CTC alignments.

    >>> exact_log_prob(np.log(np.full((3, 2), 0.5)), [1], blank=0) == float(np.log(0.75))
    True
    """
    lp = torch.as_tensor(np.asarray(log_probs), dtype=torch.float64)
    if len(tokens) == 0:
        return float(lp[:, blank].sum())
    nll = torch.nn.functional.ctc_loss(lp[:, None, :], torch.tensor([list(tokens)]), torch.tensor([lp.shape[0]]),
                                       torch.tensor([len(tokens)]), blank=blank, reduction="sum")
    return -float(nll)
