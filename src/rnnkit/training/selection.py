"""Model selection and early stopping: the weights of the best evaluation so far, kept beside the run.

With ``TrainConfig.select`` (a metric of the task's evaluation) and ``select_mode`` ("max": higher
is better, "min": lower), each evaluation that beats the best so far writes the model's weights
as ``best-<step>.safetensors`` (atomically, with their SHA-256 recorded in the checkpoint); the
evaluations since the best are counted for ``patience``. The record is plain JSON in
``checkpoint.json`` (``trainer.best``), so a resumed run goes on counting where it stopped.
"""
from __future__ import annotations

import glob
import hashlib
import math
import os
from typing import Any

from safetensors.torch import save as save_safetensors
from torch import nn

from .checkpoint import atomic_write_bytes


class BestWeights:
    """The best evaluation so far: its value, step, weights file and checksum, and evaluations since."""

    def __init__(self, metric: str | None, mode: str = "min", patience: int | None = None):
        self.metric, self.mode, self.patience = metric, mode, patience
        self.record: dict[str, Any] = {"value": None, "step": None, "file": None, "sha256": None, "since": 0}

    def offer(self, result: dict[str, float], step: int, model: nn.Module, run_dir: str, write: bool = True) -> None:
        """Keep ``model``'s weights if ``result`` beats the best so far, else count one more since.
        ``write`` False (the other processes of a torchrun run): the same record, no file."""
        value = result.get(self.metric) if self.metric is not None else None
        if value is None or not math.isfinite(value):
            return
        best = self.record["value"]
        if best is not None and not (value > best if self.mode == "max" else value < best):
            self.record["since"] += 1
            return
        name, digest = f"best-{step:08d}.safetensors", None
        if write:
            # No metadata: safetensors writes it in hash order, and the same weights should give the same bytes.
            data = save_safetensors({k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()})
            atomic_write_bytes(os.path.join(run_dir, name), data)
            digest = hashlib.sha256(data).hexdigest()
        self.record = {"value": value, "step": step, "file": name, "sha256": digest, "since": 0}

    def spent(self) -> bool:
        """Whether ``patience`` evaluations in a row did not beat the best."""
        return self.patience is not None and self.record["since"] >= self.patience

    def drop_beaten(self, run_dir: str) -> None:
        """Delete the best-*.safetensors written after the previous checkpoint but since beaten
        (call once the checkpoint naming the current one is committed)."""
        for path in glob.glob(os.path.join(run_dir, "best-*.safetensors")):
            if os.path.basename(path) != self.record["file"]:
                os.unlink(path)
