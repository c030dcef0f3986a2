import numpy as np
import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.beam import prefix_beam_search
from rnnkit.decoding.lm import lm_sequence_log_prob
from rnnkit.decoding.rnnlm import RecurrentLMScorer
from rnnkit.errors import RnnkitError
from rnnkit.models.model import ModelConfig, build_model

LM_VOCAB = Vocabulary.build_chars("abc \n")
OUT_VOCAB = Vocabulary(tokens=("_", "a", "b", "c", "z"), unk=None, blank="_")


@pytest.fixture
def scorer():
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=len(LM_VOCAB), num_outputs=len(LM_VOCAB), hidden_size=16, embedding_dim=8))
    return RecurrentLMScorer(model.eval(), LM_VOCAB, OUT_VOCAB), model.eval()


def test_scores_equal_a_whole_sequence_forward(scorer):
    lm, model = scorer
    state = lm.initial_state()
    for tok in [1, 2, 1, 3]:
        state = lm.advance(state, tok)
    got = lm.next_log_probs([state])[0]
    ids = torch.from_numpy(LM_VOCAB.encode("\nabac"))[None]
    expected = model(ids)[0][0, -1].log_softmax(-1).detach().numpy()
    for j, tok in enumerate(OUT_VOCAB.tokens[1:4], start=1):
        assert got[j] == pytest.approx(expected[LM_VOCAB.index(tok)], abs=1e-5)
    # "z" is not in the LM: it scores as the LM's unknown symbol.
    assert got[4] == pytest.approx(expected[LM_VOCAB.index(LM_VOCAB.unk)], abs=1e-5)


def test_batched_pending_states_match_one_at_a_time(scorer):
    lm, model = scorer
    root = lm.initial_state()
    a, b = lm.advance(root, 1), lm.advance(root, 2)
    aa = lm.advance(a, 1)
    together = lm.next_log_probs([aa, b])  # aa's parent is still pending: computed first
    assert np.allclose(together[1], lm.next_log_probs([lm.advance(lm.initial_state(), 2)])[0], atol=1e-6)
    # aa: the LM after "\n" (the prime), "a", "a", from one whole-sequence forward
    expected = model(torch.from_numpy(LM_VOCAB.encode("\naa"))[None])[0][0, -1].log_softmax(-1).detach().numpy()
    for j, tok in enumerate(OUT_VOCAB.tokens[1:4], start=1):
        assert together[0][j] == pytest.approx(expected[LM_VOCAB.index(tok)], abs=1e-5)


def test_fused_prefix_beam_search_reports_the_lm_score(scorer):
    lm, _ = scorer
    torch.manual_seed(1)
    log_probs = torch.randn(1, 12, 5).log_softmax(-1)
    hyp = prefix_beam_search(log_probs, blank=0, beam_size=8, lm=lm, lm_weight=0.5)[0][0]
    assert hyp.lm_score == pytest.approx(lm_sequence_log_prob(lm, hyp.tokens), abs=1e-4)


def test_unknown_prime_is_an_error():
    model = build_model(ModelConfig(vocab_size=len(LM_VOCAB), num_outputs=len(LM_VOCAB), hidden_size=4, embedding_dim=4))
    with pytest.raises(RnnkitError, match="no symbol"):
        RecurrentLMScorer(model, LM_VOCAB, OUT_VOCAB, prime="Q")
