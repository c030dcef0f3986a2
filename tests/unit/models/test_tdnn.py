"""Bengio's TDNN: each output sees exactly the last `window` inputs; the direct connections carry them."""
import pytest
import torch

from rnnkit.models.encoders import TDNNEncoder
from rnnkit.models.model import ModelConfig, build_model


@pytest.mark.parametrize("direct", [False, True])
def test_each_output_sees_exactly_the_last_window_inputs(direct):
    torch.manual_seed(0)
    enc = TDNNEncoder(3, 6, window=4, direct=direct).eval()
    x = torch.randn(2, 12, 3, requires_grad=True)
    out, _ = enc(x)
    assert out.shape == (2, 12, 6 + (12 if direct else 0)) and enc.output_size == out.shape[-1]
    for t in range(12):
        (grad,) = torch.autograd.grad(out[0, t].sum(), x, retain_graph=True)
        seen = (grad[0].abs().sum(-1) > 0).nonzero().flatten().tolist()
        assert seen == list(range(max(0, t - 3), t + 1)), t  # x_{t-3} .. x_t, never the future
        assert grad[1].abs().sum() == 0  # nor another sequence


def test_direct_connections_are_the_window_of_inputs_oldest_first():
    enc = TDNNEncoder(2, 5, window=3, direct=True)
    x = torch.arange(1, 13, dtype=torch.float32).view(1, 6, 2)  # x_t = (2t+1, 2t+2)
    out, _ = enc(x)
    direct = out[0, :, 5:]
    assert direct[0].tolist() == [0, 0, 0, 0, 1, 2]  # before the start: zeros
    assert direct[4].tolist() == [5, 6, 7, 8, 9, 10]  # x_2, x_3, x_4


@pytest.mark.parametrize("direct", [False, True])
def test_a_stream_cut_into_segments_gives_one_pass_outputs(direct):
    torch.manual_seed(1)
    enc = TDNNEncoder(3, 4, window=5, num_layers=2, direct=direct).eval()
    x = torch.randn(2, 17, 3)
    whole, _ = enc(x)
    parts, state = [], None
    for a, b in ((0, 2), (2, 9), (9, 17)):
        out, state = enc(x[:, a:b], None, state)
        parts.append(out)
    assert torch.allclose(torch.cat(parts, 1), whole, atol=1e-6)


def test_the_language_model_head_reads_hidden_and_direct_inputs():
    cfg = ModelConfig(vocab_size=20, num_outputs=20, cell="tdnn", embedding_dim=4, hidden_size=8, window=3, direct=True,
                      num_layers=1)
    model = build_model(cfg)
    assert cfg.encoder_output_size == 8 + 3 * 4 == model.head.in_features
    logits, state = model(torch.randint(0, 20, (2, 6)))
    assert logits.shape == (2, 6, 20) and state[0].shape == (2, 2, 4)
