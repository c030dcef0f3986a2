import pytest
import torch

from rnnkit.models.dropout import FastDropout, dropout_mask
from rnnkit.models.encoders import RecurrentEncoder


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_drops_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    mask = dropout_mask(torch.Size([200, 1000]), p, torch.float32, torch.device("cpu"))
    dropped = float((mask == 0).float().mean())
    assert abs(dropped - p) < 0.005
    assert abs(float(mask.mean()) - 1.0) < 0.01
    assert set(mask.unique().tolist()) <= {0.0, float(mask.max())}


def test_mask_is_seeded_and_bf16_keeps_its_dtype():
    torch.manual_seed(3)
    a = dropout_mask(torch.Size([7, 9]), 0.3, torch.bfloat16, torch.device("cpu"))
    torch.manual_seed(3)
    b = dropout_mask(torch.Size([7, 9]), 0.3, torch.bfloat16, torch.device("cpu"))
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)


def test_dropout_gradient_is_the_mask():
    drop = FastDropout(0.4)
    x = torch.ones(50, 40, requires_grad=True)
    y = drop(x)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask)/dx = mask, and y = mask where x = 1
    assert torch.equal(drop.eval()(x), x)


def test_bad_probability_is_an_error():
    with pytest.raises(ValueError, match="dropout must be in"):
        FastDropout(1.0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_by_layer_stack_equals_the_fused_stack(cell, bidirectional, with_state):
    torch.manual_seed(0)
    enc = RecurrentEncoder(5, 6, num_layers=3, cell=cell, bidirectional=bidirectional, dropout=0.3)
    x = torch.randn(2, 7, 5)
    state = None
    if with_state:
        _, state = enc.eval()(x)
    hx = None if state is None else (state if cell == "lstm" else state[0])
    enc.between.p = enc.rnn.dropout = 0.0  # no dropout on either path: they must then agree
    out, new = enc._layer_by_layer(x, hx)
    ref, ref_new = enc.rnn(x, hx)
    assert torch.allclose(out, ref, atol=1e-6)
    for a, b in zip((new if cell == "lstm" else (new,)), (ref_new if cell == "lstm" else (ref_new,))):
        assert torch.allclose(a, b, atol=1e-6)


def test_training_with_dropout_takes_the_layer_path_and_drops():
    torch.manual_seed(0)
    enc = RecurrentEncoder(4, 8, num_layers=2, dropout=0.5).train()
    x = torch.randn(3, 6, 4)
    a, _ = enc(x)
    b, _ = enc(x)
    assert not torch.allclose(a, b)  # fresh masks each call
    enc.eval()
    assert torch.allclose(enc(x)[0], enc.rnn(x)[0])


def test_the_fused_stack_follows_the_dropout_schedule():
    from rnnkit.models.dropout import set_dropout_scale

    enc = RecurrentEncoder(4, 8, num_layers=2, dropout=0.4).train()
    x, lengths = torch.randn(2, 5, 4), torch.tensor([5, 3])
    set_dropout_scale(enc, 0.5)
    enc(x, lengths)  # packed input: nn.LSTM's own dropout is the one in use
    assert enc.rnn.dropout == pytest.approx(0.2)
    set_dropout_scale(enc, 0.0)
    enc(x, lengths)
    assert enc.rnn.dropout == 0.0
