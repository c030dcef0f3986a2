"""Reading a run folder back for inference: its config.json and the weights its predictor uses."""
from __future__ import annotations

import os
from typing import Any, Callable

from torch import nn

from ..configs import from_dict, to_dict
from ..errors import RnnkitError
from ..training.averaging import averaged_state
from ..training.checkpoint import atomic_write_json, best_weights, check_writable, load_checkpoint, read_json
from ..training.runtime import Runtime, resolve_runtime, seed_everything
from ..training.trainer import TrainConfig, Trainer


def load_run_model(run_dir: str, config_cls: type, build: Callable[[Any], nn.Module], device: str = "cpu",
                   best: bool = True) -> tuple[nn.Module, dict[str, Any], int]:
    """(model in eval mode, fp32 on ``device``; the run's config.json; the step of its weights).

    With ``best`` the weights model selection kept (``best-<step>.safetensors``) when the run has
    them, else the latest checkpoint's: their moving average when the run kept one (``TrainConfig.average``).
    """
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    if not isinstance(config, dict) or "model" not in config:
        raise RnnkitError(f"{run_dir}/config.json has no model section")
    model = build(from_dict(config_cls, config["model"]))
    ckpt = load_checkpoint(run_dir, with_state=False)
    weights, step = (best_weights(run_dir, ckpt) if best else None) or (ckpt.model, ckpt.step)
    if weights is ckpt.model and ckpt.trainer.get("average"):  # trained with weight averaging: use the average
        weights = averaged_state(ckpt.model, load_checkpoint(run_dir).state)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RnnkitError(f"the weights in {run_dir} do not match its config.json") from None
    return model.to(resolve_runtime(device, "fp32").device).eval(), config, step


def new_run(out: str, train: TrainConfig) -> Runtime:
    """Before a new run in ``out``: refuse a folder that holds one, check the training settings,
    then the device and precision to use, with every random generator seeded."""
    if os.path.exists(os.path.join(out, "checkpoint.json")):
        raise RnnkitError(f"{out} already holds a run: continue it with --resume {out}, or pick another --out")
    train.validate()
    runtime = resolve_runtime(train.device, train.precision)
    check_writable(out)  # a read-only or full place fails now, not after the first hour of training
    seed_everything(train.seed)
    return runtime


def resume_run(out: str, config: dict[str, Any], train: TrainConfig, model: nn.Module, task: Any,
               changed: str | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` from its last checkpoint: ``changed`` (what differs in the data
    since the run began, or None) is refused; ``train`` (the run's settings with the overrides
    :func:`options.resume_settings` allowed) is recorded in config.json, then the Trainer goes on."""
    if changed:
        raise RnnkitError(f"{changed}: --resume would not continue the same run")
    ckpt = load_checkpoint(out)
    runtime = resolve_runtime(train.device, train.precision)
    check_writable(out)
    config["train"] = to_dict(train)
    atomic_write_json(os.path.join(out, "config.json"), config)
    return Trainer(model, task, train, runtime, out, resume=ckpt).run(stop_after=stop_after)


def changed_digest(info: dict[str, Any], config: dict[str, Any], path: str) -> str | None:
    """Why the training data of a resumed run differ from the run's (by its SHA-256), or None."""
    if info["train_sha256"] == config.get("corpus", {}).get("train_sha256"):
        return None
    return f"the training data {path} changed since this run started"
