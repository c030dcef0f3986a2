import math
from dataclasses import replace

import pytest
import torch

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.recipes.charlm import DataConfig, resume_charlm, train_charlm
from rnnkit.training import runtime as runtime_mod
from rnnkit.training.metrics import read_metrics
from rnnkit.training.runtime import cpu_has_bf16, resolve_runtime
from rnnkit.training.trainer import TrainConfig, TrainingInterrupted, lr_at

SMALL = dict(hidden_size=32, embedding_dim=16, num_layers=2, dropout=0.1)


def _train_cfg(**kw):
    base = dict(batch_size=8, bptt=16, lr=1e-2, warmup_steps=5, max_steps=24, eval_interval=0,
                checkpoint_interval=1e9, log_interval=1, precision="fp32", device="cpu", progress=False)
    return TrainConfig(**{**base, **kw})


def _losses(run):
    return [r["train_loss"] for r in read_metrics(f"{run}/metrics.jsonl") if "train_loss" in r]


def test_resume_continues_exactly(tmp_path, tiny_corpus):
    data = DataConfig(corpus=tiny_corpus)
    train_charlm(str(tmp_path / "a"), data, SMALL, _train_cfg())
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_charlm(str(tmp_path / "b"), data, SMALL, _train_cfg(), stop_after=11)
    assert len(_losses(tmp_path / "b")) == 11
    resume_charlm(str(tmp_path / "b"))
    full, resumed = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(full) == len(resumed) == 24
    assert full == resumed  # bit-identical: same data position, RNG, optimizer and carried state
    a, b = rnnkit.load(str(tmp_path / "a")), rnnkit.load(str(tmp_path / "b"))
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def _lrs(run) -> dict[int, float]:
    return {r["step"]: r["lr"] for r in read_metrics(f"{run}/metrics.jsonl") if "lr" in r}


def test_resume_with_a_later_stop_continues_the_rate_without_a_jump(tmp_path, tiny_corpus):
    """Moving the stop on resume (here 24 -> 48 steps) continues the cosine from the rate in force
    at the checkpoint down to the floor at the new stop; an unchanged stop stays bit-exact (above)."""
    data = DataConfig(corpus=tiny_corpus)
    train_charlm(str(tmp_path / "a"), data, SMALL, _train_cfg())  # 24 steps: the rate it would have had
    with pytest.raises(TrainingInterrupted):
        train_charlm(str(tmp_path / "b"), data, SMALL, _train_cfg(), stop_after=11)
    resume_charlm(str(tmp_path / "b"), train_overrides={"max_steps": 48})
    planned, got = _lrs(tmp_path / "a"), _lrs(tmp_path / "b")
    assert sorted(got) == list(range(1, 49))
    assert all(got[k] == planned[k] for k in range(1, 12))
    # the first resumed step: where the 24-step cosine would be at step 12, then decaying to the floor
    assert got[12] == pytest.approx(planned[12], rel=1e-9)
    assert all(got[k + 1] < got[k] for k in range(12, 48))
    # exactly: a cosine from the rate at step 11 of 24 (scale s0) over steps 11..48, to the floor
    cfg = _train_cfg(max_steps=48)
    s0 = lr_at(replace(cfg, lr=1.0, warmup_steps=0), 11, 11 / 24)
    for k in range(12, 49):  # metrics record step k with the rate of update k (computed at step k - 1)
        p = (k - 1 - 11) / (48 - 11)
        assert got[k] == pytest.approx(1e-2 * (0.05 + (s0 - 0.05) * 0.5 * (1 + math.cos(math.pi * p))), rel=1e-9)
    assert got[30] > planned[18]  # stretched over 37 more steps, not the old 13

    # A finished run extended keeps its final (floor) rate: no jump back up.
    resume_charlm(str(tmp_path / "a"), train_overrides={"max_steps": 36})
    extended = _lrs(tmp_path / "a")
    assert max(extended[k] for k in range(25, 37)) <= extended[24] * (1 + 1e-9)


def test_overfits_a_tiny_corpus(tmp_path, tiny_corpus):
    result = train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus, valid_fraction=0.1),
                          dict(hidden_size=64, embedding_dim=16, num_layers=1),
                          _train_cfg(max_steps=150, lr=1e-2, bptt=32))
    losses = _losses(tmp_path / "r")
    assert losses[0] > math.log(20)  # starts near uniform over ~25 symbols
    # The toy language has about 1 bit of choice per word: a model that learned it is far below uniform.
    assert result["valid_loss"] < 1.0, result


def test_checkpoint_round_trip_gives_bit_identical_outputs(tmp_path, tiny_corpus):
    from rnnkit.models.model import build_model
    from rnnkit.training.checkpoint import load_checkpoint

    train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(max_steps=5))
    lm = rnnkit.load(str(tmp_path / "r"))
    ids = torch.from_numpy(lm.vocab.encode("the cat sat")).unsqueeze(0)
    again = build_model(lm.model.config)
    again.load_state_dict(load_checkpoint(str(tmp_path / "r")).model)
    again.eval()
    assert torch.equal(lm.model(ids)[0], again(ids)[0])


