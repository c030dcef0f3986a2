import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.models.stepper import Stepper

RNN_CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("cell", RNN_CELLS + ["tdnn"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_shapes_for_every_cell(cell, num_layers):
    cfg = ModelConfig(vocab_size=11, num_outputs=7, embedding_dim=6, hidden_size=8, num_layers=num_layers, cell=cell)
    logits, state = build_model(cfg)(torch.randint(0, 11, (3, 5)))
    assert logits.shape == (3, 5, 7)
    if cell == "lstm":
        assert [s.shape for s in state] == [(num_layers, 3, 8)] * 2
    elif cell == "tdnn":
        assert state[0].shape == (3, cfg.window - 1, 6)
    else:
        assert [s.shape for s in state] == [(num_layers, 3, 8)]


@pytest.mark.parametrize("cell", RNN_CELLS)
def test_bidirectional_features_with_lengths(cell):
    cfg = ModelConfig(input_size=4, num_outputs=3, embedding_dim=5, hidden_size=6, cell=cell, bidirectional=True)
    model = build_model(cfg).eval()
    x = torch.randn(2, 7, 4)
    lengths = torch.tensor([7, 4])
    logits, _ = model(x, lengths)
    assert logits.shape == (2, 7, 3)
    # The backward net starts at each sequence's real end: padding after it changes nothing.
    alone, _ = model(x[1:, :4], torch.tensor([4]))
    assert torch.allclose(logits[1, :4], alone[0], atol=1e-5)


@pytest.mark.parametrize("cell", RNN_CELLS + ["tdnn"])
def test_carried_state_equals_one_pass(cell):
    cfg = ModelConfig(vocab_size=9, num_outputs=9, embedding_dim=4, hidden_size=8, cell=cell)
    model = build_model(cfg).eval()
    ids = torch.randint(0, 9, (2, 12))
    whole, _ = model(ids)
    a, state = model(ids[:, :5])
    b, _ = model(ids[:, 5:], None, state)
    assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-5)


@pytest.mark.parametrize("cell", RNN_CELLS + ["tdnn"])
def test_stepper_matches_whole_sequence(cell):
    cfg = ModelConfig(vocab_size=9, num_outputs=9, embedding_dim=4, hidden_size=8, num_layers=2, cell=cell)
    model = build_model(cfg).eval()
    ids = torch.randint(0, 9, (3, 10))
    whole, _ = model(ids)
    stepper = Stepper(model)
    got = [stepper.prime(ids[:, :4])]
    for t in range(4, 10):
        got.append(stepper.step(ids[:, t]))
    assert torch.allclose(torch.stack(got[1:], 1), whole[:, 4:], atol=1e-5)
    assert torch.allclose(got[0], whole[:, 3], atol=1e-5)


def test_tied_weights_share_storage():
    cfg = ModelConfig(vocab_size=10, num_outputs=10, embedding_dim=8, hidden_size=8, tie_weights=True)
    model = build_model(cfg)
    assert model.head.weight is model.input.weight


@pytest.mark.parametrize("bad, message", [
    (dict(hidden_size=0), "hidden_size must be positive"),
    (dict(num_layers=-1), "num_layers must be positive"),
    (dict(cell="transformer"), "unknown cell"),
    (dict(dropout=1.5), "dropout must be in"),
    (dict(tie_weights=True, embedding_dim=4), "tie_weights needs embedding_dim"),
    (dict(cell="tdnn", bidirectional=True), "bidirectional needs"),
])
def test_nonsense_configs_are_errors(bad, message):
    with pytest.raises(RnnkitError, match=message):
        build_model(ModelConfig(vocab_size=10, num_outputs=10, **bad))


def test_exactly_one_input_kind():
    with pytest.raises(RnnkitError, match="exactly one"):
        build_model(ModelConfig(num_outputs=3, vocab_size=3, input_size=4))


# The bf16/int8 steppers are tested against derived bounds in test_stepper_precision.py.


def test_stepper_rejects_an_unknown_precision():
    model = build_model(ModelConfig(vocab_size=5, num_outputs=5, hidden_size=8, embedding_dim=4))
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, int8"):
        Stepper(model, "fp16")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_stepper_adds_the_condition_to_every_input_as_the_model_does(cell):
    """A model that reads its condition at every step: the stepper's folded first layer gains the
    condition's row; its logits are the whole-sequence model's (fp32, to float rounding)."""
    torch.manual_seed(1)
    model = build_model(ModelConfig(vocab_size=11, num_outputs=11, embedding_dim=5, hidden_size=8, num_layers=2,
                                    cell=cell, num_conditions=3, condition_input=True)).eval()
    with torch.no_grad():
        model.condition_input.weight.mul_(10)  # a condition that matters
    ids = torch.randint(0, 11, (3, 12))
    conditions = torch.tensor([0, 1, 2])
    start = model.initial_state(conditions)
    with torch.no_grad():
        want, _ = model(ids, None, start, conditions)
        plain, _ = model(ids, None, start)
    assert (want - plain).abs().max() > 1e-2  # far beyond the tolerance below: a stepper ignoring it fails
    stepper = Stepper(model)
    got = [stepper.prime(ids[:, :1], start, conditions)]
    got += [stepper.step(ids[:, t]) for t in range(1, 12)]
    torch.testing.assert_close(torch.stack(got, 1), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("counts,sections", [(0, 0), (3, 0), (3, 2)])
def test_stepper_reads_each_symbols_step_class_as_the_model_does(cell, counts, sections):
    """ids = symbol + vocab_size * (class + 4 * (count + 3 * section)) (the tune recipe's place in
    the bar, bars closed, bars closed in the part): the model reads the symbol's vector plus the
    class's (and the count's, and the section's); the stepper's folded tables, their rows summed,
    give the whole-sequence model's logits (fp32, to float rounding), on its fast path."""
    torch.manual_seed(2)
    model = build_model(ModelConfig(vocab_size=7, num_outputs=7, embedding_dim=5, hidden_size=8, num_layers=2,
                                    cell=cell, step_classes=4, step_counts=counts, step_sections=sections)).eval()
    with torch.no_grad():
        for table in model.input.tables[1:]:
            table.weight.mul_(10)  # classes and counts that matter
    symbols, classes = torch.randint(0, 7, (3, 12)), torch.randint(0, 4, (3, 12))
    count, section = torch.randint(0, max(counts, 1), (3, 12)), torch.randint(0, max(sections, 1), (3, 12))
    ids = symbols + 7 * (classes + 4 * (count + 3 * section))
    with torch.no_grad():
        want, _ = model(ids)
        plain, _ = model(symbols)
        without_count, _ = model(symbols + 7 * classes)
        without_section, _ = model(symbols + 7 * (classes + 4 * count))
    assert (want - plain).abs().max() > 1e-2  # far beyond the tolerance below: a stepper ignoring it fails
    assert not counts or (want - without_count).abs().max() > 1e-2
    assert not sections or (want - without_section).abs().max() > 1e-2
    stepper = Stepper(model)
    assert stepper.fast
    got = [stepper.prime(ids[:, :1])] + [stepper.step(ids[:, t]) for t in range(1, 12)]
    torch.testing.assert_close(torch.stack(got, 1), want, atol=1e-5, rtol=0)


def test_step_counts_need_step_classes():
    with pytest.raises(RnnkitError, match="step_counts"):
        ModelConfig(vocab_size=5, num_outputs=5, hidden_size=8, step_counts=3).validate()
    with pytest.raises(RnnkitError, match="step_sections"):
        ModelConfig(vocab_size=5, num_outputs=5, hidden_size=8, step_classes=4, step_sections=3).validate()


def test_step_classes_need_plain_symbol_input():
    for bad in (dict(input_size=3), dict(vocab_size=5, tie_weights=True, embedding_dim=8),
                dict(vocab_size=5, embedding_dropout=0.1)):
        with pytest.raises(RnnkitError, match="step_classes pair each input symbol"):
            ModelConfig(num_outputs=5, hidden_size=8, step_classes=3, **bad).validate()
