"""Weight averaging in the trainer: updated after every step, evaluated, kept, resumed exactly, loaded."""
import pytest
import torch

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.recipes.charlm import DataConfig, resume_charlm, train_charlm
from rnnkit.training.checkpoint import load_checkpoint
from rnnkit.training.runtime import resolve_runtime
from rnnkit.training.streams import StreamTask
from rnnkit.training.trainer import TrainConfig, Trainer, TrainingInterrupted

SMALL = dict(hidden_size=16, embedding_dim=8, num_layers=1)


def _cfg(**kw):
    base = dict(batch_size=4, bptt=8, lr=1e-2, warmup_steps=0, max_steps=12, eval_interval=0, checkpoint_interval=1e9,
                log_interval=1, precision="fp32", device="cpu", progress=False, average=0.8)
    return TrainConfig(**{**base, **kw})


def test_the_average_is_the_moving_average_of_the_weights_after_each_step(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=7, num_outputs=7, **SMALL))
    ids = torch.randint(0, 7, (400,))
    trainer = Trainer(model, StreamTask(ids, ids, 4, 8, 0), _cfg(max_steps=5, average=0.2), resolve_runtime("cpu", "fp32"),
                      str(tmp_path))
    expected = [p.detach().clone() for p in model.parameters()]
    step, decays = trainer.optimizer.step, [0.1, 2 / 11, 0.2, 0.2, 0.2]  # the ramp, then the decay

    def step_and_follow():
        step()
        d = decays.pop(0)
        for e, p in zip(expected, model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
    trainer.optimizer.step = step_and_follow
    trainer.run()
    assert not decays
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(trainer.average.values, expected))
    raw = [p.detach() for p in model.parameters()]
    assert not all(torch.equal(a, r) for a, r in zip(trainer.average.values, raw))  # the model trains the raw weights


def test_the_average_is_evaluated_kept_and_loaded(tmp_path, tiny_corpus):
    run = str(tmp_path / "a")
    train_charlm(run, DataConfig(corpus=tiny_corpus), SMALL, _cfg())
    ckpt = load_checkpoint(run)
    assert ckpt.trainer["average"] == 0.8
    lm = rnnkit.load(run)
    for name, value in lm.model.state_dict().items():
        assert torch.equal(value, ckpt.state[f"average/{name}"]), name
    assert any(not torch.equal(ckpt.model[n], ckpt.state[f"average/{n}"]) for n in ckpt.model)
    with open(f"{run}/metrics.jsonl") as f:
        final = [line for line in f if "valid_loss" in line][-1]
    import json
    valid = json.loads(final)["valid_loss"]
    text = open(tiny_corpus).read()
    held_out = text[int(len(text) * 0.9):]  # DataConfig's validation part: what the trainer scored
    assert lm.score(held_out)["nats_per_char"] == pytest.approx(valid, rel=1e-5)


def test_resume_continues_the_average_exactly(tmp_path, tiny_corpus):
    data = DataConfig(corpus=tiny_corpus)
    train_charlm(str(tmp_path / "a"), data, SMALL, _cfg())
    with pytest.raises(TrainingInterrupted):
        train_charlm(str(tmp_path / "b"), data, SMALL, _cfg(), stop_after=5)
    resume_charlm(str(tmp_path / "b"))
    a, b = load_checkpoint(str(tmp_path / "a")), load_checkpoint(str(tmp_path / "b"))
    for key, value in a.state.items():
        if key.startswith("average/"):
            assert torch.equal(value, b.state[key]), key


def test_bad_average():
    with pytest.raises(RnnkitError, match="average must be in"):
        _cfg(average=1.0).validate()