def test_resume_refuses_a_changed_model_shape(tmp_path, tiny_corpus):
    train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(max_steps=2))
    with pytest.raises(RnnkitError, match="cannot change the model shape.*hidden_size=32"):
        resume_charlm(str(tmp_path / "r"), model_overrides={"hidden_size": 64})
    with pytest.raises(RnnkitError, match="cannot change batch-size"):
        resume_charlm(str(tmp_path / "r"), train_overrides={"batch_size": 4})


def test_new_run_refuses_to_overwrite(tmp_path, tiny_corpus):
    train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(max_steps=2))
    with pytest.raises(RnnkitError, match="already holds a run"):
        train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(max_steps=2))


@pytest.mark.parametrize("bad, message", [
    (dict(max_steps=0), "max-steps must be positive"),
    (dict(time_budget=-5.0), "time-budget must be"),
    (dict(batch_size=0), "batch_size must be positive".replace("_", "-")),
    (dict(max_steps=None), "give --max-steps or --time-budget"),
])
def test_nonsense_training_settings(tmp_path, tiny_corpus, bad, message):
    with pytest.raises(RnnkitError, match=message):
        train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(**bad))


def test_bf16_trained_run_samples_in_fp32_on_cpu(tmp_path, tiny_corpus):
    if not cpu_has_bf16():  # CI's CPU may be AVX2-only: there the explicit choice is a clear error
        with pytest.raises(RnnkitError, match="needs native bf16 support"):
            train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL,
                         _train_cfg(max_steps=3, precision="bf16"))
        assert not (tmp_path / "r" / "checkpoint.json").exists()
        return
    train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), SMALL, _train_cfg(max_steps=3, precision="bf16"))
    lm = rnnkit.load(str(tmp_path / "r"))
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in lm.model.parameters())
    text = lm.sample("the ", length=30, seed=0)
    assert len(text) == 30 and text == lm.sample("the ", length=30, seed=0)
    score = lm.score("the cat sat on the mat.\n")
    assert 0 < score["nats_per_char"] < 10 and score["chars"] == 23


@pytest.mark.parametrize("native", [True, False])
def test_explicit_bf16_only_where_native(monkeypatch, native):
    monkeypatch.setattr(runtime_mod, "cpu_has_bf16", lambda: native)
    assert resolve_runtime("cpu", "auto").precision == ("bf16" if native else "fp32")
    if native:
        assert resolve_runtime("cpu", "bf16").precision == "bf16"
    else:
        with pytest.raises(RnnkitError, match="lacks: use fp32 or auto"):
            resolve_runtime("cpu", "bf16")


def test_tied_weights_save_and_load(tmp_path, tiny_corpus):
    model = dict(hidden_size=16, embedding_dim=16, num_layers=1, tie_weights=True)
    train_charlm(str(tmp_path / "r"), DataConfig(corpus=tiny_corpus), model, _train_cfg(max_steps=2))
    lm = rnnkit.load(str(tmp_path / "r"))
    assert lm.model.head.weight is lm.model.input.weight
    assert len(lm.sample("the", length=5, seed=0)) == 5


def test_dropout_schedule_by_passes_and_exact_resume(tmp_path, tiny_corpus):
    data = DataConfig(corpus=tiny_corpus)
    probe = tmp_path / "probe"
    train_charlm(str(probe), data, SMALL, _train_cfg(max_steps=2))
    per_step = read_metrics(f"{probe}/metrics.jsonl")[0]["passes"]  # passes handed out by one step
    cfg = _train_cfg(dropout_from=6 * per_step, dropout_ramp=8 * per_step)
    train_charlm(str(tmp_path / "a"), data, SMALL, cfg)
    records = [r for r in read_metrics(f"{tmp_path}/a/metrics.jsonl") if "dropout_scale" in r]
    scales = [r["dropout_scale"] for r in records]
    assert scales[:7] == [0.0] * 7  # the step after 6 steps' worth of passes is the first to drop
    assert 0 < scales[8] < 1 and scales == sorted(scales) and scales[-1] == 1.0
    with pytest.raises(TrainingInterrupted):
        train_charlm(str(tmp_path / "b"), data, SMALL, cfg, stop_after=10)
    resume_charlm(str(tmp_path / "b"))
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")


