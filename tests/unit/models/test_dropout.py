import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.models.dropout import FastDropout, dropout_mask, set_dropout_scale
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


def _run(rnn, x, lengths, hx=None):
    """``rnn`` on padded ``x``, or packed by ``lengths`` (and padded back), as the encoder does."""
    if lengths is None:
        return rnn(x, hx)
    out, new = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), hx)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], new


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_layer_by_layer_stack_equals_the_fused_stack(cell, bidirectional, with_state, packed):
    torch.manual_seed(0)
    enc = RecurrentEncoder(5, 6, num_layers=3, cell=cell, bidirectional=bidirectional, dropout=0.3)
    x, lengths = torch.randn(3, 7, 5), (torch.tensor([4, 7, 2]) if packed else None)
    state = None
    if with_state:
        _, state = enc.eval()(x)
    hx = None if state is None else (state if cell == "lstm" else state[0])
    enc.between.p = 0.0  # no dropout: the two paths must then agree
    if packed:
        layered = lambda p, h: enc._layer_by_layer(p, h)  # noqa: E731
        out, new = _run(layered, x, lengths, hx)
    else:
        out, new = enc._layer_by_layer(x, hx)
    ref, ref_new = _run(enc.rnn, x, lengths, hx)
    assert torch.allclose(out, ref, atol=1e-6)
    for a, b in zip((new if cell == "lstm" else (new,)), (ref_new if cell == "lstm" else (ref_new,))):
        assert torch.allclose(a, b, atol=1e-6)


def _by_hand(enc, x, lengths, rate, seed):
    """Two single-layer nets with the encoder's weights and one FastDropout mask between them,
    drawn from ``seed`` as the encoder draws it: dropout between the layers and nowhere else."""
    layers = []
    for k in range(2):
        one = nn.LSTM(enc.rnn.input_size if k == 0 else enc.rnn.hidden_size, enc.rnn.hidden_size, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{name}_l0").data.copy_(getattr(enc.rnn, f"{name}_l{k}"))
        layers.append(one)
    torch.manual_seed(seed)
    if lengths is None:
        h1, _ = layers[0](x)
        return layers[1](h1 * dropout_mask(h1.shape, rate, h1.dtype, h1.device))[0]
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h1, _ = layers[0](packed)
    dropped = h1._replace(data=h1.data * dropout_mask(h1.data.shape, rate, h1.data.dtype, h1.data.device))
    return pad_packed_sequence(layers[1](dropped)[0], batch_first=True, total_length=x.shape[1])[0]


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_training_with_dropout_drops_between_layers_and_only_there(packed, scale):
    """Padded or packed, on any device: the scheduled rate (p * scale), one FastDropout mask from
    the seeded generator between the layers. nn.LSTM's own dropout (bernoulli_, cuDNN's state) never runs."""
    torch.manual_seed(0)
    enc = RecurrentEncoder(4, 8, num_layers=2, dropout=0.4).train()
    set_dropout_scale(enc, scale)
    x, lengths = torch.randn(3, 6, 4), (torch.tensor([6, 2, 4]) if packed else None)
    torch.manual_seed(11)
    got, _ = enc(x, lengths)
    expected = _by_hand(enc, x, lengths, 0.4 * scale, seed=11)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, _run(enc.rnn, x, lengths)[0], atol=1e-3)  # it really drops
    assert enc.rnn.dropout == 0.0


def test_no_dropout_in_eval_or_at_scale_zero():
    torch.manual_seed(0)
    enc = RecurrentEncoder(4, 8, num_layers=2, dropout=0.5)
    x = torch.randn(3, 6, 4)
    assert torch.allclose(enc.eval()(x)[0], enc.rnn(x)[0])
    set_dropout_scale(enc.train(), 0.0)
    assert torch.allclose(enc(x)[0], enc.rnn(x)[0])
