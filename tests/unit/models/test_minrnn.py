"""minGRU / minLSTM: the log-space scan against the paper's sequential recurrence."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from rnnkit.models import minrnn
from rnnkit.models.minrnn import MinRNNEncoder, MinRNNLayer, log_g, parallel_scan_log
from rnnkit.models.model import ModelConfig, build_model

KINDS = ("gru", "lstm")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference_layer(layer: MinRNNLayer, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
    """The paper's sequential cell, written out step by step: x [B, T, D] -> [B, T, H]."""
    k = layer.proj(x)
    h = torch.zeros(x.shape[0], layer.hidden_size, dtype=k.dtype) if h is None else h
    g = lambda v: torch.where(v >= 0, v + 0.5, torch.sigmoid(v))  # noqa: E731
    outs = []
    for t in range(x.shape[1]):
        if layer.kind == "gru":
            k_z, k_h = k[:, t].chunk(2, dim=-1)
            z = torch.sigmoid(k_z)
            h = (1 - z) * h + z * g(k_h)
        else:
            k_f, k_i, k_h = k[:, t].chunk(3, dim=-1)
            f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
            h = f / (f + i) * h + i / (f + i) * g(k_h)
        outs.append(h)
    return torch.stack(outs, dim=1)


def step_through(enc: MinRNNEncoder, x: torch.Tensor, state=None):
    outs = []
    for t in range(x.shape[1]):
        out, state = enc.step(x[:, t], state)
        outs.append(out)
    return torch.stack(outs, dim=1), state


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_state(kind, device):
    enc = MinRNNEncoder(6, 8, num_layers=3, kind=kind, dropout=0.1).to(device)
    out, state = enc(torch.randn(4, 7, 6, device=device))
    assert enc.output_size == 8
    assert out.shape == (4, 7, 8) and out.device.type == device
    assert len(state) == 1 and state[0].shape == (3, 4, 8)
    out, state = enc(torch.randn(4, 7, 6, device=device), state=state)  # carried
    assert state[0].shape == (3, 4, 8)