def test_a_task_that_cannot_count_passes_gets_constant_dropout(tmp_path):
    from rnnkit.data.batching import Batch
    from rnnkit.losses.timesync import time_synchronous_xent
    from rnnkit.models.model import ModelConfig, build_model
    from rnnkit.training.runtime import resolve_runtime
    from rnnkit.training.trainer import Trainer

    class NoPasses:  # the Task protocol without passes()
        unit = "char"

        def next_batch(self):
            x = torch.randint(0, 5, (2, 6))
            return Batch(x, x, new_stream=True)

        def position(self):
            return {}

        def seek(self, position):
            pass

        def divergence(self, logits, batch):
            return time_synchronous_xent(logits, batch.targets)

        def evaluate(self, model, runtime):
            return {}

    model = build_model(ModelConfig(vocab_size=5, num_outputs=5, hidden_size=8, embedding_dim=4, dropout=0.3))
    trainer = Trainer(model, NoPasses(), _train_cfg(max_steps=3), resolve_runtime("cpu", "fp32"), str(tmp_path / "r"))
    trainer.run()
    records = [r for r in read_metrics(f"{tmp_path}/r/metrics.jsonl") if "train_loss" in r]
    assert [r["dropout_scale"] for r in records] == [1.0] * 3 and "passes" not in records[0]


def _poisoned(monkeypatch, bad_steps):
    """charlm models whose training forward returns NaN logits at the given (1-based) steps."""
    import rnnkit.recipes.charlm as charlm_mod

    build = charlm_mod.build_model

    def build_poisoned(cfg):
        model = build(cfg)
        calls = {"n": 0}

        def hook(module, args, out):
            if not module.training:
                return out
            calls["n"] += 1
            return out * float("nan") if calls["n"] in bad_steps else out

        model.head.register_forward_hook(hook)
        return model

    monkeypatch.setattr(charlm_mod, "build_model", build_poisoned)


def test_a_non_finite_loss_skips_the_update_and_says_so(tmp_path, tiny_corpus, monkeypatch):
    """Steps 5 and 6 give NaN: their updates are skipped (weights, optimizer moments and carried
    state untouched), the log says so, and the run goes on to finite weights and checkpoint."""
    data = DataConfig(corpus=tiny_corpus)
    with pytest.raises(TrainingInterrupted):
        train_charlm(str(tmp_path / "four"), data, SMALL, _train_cfg(dropout_from=0.0), stop_after=4)
    _poisoned(monkeypatch, {5, 6})
    with pytest.raises(TrainingInterrupted):
        train_charlm(str(tmp_path / "six"), data, SMALL, _train_cfg(dropout_from=0.0), stop_after=6)
    four, six = rnnkit.load(str(tmp_path / "four")), rnnkit.load(str(tmp_path / "six"))
    for (name, p), q in zip(four.model.state_dict().items(), six.model.state_dict().values()):
        assert torch.equal(p, q), name  # two skipped updates changed nothing
    records = read_metrics(f"{tmp_path / 'six'}/metrics.jsonl")
    assert [r["skipped"] for r in records if "skipped" in r] == ["non-finite loss"] * 2
    train_charlm(str(tmp_path / "full"), data, SMALL, _train_cfg(dropout_from=0.0))
    final = rnnkit.load(str(tmp_path / "full"))
    assert all(torch.isfinite(p).all() for p in final.model.parameters())


def test_a_run_that_stays_non_finite_stops_with_its_last_checkpoint_intact(tmp_path, tiny_corpus, monkeypatch):
    from rnnkit.training.trainer import MAX_SKIPPED

    data = DataConfig(corpus=tiny_corpus)
    _poisoned(monkeypatch, set(range(9, 100)))
    with pytest.raises(RnnkitError, match=f"training diverged: {MAX_SKIPPED} steps in a row to step {8 + MAX_SKIPPED}"):
        train_charlm(str(tmp_path / "r"), data, SMALL, _train_cfg(checkpoint_interval=0.0))
    kept = rnnkit.load(str(tmp_path / "r"))
    assert kept.step == 8 + MAX_SKIPPED - 1  # saved at every step, the skipped ones too (their weights are step 8's)
    assert all(torch.isfinite(p).all() for p in kept.model.parameters())


@pytest.mark.parametrize("step_classes,step_counts,step_sections", [(0, 0, 0), (3, 0, 0), (3, 4, 0), (3, 4, 2)])
def test_weight_decay_shrinks_matrices_not_embeddings(step_classes, step_counts, step_sections):
    """AdamW's decay group holds the recurrent and head matrices; the input embedding (one table,
    or a PairEmbedding's two, three or four) and every bias are in the group without decay."""
    from rnnkit.models.model import ModelConfig, build_model
    from rnnkit.training.trainer import _optimizer

    model = build_model(ModelConfig(vocab_size=5, num_outputs=5, embedding_dim=4, hidden_size=6, num_layers=1,
                                    step_classes=step_classes, step_counts=step_counts, step_sections=step_sections))
    decay, rest = (group["params"] for group in _optimizer(model, _train_cfg(weight_decay=0.3)).param_groups)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decay) == ["encoder.rnn.weight_hh_l0", "encoder.rnn.weight_ih_l0", "head.weight"]
    embeddings = {"input.weight"} if not step_classes else {"input.symbols.weight", "input.classes.weight"}
    embeddings |= {"input.counts.weight"} if step_counts else set()
    embeddings |= {"input.sections.weight"} if step_sections else set()
    assert embeddings <= {names[id(p)] for p in rest}
