"""Binary addition, the lecture's argument for recurrence: a net that adds 8-bit numbers adds any.

    rnnkit train addition --bits 8 --examples 1000 --out runs/add
    rnnkit evaluate runs/add --bits 8,9,16,64,256,1024 --json
    rnnkit add runs/add 1011 110

Two numbers are read least-significant bit first, one pair of bits per time step, and the
network writes one bit of the sum per step (time-synchronous cross-entropy), then the final
carry at one extra step (:mod:`rnnkit.data.addition`). The same weights run at every step, so a
net that has learned the carry at 8 bits has learned it at any length; an MLP reading the 16
bits at once has no input for a 9th (benchmarks/addition.py measures both).

The training pairs are drawn (seeded, all different) from the run's seed; the dev pairs, which
choose the kept weights, from another seed and never among the training pairs; ``evaluate``
draws fresh pairs again (at the training length, never a training or dev pair).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from ..configs import from_dict, to_dict
from ..data.addition import bits_to_int, distinct_pairs, encode_pairs, int_to_bits, pair_keys, random_bits
from ..data.batching import Batch, SequenceBatches
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from ..models.model import ModelConfig, SequenceModel, build_model
from ..training.checkpoint import atomic_write_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import load_run_model, new_run, resume_run

from .addition_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .addition_cli import resume_from_args, train_from_args  # noqa: F401

log = logging.getLogger(__name__)
TASK = "addition"
DEV_SEED_OFFSET, EVAL_SEED = 1_000_003, 2_000_003  # dev and evaluation pairs come from other seeds than training's


@dataclass(frozen=True)
class AdditionConfig:
    """The training data: ``examples`` different pairs of ``bits``-bit numbers, and ``dev`` more to choose on."""

    bits: int = 8
    examples: int = 1000
    dev: int = 500

    def validate(self) -> "AdditionConfig":
        for name in ("bits", "examples", "dev"):
            if getattr(self, name) <= 0:
                raise RnnkitError(f"{name} must be positive, got {getattr(self, name)}")
        if self.bits < 32 and self.examples + self.dev > 4 ** self.bits:
            raise RnnkitError(f"there are only {4 ** self.bits} different pairs of {self.bits}-bit numbers: "
                              f"{self.examples} training and {self.dev} dev pairs do not fit")
        return self


# The lecture's Elman net: one tanh layer of 16 units over a projection of the two input bits to
# 8; Adam at 1e-2, batches of 32, at most 1,500 steps (about 10 s on a CPU); the weights with the
# lowest dev loss kept. Chosen on a probe (README): Elman and GRU nets of 8 and 16 units, and an
# LSTM of 8, were exact on 1,000 pairs at every length to 1,024 bits; an LSTM of 16 missed 4 of them
# at 1,024 bits (its cell state is not bounded, and drifts over a thousand steps).
DEFAULT_MODEL = dict(cell="rnn_tanh", embedding_dim=8, hidden_size=16, num_layers=1, dropout=0.0)
DEFAULT_TRAIN = TrainConfig(batch_size=32, lr=1e-2, weight_decay=0.0, clip_norm=1.0, warmup_steps=20, max_steps=1500,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=2.0, checkpoint_interval=30.0,
                            select="valid_loss", select_mode="min")


# -- the task -----------------------------------------------------------------------------------
def divergence(logits: torch.Tensor, batch: Batch) -> LossResult:
    return time_synchronous_xent(logits, batch.targets, batch.lengths)


def exact(logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
    """(sums with every bit right, sums): the exact-match count of a batch."""
    right = (logits.argmax(-1) == batch.targets) | (batch.targets == -100)
    return float(right.all(dim=1).sum()), float(len(batch.targets))


def _examples(a: torch.Tensor, b: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    inputs, targets = encode_pairs(a, b)
    return list(zip(inputs, targets))


def _prepare(cfg: AdditionConfig, seed: int) -> tuple[list, list, set[bytes]]:
    """Training and dev examples, and the keys of all their pairs (which evaluation never draws)."""
    a, b = distinct_pairs(cfg.examples, cfg.bits, seed)
    seen = pair_keys(a, b)
    da, db = distinct_pairs(cfg.dev, cfg.bits, seed + DEV_SEED_OFFSET, exclude=seen)
    return _examples(a, b), _examples(da, db), seen | pair_keys(da, db)


def make_task(train: list, dev: list, tcfg: TrainConfig) -> SequenceTask:
    return SequenceTask(SequenceBatches(train, tcfg.batch_size, tcfg.seed), SequenceBatches(dev, 256, shuffle=False),
                        divergence, unit="bit", metrics={"valid_exact": exact})


def train_addition(out: str, cfg: AdditionConfig, model_overrides: dict[str, Any] | None = None,
                   train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new adder into the run folder ``out``; returns the final dev metrics."""
    cfg = cfg.validate()
    runtime = new_run(out, train)
    train_examples, dev_examples, _ = _prepare(cfg, train.seed)
    model_cfg = ModelConfig(input_size=2, num_outputs=2, **{**DEFAULT_MODEL, **(model_overrides or {})}).validate()
    model = build_model(model_cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(model_cfg), "train": to_dict(train), "addition": to_dict(cfg),
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("%d pairs of %d-bit numbers to train on, %d to choose on; %s of %d units, %d parameters", cfg.examples,
             cfg.bits, cfg.dev, model_cfg.cell, model_cfg.hidden_size, model.num_parameters())
    return Trainer(model, make_task(train_examples, dev_examples, train), train, runtime, out).run(stop_after=stop_after)


def resume_addition(out: str, model_overrides: dict[str, Any] | None = None,
                    train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped."""
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    train_examples, dev_examples, _ = _prepare(from_dict(AdditionConfig, config["addition"]), train.seed)
    return resume_run(out, config, train, build_model(model_cfg), make_task(train_examples, dev_examples, train),
                      stop_after=stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass
class Adder:
    """A trained adder (what ``rnnkit.load`` returns for an addition run)."""

    model: SequenceModel
    config: dict[str, Any]
    step: int

    @torch.no_grad()
    def add_bits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The network's sums [N, bits + 1] of the pairs ``a``, ``b`` ([N, bits] bits, least significant first)."""
        inputs, _ = encode_pairs(a, b)
        device = next(self.model.parameters()).device
        lengths = torch.full((len(inputs),), inputs.shape[1], dtype=torch.long)
        logits, _ = self.model(inputs.to(device), lengths.to(device), None)
        return logits.argmax(-1).cpu()

    def add(self, a: int, b: int) -> int:
        """a + b as the network computes it, for numbers of any length."""
        if a < 0 or b < 0:
            raise RnnkitError("the adder adds numbers >= 0")
        bits = max(a.bit_length(), b.bit_length(), 1)
        return bits_to_int(self.add_bits(int_to_bits(a, bits)[None], int_to_bits(b, bits)[None])[0])

    def accuracy(self, bits: int, count: int = 1000, seed: int = EVAL_SEED, batch: int = 500) -> dict[str, float]:
        """Exact-match and bit accuracy on ``count`` fresh random pairs of ``bits``-bit numbers
        (at the training length, none of the training or dev pairs)."""
        a, b = self._fresh(bits, count, seed)
        right = exact_bits = 0
        for i in range(0, count, batch):
            got, want = self.add_bits(a[i:i + batch], b[i:i + batch]), encode_pairs(a[i:i + batch], b[i:i + batch])[1]
            right += int((got == want).all(dim=1).sum())
            exact_bits += int((got == want).sum())
        return {"bits": bits, "pairs": count, "exact": right / count, "bit_accuracy": exact_bits / (count * (bits + 1))}

    def _fresh(self, bits: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = from_dict(AdditionConfig, self.config["addition"])
        if bits != cfg.bits:
            return random_bits(count, bits, torch.Generator().manual_seed(seed + bits))
        _, _, seen = _prepare(cfg, self.config["train"]["seed"])
        return distinct_pairs(count, bits, seed + bits, exclude=seen)


def load(run_dir: str, device: str = "cpu") -> Adder:
    """The kept (lowest dev loss) weights of an addition run folder, for inference."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device)
    return Adder(model=model, config=config, step=step)

