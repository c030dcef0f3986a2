"""Reading a run folder back for inference: its config.json and the weights its predictor uses."""
from __future__ import annotations

import os
from typing import Any, Callable

from torch import nn

from ..configs import from_dict
from ..errors import RnnkitError
from ..training.checkpoint import best_weights, load_checkpoint, read_json
from ..training.runtime import resolve_runtime


def load_run_model(run_dir: str, config_cls: type, build: Callable[[Any], nn.Module], device: str = "cpu",
                   best: bool = True) -> tuple[nn.Module, dict[str, Any], int]:
    """(model in eval mode, fp32 on ``device``; the run's config.json; the step of its weights).

    With ``best`` the weights model selection kept (``best-<step>.safetensors``) when the run has
    them, else the latest checkpoint's.
    """
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    if not isinstance(config, dict) or "model" not in config:
        raise RnnkitError(f"{run_dir}/config.json has no model section")
    model = build(from_dict(config_cls, config["model"]))
    ckpt = load_checkpoint(run_dir, with_state=False)
    weights, step = (best_weights(run_dir, ckpt) if best else None) or (ckpt.model, ckpt.step)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RnnkitError(f"the weights in {run_dir} do not match its config.json") from None
    return model.to(resolve_runtime(device, "fp32").device).eval(), config, step
