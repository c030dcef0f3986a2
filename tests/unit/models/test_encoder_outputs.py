"""RecurrentEncoder.outputs: the packed stack's outputs computed without packing (the tagger's training path)."""
import pytest
import torch
from test_dropout import _by_hand, _run

from rnnkit.models.dropout import set_dropout_scale
from rnnkit.models.encoders import RecurrentEncoder


def _grads(module, x):
    return [p.grad.clone() for p in module.parameters()] + [x.grad.clone()]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_outputs_and_gradients_equal_the_packed_stack(cell, bidirectional, with_state):
    """Also from a given initial state (a conditioned generator's): each layer and direction starts
    from its own rows, as nn.LSTM's do, and the gradient reaches the state."""
    torch.manual_seed(0)
    enc = RecurrentEncoder(5, 6, num_layers=3, cell=cell, bidirectional=bidirectional).train()
    lengths = torch.tensor([4, 7, 1, 6])
    x = torch.randn(4, 7, 5, requires_grad=True)
    rows = 3 * (2 if bidirectional else 1)
    state = tuple(torch.randn(rows, 4, 6, requires_grad=True) for _ in range(2 if cell == "lstm" else 1))
    weights = torch.randn(4, 7, enc.output_size)  # a loss that weighs every output differently
    out = enc.outputs(x, lengths, state if with_state else None)
    (out * weights).sum().backward()
    got = _grads(enc, x) + [s.grad.clone() for s in state if with_state]
    enc.zero_grad()
    x.grad = None
    for s in state:
        s.grad = None
    hx = None if not with_state else state if cell == "lstm" else state[0]
    ref, _ = _run(enc.rnn, x, lengths, hx)
    assert not with_state or not torch.allclose(ref, _run(enc.rnn, x, lengths)[0], atol=1e-3)  # the state matters
    (ref * weights).sum().backward()
    got_ref = _grads(enc, x) + [s.grad.clone() for s in state if with_state]
    # Same sums in another order (one direction at a time, reversed rows): fp32 rounding only.
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(got, got_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert (out[2, 1:] == 0).all() and (out[0, 4:] == 0).all()  # zero past each length


def test_padding_reaches_neither_direction():
    torch.manual_seed(0)
    enc = RecurrentEncoder(3, 5, num_layers=2, bidirectional=True)
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 3])
    noisy = x.clone()
    noisy[1, 3:] = 100 * torch.randn(3, 3)
    a, b = enc.outputs(x, lengths), enc.outputs(noisy, lengths)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # ... which the test can see: without lengths the noise reaches the backward half of every step.
    assert (enc.outputs(noisy, torch.tensor([6, 6]))[1, :3, 5:] - a[1, :3, 5:]).abs().min() > 1e-4


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_dropout_between_layers_and_only_there(scale):
    """The scheduled rate, one FastDropout mask over the padded [B, T, H] outputs of layer 1."""
    torch.manual_seed(0)
    enc = RecurrentEncoder(4, 8, num_layers=2, dropout=0.4).train()
    set_dropout_scale(enc, scale)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    torch.manual_seed(11)
    got = enc.outputs(x, lengths)
    real = (torch.arange(6)[None, :] < lengths[:, None])[..., None]
    torch.testing.assert_close(got, _by_hand(enc, x, None, 0.4 * scale, seed=11) * real, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, _run(enc.rnn, x, lengths)[0], atol=1e-3)  # it really drops


def test_without_gradients_the_packed_path_runs():
    torch.manual_seed(0)
    enc = RecurrentEncoder(3, 5, num_layers=2, bidirectional=True).eval()
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 3])
    with torch.no_grad():
        torch.testing.assert_close(enc.outputs(x, lengths), enc(x, lengths)[0], rtol=0, atol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_model_trains_on_padded_batches_without_packing(bidirectional):
    from rnnkit.models.model import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(num_outputs=3, input_size=4, embedding_dim=5, hidden_size=6,
                                    bidirectional=bidirectional)).train()
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    logits, state = model(x, lengths)
    assert state == ()   # separate sequences: no state goes on
    with torch.no_grad():
        ref, packed_state = model(x, lengths)  # inference: the packed path
    assert len(packed_state) == 2
    mask = (torch.arange(6)[None, :] < lengths[:, None])[..., None]
    torch.testing.assert_close(logits * mask, ref * mask, rtol=1e-5, atol=1e-6)
    # The training path's outputs come from RecurrentEncoder.outputs (break it: this fails).
    enc = model.encoder
    calls = []
    original = enc.outputs
    enc.outputs = lambda *a: calls.append(1) or original(*a)
    model(x, lengths)
    assert calls == [1]
