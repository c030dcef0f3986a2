"""The numbers the inspect page shows: activations, surprisal and unit ranking, against the
model's own forward pass and against hand-made cases."""
import math

import numpy as np
import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.inspect.probe import patterns, rank_units, run_text, surprisal
from rnnkit.models.model import ModelConfig, build_model

TEXT = 'int f(int x) { return g(x, "a{b"); } /* (c */ // d\nx = [1, 2];\n'
TOL = 1e-5  # fp32: the same products summed in another order, over a few dozen steps of 8 units


def model_and_vocab(cell: str, layers: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    vocab = Vocabulary.build_chars(TEXT)
    model = build_model(ModelConfig(num_outputs=len(vocab), vocab_size=len(vocab), embedding_dim=6, cell=cell,
                                    hidden_size=8, num_layers=layers))
    return model.eval(), vocab


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_every_layers_activations_are_the_encoders(cell):
    """Each layer's h at every step, from the layer's kernel, and an LSTM's c from its gates:
    the top layer's h is the encoder's output, every layer's last h (and c) its final state."""
    model, vocab = model_and_vocab(cell)
    ids = torch.as_tensor(vocab.encode(TEXT))[None]
    with torch.no_grad():
        out, state = model.encoder(model.input(ids))
        logits = model.head(out)
    logp, acts = run_text(model, vocab, list(TEXT))
    names = ["layer 1 h", "layer 1 c", "layer 2 h", "layer 2 c"] if cell == "lstm" else ["layer 1 h", "layer 2 h"]
    assert list(acts) == names
    torch.testing.assert_close(acts["layer 2 h"], out[0], atol=TOL, rtol=0)
    torch.testing.assert_close(logp, torch.log_softmax(logits[0], -1), atol=TOL, rtol=0)
    for k in range(2):
        torch.testing.assert_close(acts[f"layer {k + 1} h"][-1], state[0][k, 0], atol=TOL, rtol=0)
        if cell == "lstm":
            torch.testing.assert_close(acts[f"layer {k + 1} c"][-1], state[1][k, 0], atol=TOL, rtol=0)


def test_cell_states_at_every_step_match_one_step_at_a_time():
    model, vocab = model_and_vocab("lstm", layers=1)
    _, acts = run_text(model, vocab, list(TEXT))
    state = None
    with torch.no_grad():
        for t, i in enumerate(vocab.encode(TEXT)):
            _, state = model.encoder(model.input(torch.tensor([[int(i)]])), None, state)
            torch.testing.assert_close(acts["layer 1 c"][t], state[1][0, 0], atol=TOL, rtol=0)


def test_surprisal_is_the_models_probability_and_its_mean_the_bits_per_char():
    model, vocab = model_and_vocab("lstm")
    s = surprisal(model, vocab, list(TEXT), top=3)
    ids = vocab.encode(TEXT)
    with torch.no_grad():
        probs = model(torch.as_tensor(ids)[None])[0][0].softmax(-1)
    assert s.probs[0] is None and s.top[0] == []
    for t in range(1, len(TEXT)):
        assert s.probs[t] == pytest.approx(float(probs[t - 1, ids[t]]), abs=TOL)
        best = probs[t - 1].topk(3)
        assert [a for a, _ in s.top[t]] == [vocab.tokens[i] for i in best.indices.tolist()]
    nll = -sum(math.log2(float(probs[t - 1, ids[t]])) for t in range(1, len(TEXT))) / (len(TEXT) - 1)
    assert s.bits_per_symbol == pytest.approx(nll, abs=1e-4)


def test_patterns_of_c():
    p = patterns(TEXT)
    inside = "".join(c for c, v in zip(TEXT, p["inside a string"]) if v)
    assert inside == "a{b"
    comment = "".join(c for c, v in zip(TEXT, p["inside a comment"]) if v)
    assert comment == "/* (c */// d"
    depth = p["bracket depth"]
    assert depth[TEXT.index("{")] == 1 and depth[TEXT.index("g(") + 1] == 2
    assert depth[TEXT.index('"a{b') + 2] == 2  # a brace inside a string does not count
    assert depth[TEXT.index("(c")] == 0  # nor one inside a comment
    assert depth[TEXT.index("[1")] == 1 and depth[-1] == 0
    assert p["position in line"][TEXT.index("x =")] == 0 and p["position in line"][TEXT.index("= [")] == 2
    assert "".join(c for c, v in zip(TEXT, patterns(TEXT, r"\d+")["regex"]) if v) == "12"


def test_rank_units_finds_the_unit_that_follows_the_signal():
    rng = np.random.default_rng(0)
    signal = (rng.random(200) > 0.5).astype(np.float32)
    acts = torch.tensor(rng.normal(size=(200, 16)), dtype=torch.float32)
    acts[:, 11] = -3 * torch.from_numpy(signal) + 0.01 * acts[:, 11]
    acts[:, 4] = torch.from_numpy(signal) + 1.0 * acts[:, 4]
    acts[:, 7] = 0.5  # constant: r = 0, not NaN
    ranked = rank_units(acts, signal, top=16)
    assert ranked[0][0] == 11 and ranked[0][1] == pytest.approx(-1.0, abs=1e-3)
    assert ranked[1][0] == 4 and 0.3 < ranked[1][1] < 0.9
    assert dict(ranked)[7] == 0.0
