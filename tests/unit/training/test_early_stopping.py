"""Model selection and early stopping in the shared trainer (off unless a task asks for it)."""
import os

import pytest
import torch

from rnnkit.data.batching import Batch
from rnnkit.errors import RnnkitError
from rnnkit.losses.timesync import time_synchronous_xent
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.training.checkpoint import best_weights, load_checkpoint
from rnnkit.training.metrics import read_metrics
from rnnkit.training.runtime import resolve_runtime
from rnnkit.training.trainer import TrainConfig, Trainer


class Scripted:
    """A task whose evaluations return the next of ``values`` as its accuracy."""

    unit = "token"

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def next_batch(self):
        x = torch.randint(0, 5, (2, 6))
        return Batch(x, x)

    def position(self):
        return {}

    def seek(self, position):
        pass

    def divergence(self, logits, batch):
        return time_synchronous_xent(logits, batch.targets)

    def evaluate(self, model, runtime):
        self.calls += 1
        return {"valid_accuracy": self.values[min(self.calls, len(self.values)) - 1]}


def _trainer(tmp_path, values, **cfg):
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=5, num_outputs=5, hidden_size=8, embedding_dim=4, num_layers=1))
    base = dict(max_steps=50, eval_interval=1e-9, checkpoint_interval=1e9, log_interval=1, progress=False,
                device="cpu", precision="fp32", warmup_steps=0)
    config = TrainConfig(**{**base, **cfg})
    return Trainer(model, Scripted(values), config, resolve_runtime("cpu", "fp32"), str(tmp_path))


def test_stops_after_patience_evaluations_and_keeps_the_best(tmp_path):
    # evaluations after steps 1..5: best at step 2 (0.7); 0.6, 0.7 (a tie is no better), 0.65: 3 without
    trainer = _trainer(tmp_path, [0.5, 0.7, 0.6, 0.7, 0.65, 0.99], select="valid_accuracy", patience=3)
    final = trainer.run()
    assert trainer.step == 5 and final == {"valid_accuracy": 0.65}
    assert trainer.task.calls == 5  # no extra evaluation after stopping early
    ckpt = load_checkpoint(str(tmp_path))
    assert ckpt.trainer["best"]["step"] == 2 and ckpt.trainer["best"]["value"] == 0.7
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("best-")) == ["best-00000002.safetensors"]
    weights, step = best_weights(str(tmp_path), ckpt)
    assert step == 2 and set(weights) == set(ckpt.model)
    assert any(not torch.equal(weights[k], ckpt.model[k]) for k in weights)  # three steps older than the last
    evaluations = [r for r in read_metrics(str(tmp_path / "metrics.jsonl")) if "valid_accuracy" in r]
    assert [r["step"] for r in evaluations] == [1, 2, 3, 4, 5]


def test_min_mode_and_no_patience(tmp_path):
    trainer = _trainer(tmp_path, [3.0, 2.0, 2.5, 1.0, 4.0], select="valid_accuracy", select_mode="min", max_steps=6)
    trainer.run()
    best = load_checkpoint(str(tmp_path)).trainer["best"]
    assert trainer.step == 6 and (best["step"], best["value"]) == (4, 1.0)


def test_off_by_default(tmp_path):
    trainer = _trainer(tmp_path, [0.1, 0.2], max_steps=4)
    trainer.run()
    ckpt = load_checkpoint(str(tmp_path))
    assert "best" not in ckpt.trainer and best_weights(str(tmp_path), ckpt) is None
    assert not [p for p in os.listdir(tmp_path) if p.startswith("best-")]


def test_a_tampered_best_file_is_an_error(tmp_path):
    _trainer(tmp_path, [0.5, 0.4], select="valid_accuracy", max_steps=3).run()
    ckpt = load_checkpoint(str(tmp_path))
    path = tmp_path / ckpt.trainer["best"]["file"]
    path.write_bytes(path.read_bytes()[:-1] + b" ")
    with pytest.raises(RnnkitError, match="corrupted"):
        best_weights(str(tmp_path), ckpt)
    path.unlink()
    with pytest.raises(RnnkitError, match="incomplete"):
        best_weights(str(tmp_path), ckpt)


@pytest.mark.parametrize("bad", [dict(patience=2), dict(select="x", patience=0), dict(select="x", select_mode="up")])
def test_nonsense_selection_settings(bad):
    with pytest.raises(RnnkitError):
        TrainConfig(max_steps=1, **bad).validate()