def test_bad_inputs_are_named():
    enc = MinRNNEncoder(6, 8, num_layers=2)
    with pytest.raises(ValueError, match=r"x of shape \[B, T, 6\]"):
        enc(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="lengths of shape"):
        enc(torch.randn(2, 3, 6), torch.tensor([3]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 3\]"):
        enc(torch.randn(2, 3, 6), torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="state"):
        enc(torch.randn(2, 3, 6), state=(torch.zeros(1, 2, 8),))
    with pytest.raises(ValueError, match="unknown min-RNN kind"):
        MinRNNEncoder(6, 8, kind="rnn")


@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_scan_matches_loop(T, seed):
    """Long sequences with strong decay and a signed h0 stay accurate in float32."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(2, T, 3, generator=gen) * 0.99 + 0.005
    b = torch.rand(2, T, 3, generator=gen) * 3 + 1e-3
    h0 = torch.randn(2, 3, generator=gen)
    h, expected = h0, []
    for t in range(T):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    got = parallel_scan_log(a.log(), b.log(), h0)
    torch.testing.assert_close(got, torch.stack(expected, 1), rtol=1e-4, atol=1e-5)


@pytest.fixture(params=["loops", "kernels"])
def scan_path(request, monkeypatch):
    """Run a test with CPU loops and again with the parallel kernels accelerators use."""
    if request.param == "kernels":
        monkeypatch.setattr(minrnn, "_use_loops", lambda device: False)
    return request.param


def test_scan_gradients_match_autograd_through_loop(scan_path):
    """The hand-written backward (both adjoint paths) on a long float32 sequence."""
    gen = torch.Generator().manual_seed(1)
    T = 300
    log_a = (torch.rand(2, T, 3, generator=gen) * 0.99 + 0.005).log().requires_grad_()
    log_b = (torch.rand(2, T, 3, generator=gen) * 3 + 1e-3).log().requires_grad_()
    h0 = torch.randn(2, 3, generator=gen, requires_grad=True)
    weights = torch.randn(2, T, 3, generator=gen)
    h, expected = h0, []
    for t in range(T):
        h = log_a[:, t].exp() * h + log_b[:, t].exp()
        expected.append(h)
    want = torch.autograd.grad((torch.stack(expected, 1) * weights).sum(), (log_a, log_b, h0))
    got = torch.autograd.grad((parallel_scan_log(log_a, log_b, h0) * weights).sum(), (log_a, log_b, h0))
    for g_got, g_want in zip(got, want):
        torch.testing.assert_close(g_got, g_want, rtol=1e-4, atol=1e-4)


def test_scan_gradcheck_float64(scan_path):
    log_a = torch.rand(2, 6, 3, dtype=torch.double).log().requires_grad_()
    log_b = torch.randn(2, 6, 3, dtype=torch.double).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(parallel_scan_log, (log_a, log_b, h0))
    assert torch.autograd.gradcheck(lambda a, b: parallel_scan_log(a, b), (log_a, log_b))


def test_log_g_and_its_hand_written_derivative():
    x = torch.cat([torch.linspace(-200, 50, 1001, dtype=torch.double), torch.tensor([0.3, -0.3])])
    x = x[x != 0].requires_grad_()
    g = torch.where(x >= 0, x + 0.5, torch.sigmoid(x))
    torch.testing.assert_close(log_g(x), torch.where(x >= 0, (x + 0.5).log(), -torch.nn.functional.softplus(-x)))
    assert torch.isfinite(log_g(x)).all() and (g > 0).all()
    (auto,) = torch.autograd.grad(log_g(x).sum(), x)
    torch.testing.assert_close(minrnn._d_log_g(x.detach()), auto)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_scan_matches_reference_loop(kind, scan_path):
    layer = MinRNNLayer(5, 6, kind).double()
    x, h0 = torch.randn(3, 40, 5, dtype=torch.double) * 3, torch.randn(3, 6, dtype=torch.double)
    torch.testing.assert_close(layer(x), reference_layer(layer, x))
    torch.testing.assert_close(layer(x, h0), reference_layer(layer, x, h0))


@pytest.mark.parametrize("kind", KINDS)
def test_step_mode_matches_parallel(kind):
    enc = MinRNNEncoder(5, 6, num_layers=3, kind=kind).eval()
    x = torch.randn(2, 30, 5)
    _, h0 = enc(torch.randn(2, 4, 5))
    for state in (None, h0):
        out, final = enc(x, state=state)
        step_out, step_final = step_through(enc, x, state)
        torch.testing.assert_close(step_out, out, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(step_final[0], final[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_carried_state_equals_one_pass(kind):
    enc = MinRNNEncoder(5, 6, num_layers=2, kind=kind).eval()
    x = torch.randn(3, 24, 5)
    whole, whole_state = enc(x)
    parts, state = [], None
    for seg in x.split([10, 1, 7, 6], dim=1):  # includes a T == 1 segment (step path)
        out, state = enc(seg, state=state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state[0], whole_state[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths(kind):
    enc = MinRNNEncoder(5, 6, num_layers=2, kind=kind).eval()
    lengths = torch.tensor([9, 4, 1, 0])
    x = torch.randn(4, 9, 5)
    h0 = torch.randn(2, 4, 6)
    out, (h,) = enc(x, lengths, (h0,))
    for b, n in enumerate(lengths.tolist()):
        assert out[b, n:].abs().sum() == 0  # padding is zero
        if n == 0:
            torch.testing.assert_close(h[:, b], h0[:, b])  # nothing read: state unchanged
            continue
        alone, (h_alone,) = enc(x[b:b + 1, :n], state=(h0[:, b:b + 1],))
        torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(h[:, b:b + 1], h_alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_float64(kind, scan_path):
    enc = MinRNNEncoder(3, 4, num_layers=2, kind=kind).double()
    x = torch.randn(2, 5, 3, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(2, 2, 4, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([5, 3])
    assert torch.autograd.gradcheck(lambda x, h0: (lambda o, s: (o, s[0]))(*enc(x, lengths, (h0,))), (x, h0))


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_gets_a_gradient(kind):
    enc = MinRNNEncoder(5, 6, num_layers=2, kind=kind)
    out, (h,) = enc(torch.randn(2, 12, 5))
    (out.sum() + h.sum()).backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", KINDS)
def test_bf16_autocast(kind):
    enc = MinRNNEncoder(16, 32, num_layers=2, kind=kind)
    x = torch.randn(4, 50, 16, requires_grad=True)
    ref, _ = enc(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h,) = enc(x)
        step_out, _ = enc.step(x[:, 0])
    assert out.dtype == torch.float32 and h.dtype == torch.float32  # the scan ran in float32
    assert step_out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0.05, atol=0.05)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters())


@pytest.mark.parametrize("cell", ("mingru", "minlstm"))
def test_build_model_uses_min_cells(cell):
    cfg = ModelConfig(vocab_size=10, num_outputs=10, hidden_size=8, embedding_dim=4, num_layers=2, cell=cell)
    model = build_model(cfg)
    assert isinstance(model.encoder, MinRNNEncoder)
    logits, state = model(torch.zeros(3, 5, dtype=torch.long), torch.tensor([5, 2, 1]))
    assert logits.shape == (3, 5, 10) and state[0].shape == (2, 3, 8)
