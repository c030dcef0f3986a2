"""The sampler's low-precision matrices (bf16, int8: int8 is what ``rnnkit sample`` runs by
default for one stream on an AVX2/AVX-512 CPU) against bounds derived from their arithmetic.

bf16 keeps 8 significant bits: rounding to nearest changes a value by at most u = 2^-9 of it.
int8 with one scale per row s_i = max_j |w_ij| / 127 changes each weight by at most s_i / 2.
"""
import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.sampling import resolve_precision, sample
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.models.stepper import Matrix, Stepper, teacher_forced_xent
from rnnkit.recipes.charlm import DataConfig, train_charlm
from rnnkit.training.trainer import TrainConfig
import rnnkit

U = 2.0 ** -9  # unit roundoff of bf16


def product_error_bound(w: torch.Tensor, x: torch.Tensor, precision: str) -> torch.Tensor:
    """Worst-case |Matrix(w)(x) - x @ w.T|, elementwise [B, G], to first order in u (plus fp32 sums).

    bf16: weights and inputs each rounded (2u + u^2 of sum_j |w_ij x_j|), the output rounded (u |y|).
    int8: weights quantised (s_i / 2 * sum_j |x_j|), inputs and scales rounded to bf16 (2u + u^2 of
    the quantised product), the output rounded to bf16 (u of it).
    """
    y = x @ w.t()
    absprod = x.abs() @ w.abs().t()
    fp32_sums = w.shape[1] * 2.0 ** -24 * absprod
    if precision == "bf16":
        return (2 * U + U * U) * absprod + U * (y.abs() + 3 * U * absprod) + fp32_sums
    quant = 0.5 * (w.abs().amax(1) / 127.0)[None, :] * x.abs().sum(1, keepdim=True)
    return quant + (2 * U + U * U) * (absprod + quant) + U * (y.abs() + 3 * U * absprod + (1 + 3 * U) * quant) + fp32_sums


@pytest.mark.parametrize("precision", ["bf16", "int8"])
@pytest.mark.parametrize("rows", [1, 3, 8])  # 1 takes bf16's matrix-vector kernel
# int8 rows not a multiple of 8 (AVX2) or 16 (AVX-512, one row) long: torch's kernel needs padding
@pytest.mark.parametrize("width", [48, 13, 24, 136, 650])
def test_each_product_is_within_its_rounding_bound(precision, rows, width):
    torch.manual_seed(rows)
    for _ in range(10):
        w = torch.randn(64, width) * torch.rand(64, 1) * 3  # rows of different scales
        x, bias = torch.randn(rows, width) * 2, torch.randn(64)
        got = Matrix(w, precision)(x, bias)
        err = (got - (x @ w.t() + bias)).abs()
        assert (err <= product_error_bound(w, x, precision)).all()
        assert err.max() > 0  # the low precision really is in use


def _model(cell: str):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=9, num_outputs=9, embedding_dim=8, hidden_size=32, num_layers=2, cell=cell)
    return build_model(cfg).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_low_precision_stepper_tracks_the_whole_sequence(cell, precision):
    """20 steps of a 2-layer net: per-product errors of at most about 1% (int8) compound through
    the recurrence, which at the default init is contractive; the logits stay within 1% of their
    spread. The history moves them by far more (checked), so a stepper that loses the recurrence fails."""
    model = _model(cell)
    ids = torch.randint(0, 9, (2, 24), generator=torch.Generator().manual_seed(1))
    whole, _ = model(ids)
    whole = whole.detach()
    spread = (whole.amax(-1) - whole.amin(-1)).mean()
    stepper = Stepper(model, precision)
    got = torch.stack([stepper.prime(ids[:, :4])] + [stepper.step(ids[:, t]) for t in range(4, 24)], 1)
    err = (got[:, 1:] - whole[:, 4:]).abs().max()
    assert 0 < err <= 0.01 * spread
    last_symbol_only, _ = model(ids[:, -1:])
    assert (last_symbol_only[:, 0] - whole[:, -1]).abs().max() > 0.1 * spread


@pytest.fixture(scope="module")
def trained_lm(tmp_path_factory):
    from conftest import make_text

    root = tmp_path_factory.mktemp("fidelity")
    (root / "text.txt").write_text(make_text())
    train_charlm(str(root / "run"), DataConfig(corpus=str(root / "text.txt")),
                 dict(hidden_size=64, embedding_dim=16, num_layers=2, dropout=0.0),
                 TrainConfig(batch_size=16, bptt=32, lr=1e-2, warmup_steps=10, max_steps=120, eval_interval=0,
                             checkpoint_interval=1e9, precision="fp32", device="cpu", progress=False))
    return rnnkit.load(str(root / "run")), make_text(60, seed=7)  # held-out lines of the same toy language


def test_trained_model_scores_the_same_in_every_precision(trained_lm):
    """README's fidelity table, on a model this test trains: the one-step path in fp32 equals the
    whole-sequence forward, and bf16/int8 move the score by under 1% of it."""
    lm, text = trained_lm
    ids = torch.from_numpy(lm.vocab.encode(text))
    with torch.no_grad():
        logits, _ = lm.model(ids[None, :-1])
    whole = float(torch.nn.functional.cross_entropy(logits[0], ids[1:]))
    assert whole < 1.0  # the model has learnt the toy language (uniform would be 3.1 nats/char)
    assert teacher_forced_xent(lm.model, ids, "fp32") == pytest.approx(whole, rel=1e-5)
    for precision in ("bf16", "int8"):
        assert teacher_forced_xent(lm.model, ids, precision) == pytest.approx(whole, rel=0.01)


def test_default_sampling_precision_is_the_int8_path_here(trained_lm):
    """What ``rnnkit sample`` runs by default for one stream on this kind of CPU is the path tested above."""
    lm, _ = trained_lm
    chosen = resolve_precision("auto", torch.device("cpu"), 1)
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        assert chosen == "int8"
    assert lm.sample("the ", 60, 0.8, seed=3) == lm.sample("the ", 60, 0.8, seed=3, precision=chosen)
