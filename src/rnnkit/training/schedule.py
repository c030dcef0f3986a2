"""Training settings and the schedules derived from them: learning rate by progress, dropout by passes.

:class:`TrainConfig` is what every run folder's config.json records under ``train``; the
trainer (trainer.py) reads the rate and the dropout scale in force from the functions here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import RnnkitError


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in every run folder's config.json."""

    # Tuned for time to quality on a 2-core CPU (benchmarks/charlm_speed_quality.py): more, shorter
    # segments beat fewer long ones; 64 x 64 keeps bf16 matrix products large enough to be efficient.
    batch_size: int = 64
    bptt: int = 64  # stream tasks: steps per truncated-BPTT segment
    lr: float = 5e-3
    min_lr_ratio: float = 0.05  # the cosine schedule ends at lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    clip_norm: float = 1.0
    # Dropout schedule, in passes over the training data: off for the first ``dropout_from``
    # passes, then rising linearly to the model's dropout over ``dropout_ramp`` passes. Short runs
    # are under-fitted and lose by dropout; long ones over-fit without it (benchmarks/
    # charlm_speed_quality.py at 180 and 900 s). 0 and 0 give constant dropout.
    dropout_from: float = 3.0
    dropout_ramp: float = 2.0
    max_steps: int | None = None
    time_budget: float | None = None  # seconds of training, evaluations included
    eval_interval: float = 60.0  # seconds between validations; the last one is at the end
    checkpoint_interval: float = 120.0  # seconds between checkpoints; the last one is at the end
    log_interval: int = 20  # steps between metrics.jsonl records
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True
    # Model selection and early stopping (off by default): after each evaluation whose ``select``
    # metric beats the best so far ("max": higher is better, "min": lower), the weights are kept as
    # best-<step>.safetensors; after ``patience`` evaluations without that, training stops.
    select: str | None = None
    select_mode: str = "max"
    patience: int | None = None
    # Weight averaging (training/averaging.py): > 0 evaluates and keeps an exponential moving average
    # of the weights with this decay instead of the weights themselves; 0 is off.
    average: float = 0.0

    def validate(self) -> "TrainConfig":
        for name in ("batch_size", "bptt", "log_interval"):
            if getattr(self, name) <= 0:
                raise RnnkitError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("lr", "clip_norm"):
            if not getattr(self, name) > 0:
                raise RnnkitError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise RnnkitError(f"max-steps must be positive, got {self.max_steps}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise RnnkitError(f"time-budget must be a positive number of seconds, got {self.time_budget}")
        if self.max_steps is None and self.time_budget is None:
            raise RnnkitError("give --max-steps or --time-budget (or both) so training knows when to stop")
        if not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0 or self.weight_decay < 0:
            raise RnnkitError("min-lr-ratio must be in [0, 1]; warmup-steps and weight-decay must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise RnnkitError("betas must be in [0, 1)")
        if self.dropout_from < 0 or self.dropout_ramp < 0:
            raise RnnkitError("dropout-from and dropout-ramp are numbers of passes: they must be >= 0")
        if self.select_mode not in ("max", "min"):
            raise RnnkitError(f"select-mode must be max or min, got {self.select_mode!r}")
        if self.patience is not None and (self.patience <= 0 or self.select is None):
            raise RnnkitError("patience must be a positive number of evaluations, with a metric to select on")
        if not 0.0 <= self.average < 1.0:
            raise RnnkitError(f"average must be in [0, 1) (0: off), got {self.average}")
        return self


def dropout_scale_at(cfg: TrainConfig, passes: float) -> float:
    """The fraction of the model's dropout in force after ``passes`` passes over the data.

    >>> cfg = TrainConfig(dropout_from=3.0, dropout_ramp=2.0, max_steps=1)
    >>> [dropout_scale_at(cfg, p) for p in (0.0, 3.0, 4.0, 5.0, 9.0)]
    [0.0, 0.0, 0.5, 1.0, 1.0]
    """
    if passes < cfg.dropout_from:
        return 0.0
    if cfg.dropout_ramp == 0:
        return 1.0
    return min(1.0, (passes - cfg.dropout_from) / cfg.dropout_ramp)


def lr_at(cfg: TrainConfig, step: int, progress: float, restart: tuple[float, float] = (0.0, 1.0)) -> float:
    """Linear warmup over ``warmup_steps``, then cosine decay to ``lr * min_lr_ratio`` at progress 1.

    ``restart`` = (p0, s0): from progress p0 the cosine starts at ``lr * s0`` instead (a resumed
    run whose stop was moved continues from the rate it had, with no jump; see
    :meth:`Trainer.extend_schedule`). The default (0, 1) is the one schedule of a run never moved.

    >>> cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.0, max_steps=100)
    >>> lr_at(cfg, 4, 0.0), lr_at(cfg, 50, 0.0), round(lr_at(cfg, 50, 0.5), 3), lr_at(cfg, 99, 1.0)
    (0.5, 1.0, 0.5, 0.0)
    >>> lr_at(cfg, 50, 0.5, restart=(0.5, 0.2)), round(lr_at(cfg, 70, 0.75, restart=(0.5, 0.2)), 3)
    (0.2, 0.1)
    """
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    p0, s0 = restart
    p = min(max((progress - p0) / (1 - p0), 0.0), 1.0) if p0 < 1 else 1.0
    floor = cfg.min_lr_ratio
    return cfg.lr * warm * (floor + (max(s0, floor) - floor) * 0.5 * (1 + math.cos(math.pi * p)))
