import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ctc_reference import label_log_probs, random_log_probs
from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.beam import candidate_tokens, exact_log_prob, prefix_beam_search
from rnnkit.decoding.greedy import greedy_decode
from rnnkit.decoding.lm import lm_sequence_log_prob
from rnnkit.decoding.ngram import NgramLM


class BigramTable:
    """A toy LMScorer: next-token log-probs depend on the last token only."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)   # [C + 1, C]; row C is the empty prefix

    def initial_state(self):
        return len(self.table) - 1

    def next_log_probs(self, states):
        return self.table[list(states)]

    def advance(self, state, token):
        return token


@pytest.mark.parametrize("seed, T, C, blank", [(0, 5, 3, 0), (1, 5, 3, 2), (2, 4, 4, 0), (3, 5, 4, 1), (4, 1, 3, 0)])
def test_wide_beam_is_exact(seed, T, C, blank):
    lp = random_log_probs(seed, T, C)
    reference = sorted(label_log_probs(lp, blank).items(), key=lambda kv: -kv[1])
    nbest = prefix_beam_search(lp[None], blank=blank, beam_size=500, nbest=5, token_threshold=None)[0]
    assert [h.tokens for h in nbest] == [labels for labels, _ in reference[:5]]
    for h, (_, log_p) in zip(nbest, reference):
        assert h.score == pytest.approx(log_p, abs=1e-9) and h.acoustic_score == h.score


@pytest.mark.parametrize("seed", range(3))
def test_wide_beam_with_lm_maximises_the_fused_score(seed):
    C, T, blank, weight, bonus = 3, 5, 0, 0.8, 0.4
    lp = random_log_probs(seed, T, C, scale=1.0)
    table = np.log(np.random.default_rng(seed + 10).dirichlet(np.ones(C), size=C + 1))
    lm = BigramTable(table)
    fused = {labels: log_p + weight * lm_sequence_log_prob(lm, labels) + bonus * len(labels)
             for labels, log_p in label_log_probs(lp, blank).items()}
    best = max(fused, key=fused.get)
    [h] = prefix_beam_search(lp[None], blank=blank, beam_size=500, token_threshold=None, lm=lm, lm_weight=weight,
                             insertion_bonus=bonus)[0]
    assert h.tokens == best and h.score == pytest.approx(fused[best], abs=1e-9)
    assert h.lm_score == pytest.approx(lm_sequence_log_prob(lm, best), abs=1e-9)


def test_lm_fusion_in_a_batch_matches_one_by_one():
    vocab = Vocabulary(tokens=("_", "a", "b", "c"), unk=None, blank="_")
    lm = NgramLM.fit(["abcabcab", "cab"], vocab, order=3)
    utterances = [random_log_probs(seed, T, 4, scale=1.0) for seed, T in ((5, 7), (6, 3), (7, 5))]
    batch = np.zeros((3, 7, 4))
    for b, u in enumerate(utterances):
        batch[b, :len(u)] = u
    options = dict(blank=0, beam_size=6, nbest=3, lm=lm, lm_weight=0.7, insertion_bonus=0.5)
    together = prefix_beam_search(batch, [7, 3, 5], **options)
    for u, hyps in zip(utterances, together):
        assert hyps == prefix_beam_search(u[None], **options)[0]
        for h in hyps:
            assert h.lm_score == pytest.approx(lm.score(h.tokens))
            assert h.score == pytest.approx(h.acoustic_score + 0.7 * h.lm_score + 0.5 * len(h.tokens))


def test_ngram_lm_changes_the_choice():
    vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
    lp = np.log(np.array([[[0.1, 0.45, 0.45], [0.1, 0.45, 0.45]]]))   # acoustically "ab" = "ba"
    lm = NgramLM.fit(["ababababab"], vocab, order=2)
    [h] = prefix_beam_search(lp, blank=0, beam_size=8, lm=lm, lm_weight=1.0, insertion_bonus=2.0)[0]
    assert h.tokens == (1, 2)
    [hb] = prefix_beam_search(lp, blank=0, beam_size=8, lm=NgramLM.fit(["bababa"], vocab, order=2),
                              lm_weight=1.0, insertion_bonus=2.0)[0]
    assert hb.tokens == (2, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 8), st.integers(2, 5), st.integers(1, 6),
       st.sampled_from([None, 3.0]), st.sampled_from([None, 2]))
def test_hypotheses_are_consistent(seed, T, C, beam, threshold, top_k):
    lp = random_log_probs(seed, T, C)
    blank = seed % C
    nbest = prefix_beam_search(lp[None], [T], blank=blank, beam_size=beam, nbest=beam, token_threshold=threshold,
                               top_k=top_k)[0]
    assert 1 <= len(nbest) <= beam
    assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
    assert len({h.tokens for h in nbest}) == len(nbest)
    for h in nbest:
        assert blank not in h.tokens and len(h.timesteps) == len(h.tokens)
        assert all(0 <= a < b < T for a, b in zip(h.timesteps, h.timesteps[1:])) or len(h.timesteps) < 2
        assert all(0 <= t < T for t in h.timesteps)
        # A pruned search can only lose alignments: its score is a lower bound.
        assert h.score <= exact_log_prob(lp, h.tokens, blank) + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 6))
def test_wide_beam_beats_greedy(seed, T):
    lp = random_log_probs(seed, T, 3)
    [[greedy]] = greedy_decode(lp[None], collapse="ctc", blank=0)
    [best] = prefix_beam_search(lp[None], blank=0, beam_size=200, token_threshold=None)[0]
    assert best.score >= exact_log_prob(lp, greedy.tokens, 0) - 1e-9


def test_padding_is_ignored_and_batches_are_independent():
    a, b = random_log_probs(1, 6, 4), random_log_probs(2, 4, 4)
    batch = np.stack([a, np.concatenate([b, np.zeros((2, 4))])])
    together = prefix_beam_search(batch, [6, 4], blank=0, nbest=3)
    assert together[0] == prefix_beam_search(a[None], blank=0, nbest=3)[0]
    assert together[1] == prefix_beam_search(b[None], blank=0, nbest=3)[0]


def test_empty_utterance_gives_the_empty_hypothesis():
    [[h]] = prefix_beam_search(np.zeros((1, 3, 4)), [0], blank=0)
    assert h.tokens == () and h.score == 0.0


def test_hypotheses_are_immutable():
    [[h]] = prefix_beam_search(random_log_probs(0, 3, 3)[None], blank=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.score = 1.0


def test_candidate_tokens_keep_threshold_and_top_k():
    lp = np.log([[0.5, 0.3, 0.15, 0.05]])
    assert candidate_tokens(lp, 0).tolist() == [[False, True, True, True]]
    assert candidate_tokens(lp, 0, token_threshold=math.log(0.5 / 0.14)).tolist() == [[False, True, True, False]]
    assert candidate_tokens(lp, 1, top_k=2).tolist() == [[True, False, False, False]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(blank=4), "blank id 4 is outside the vocabulary of 4 symbols"),
    (dict(blank=0, beam_size=0), "beam_size and nbest must be positive, got 0 and 1"),
    (dict(blank=0, beam_size=2, nbest=3), "nbest (3) cannot exceed beam_size (2)"),
    (dict(blank=0, top_k=0), "top_k must be positive, got 0"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError) as info:
        prefix_beam_search(np.zeros((1, 3, 4)), **kwargs)
    assert str(info.value) == message


def test_timesteps_follow_the_likely_path():
    """"1 2" is first reached at frame 1 by an unlikely 2, but emitted where 2 is likely (frame 2)."""
    lp = np.full((1, 4, 3), np.log(0.02))
    for t, unit in enumerate([1, 1, 2, 0]):
        lp[0, t, unit] = np.log(0.96)
    [h] = prefix_beam_search(lp, blank=0, beam_size=8)[0]
    assert h.tokens == (1, 2) and h.timesteps == (0, 2)
