"""Free-running decoding of an encoder-decoder against teacher forcing and exhaustive search."""
import itertools
import math

import pytest
import torch

from rnnkit.decoding.seq2seq import beam_decode, greedy_decode
from rnnkit.models.seq2seq import END_ID, Seq2SeqConfig, build_seq2seq


def tiny_model(attention=True, outputs=3, seed=0):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(num_inputs=7, num_outputs=outputs, embedding_dim=6, hidden_size=5, num_layers=2,
                        decoder_hidden_size=8, decoder_layers=2, attention=attention, dropout=0.0)
    model = build_seq2seq(cfg).eval()
    with torch.no_grad():  # sharper distributions than the initial weights give, and longer outputs:
        for p in model.parameters():  # the search choices matter
            p.mul_(3.0)
        model.head.bias[END_ID] = -1.0
    return model


INPUTS = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [3, 0, 0, 0]])
LENGTHS = torch.tensor([4, 2, 1])


def teacher_forced_log_prob(model, row, tokens):
    """log P(tokens, end | input row) from the whole-sequence (training) path."""
    targets = torch.tensor([[*tokens, END_ID]])
    with torch.no_grad():
        logits, _ = model(INPUTS[row:row + 1, :int(LENGTHS[row])], LENGTHS[row:row + 1], targets)
    return float(torch.log_softmax(logits.double(), -1)[0].gather(1, targets.T).sum())


@pytest.mark.parametrize("attention", [True, False])
def test_step_by_step_decoding_equals_teacher_forcing(attention):
    """The free-running path (start, step, fed its own outputs) computes the same distributions as
    the teacher-forced forward of those outputs: greedy's choices are the argmax of each step there,
    and its score is their log-probability."""
    model = tiny_model(attention)
    for row, [hyp] in enumerate(greedy_decode(model, INPUTS, LENGTHS, end=END_ID, max_length=6)):
        targets = torch.tensor([[*hyp.tokens, END_ID]])
        with torch.no_grad():
            logits, _ = model(INPUTS[row:row + 1, :int(LENGTHS[row])], LENGTHS[row:row + 1], targets)
        if len(hyp.tokens) < 6:  # (at the length limit the end is forced, not chosen)
            assert logits[0].argmax(-1).tolist() == [*hyp.tokens, END_ID]
        assert hyp.score == pytest.approx(teacher_forced_log_prob(model, row, hyp.tokens), abs=1e-5)
        assert hyp.timesteps == tuple(range(len(hyp.tokens)))


@pytest.mark.parametrize("attention", [True, False])
def test_beam_search_wide_enough_is_exhaustive_search(attention):
    """Every output of up to 4 symbols over 2 symbols (31 of them), scored teacher-forced: a beam of
    16 (every prefix) returns the exact ranking, each output with its score; a beam of 16 asked for
    the 5 best returns the first 5 of it."""
    model = tiny_model(attention, seed=1)
    every = [seq for n in range(5) for seq in itertools.product([1, 2], repeat=n)]
    found = beam_decode(model, INPUTS, LENGTHS, beam=16, nbest=len(every), end=END_ID, max_length=4)
    top5 = beam_decode(model, INPUTS, LENGTHS, beam=16, nbest=5, end=END_ID, max_length=4)
    for row in range(len(INPUTS)):
        scored = sorted(((teacher_forced_log_prob(model, row, s), s) for s in every), reverse=True)
        assert [h.tokens for h in found[row]] == [s for _, s in scored]
        assert [h.score for h in found[row]] == pytest.approx([v for v, _ in scored], abs=1e-5)
        assert [h.tokens for h in top5[row]] == [s for _, s in scored[:5]]
        assert max(len(s) for _, s in scored[:5]) >= 2  # the search had to go past the first step
        assert math.fsum(math.exp(v) for v, _ in scored) <= 1.0 + 1e-9


def test_a_narrow_beam_never_scores_below_greedy_and_a_batch_equals_each_input_alone():
    model = tiny_model(outputs=6, seed=2)
    greedy = greedy_decode(model, INPUTS, LENGTHS, end=END_ID, max_length=8)
    beam = beam_decode(model, INPUTS, LENGTHS, beam=3, nbest=2, end=END_ID, max_length=8)
    for g, b in zip(greedy, beam):
        assert b[0].score >= g[0].score - 1e-9 and len(b) == 2 and b[0].score >= b[1].score
    for row in range(len(INPUTS)):
        n = int(LENGTHS[row])
        alone = beam_decode(model, INPUTS[row:row + 1, :n], LENGTHS[row:row + 1], beam=3, nbest=2, end=END_ID,
                            max_length=8)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in beam[row]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in beam[row]], abs=1e-5)


def test_the_length_limit_forces_the_end():
    model = tiny_model(outputs=4)
    with torch.no_grad():
        model.head.bias[END_ID] = -50.0  # the model would never stop by itself
    [[g]] = greedy_decode(model, INPUTS[:1], LENGTHS[:1], end=END_ID, max_length=3)
    assert len(g.tokens) == 3 and END_ID not in g.tokens
    # Every output pays the end's -50 once, so the beam's best is short; none is longer than the limit.
    [beam] = beam_decode(model, INPUTS[:1], LENGTHS[:1], beam=4, nbest=4, end=END_ID, max_length=3)
    assert len(beam) == 4 and all(len(h.tokens) <= 3 and END_ID not in h.tokens for h in beam)
