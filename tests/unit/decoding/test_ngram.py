import json
import math

import numpy as np
import pytest

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.lm import LMScorer, lm_sequence_log_prob
from rnnkit.decoding.ngram import NgramLM
from rnnkit.errors import RnnkitError

VOCAB = Vocabulary(tokens=("_", "a", "b", "c", " "), unk=None, blank="_")
TEXTS = ["abc abc cab", "a b c", "bca"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_distribution_sums_to_one_and_never_predicts_blank(order):
    lm = NgramLM.fit(TEXTS, VOCAB, order=order)
    contexts = [(), (1,), (2, 3), (1, 2, 3), (3, 3, 3), (4, 1)]
    rows = lm.next_log_probs([lm._context(c) for c in contexts])
    assert np.allclose(np.exp(rows).sum(1), 1.0)
    assert np.all(rows[:, 0] == -np.inf) and np.all(np.isfinite(rows[:, 1:]))


def test_bigram_matches_hand_computed_kneser_ney():
    lm = NgramLM.fit(["abab"], Vocabulary(tokens=("a", "b", "c"), unk=None), order=2, discount=0.5)
    # Bigrams ab x2, ba x1. Continuation counts: a <- {b}, b <- {a}: P_cont(a) = P_cont(b) = (1 - .5) / 2
    # plus back-off mass .5 * 2 / 2 spread uniformly (1/3): P_cont(c) = 1/6, P_cont(a) = 1/4 + 1/6.
    p_cont = np.array([1 / 4 + 1 / 6, 1 / 4 + 1 / 6, 1 / 6])
    # After "a": c(a .) = 2, one type: P(b | a) = 1.5 / 2 + .5 * 1 / 2 * P_cont(b)
    expected = np.array([0.25 * p_cont[0], 0.75 + 0.25 * p_cont[1], 0.25 * p_cont[2]])
    assert np.allclose(np.exp(lm.next_log_probs([(0,)])[0]), expected)
    # "c" was never a context: the query falls through to the continuation unigram.
    assert np.allclose(np.exp(lm.next_log_probs([(2,)])[0]), p_cont)


def test_protocol_state_and_scores():
    lm = NgramLM.fit(TEXTS, VOCAB, order=3)
    assert isinstance(lm, LMScorer)
    state = lm.initial_state()
    for token in (1, 2, 3, 4):
        state = lm.advance(state, token)
    assert state == (3, 4)
    ids = VOCAB.encode("abc ab").tolist()
    assert lm.score(ids) == pytest.approx(lm_sequence_log_prob(lm, ids))
    assert lm.score(VOCAB.encode("abc").tolist()) > lm.score(VOCAB.encode("cba").tolist())


def test_save_load_round_trip(tmp_path):
    lm = NgramLM.fit(TEXTS, VOCAB, order=3, discount=0.6)
    lm.save(tmp_path / "lm.json")
    again = NgramLM.load(tmp_path / "lm.json")
    assert again.order == 3 and again.discount == 0.6 and again.vocab == VOCAB
    states = [(), (1,), (1, 2), (4, 4)]
    assert np.array_equal(lm.next_log_probs(states), again.next_log_probs(states))
    data = json.loads((tmp_path / "lm.json").read_text())
    assert data["format"] == "rnnkit.ngram" and data["version"] == 1


def test_errors(tmp_path):
    with pytest.raises(RnnkitError, match="^cannot estimate an n-gram model from empty text$"):
        NgramLM.fit(["", ""], VOCAB)
    with pytest.raises(RnnkitError, match=r"^n-gram order must be at least 1, got 0$"):
        NgramLM.fit(TEXTS, VOCAB, order=0)
    with pytest.raises(RnnkitError, match=r"^n-gram discount must lie in \(0, 1\), got 1.5$"):
        NgramLM.fit(TEXTS, VOCAB, discount=1.5)
    with pytest.raises(RnnkitError, match="^character 'z' is not in the vocabulary$"):
        NgramLM.fit(["az"], VOCAB)
    with pytest.raises(RnnkitError, match="^cannot read n-gram model"):
        NgramLM.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"format": "rnnkit.ngram", "order": 2}')
    with pytest.raises(RnnkitError, match="^malformed n-gram model: 'vocab'$"):
        NgramLM.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(RnnkitError, match="^not an rnnkit n-gram model"):
        NgramLM.load(tmp_path / "other.json")
    assert math.isinf(NgramLM.fit(TEXTS, VOCAB).log_prob([1], 0))
