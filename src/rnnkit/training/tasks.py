"""A task over independent labelled sequences: taggers, classifiers, recognisers.

It composes a :class:`~rnnkit.data.batching.SequenceBatches`, a divergence from
``rnnkit.losses`` and optional metrics into the trainer's Task protocol, so each synchrony mode
is a choice of divergence (and decoder for its metrics), not a new pipeline.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn

from ..data.batching import Batch, SequenceBatches
from ..losses.base import LossResult
from .runtime import Runtime

Divergence = Callable[[torch.Tensor, Batch], LossResult]
# metric(logits, batch) -> (sum, count) of e.g. correct labels, or edit errors and reference length
Metric = Callable[[torch.Tensor, Batch], tuple[float, float]]
# forward(model, batch, state) -> (logits, state): how the model reads a batch
Forward = Callable[[nn.Module, Batch, "tuple[torch.Tensor, ...] | None"], tuple[torch.Tensor, tuple]]


class Task(Protocol):
    """What the trainer needs from a task (a language model, a tagger, a recogniser...)."""

    unit: str  # what a divergence count counts: "char", "token", "frame", "sequence"

    def next_batch(self) -> Batch: ...
    def position(self) -> dict[str, int]: ...
    def seek(self, position: dict[str, int]) -> None: ...
    def passes(self) -> float: ...  # passes over the training data handed out so far
    def divergence(self, logits: torch.Tensor, batch: Batch) -> LossResult: ...
    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]: ...
    # Optional: forward(model, batch, state) -> (logits, state), for a model that reads more of the
    # batch than its inputs (an encoder-decoder reads the targets too); the default is
    # model(batch.inputs, batch.lengths, state).


def run_model(task: Task, model: nn.Module, batch: Batch, state: tuple[torch.Tensor, ...] | None):
    """The model's outputs on ``batch``, the way ``task`` says it is called (see :class:`Task`)."""
    call = getattr(task, "forward", None)
    return call(model, batch, state) if call is not None else model(batch.inputs, batch.lengths, state)


def read_inputs(model: nn.Module, batch: Batch, state: tuple[torch.Tensor, ...] | None) -> tuple[torch.Tensor, tuple]:
    """The usual call: the model reads the batch's inputs and lengths."""
    return model(batch.inputs, batch.lengths, state)


class SequenceTask:
    """Train on shuffled padded batches; evaluate mean divergence and metrics on held-out batches."""

    def __init__(self, train: SequenceBatches, valid: SequenceBatches | None, divergence: Divergence,
                 unit: str = "token", metrics: dict[str, Metric] | None = None, forward: Forward = read_inputs,
                 valid_divergence: Divergence | None = None):
        """``forward``: how the model reads a batch (an encoder-decoder reads the targets too);
        ``valid_divergence``: what held-out batches are scored by, when not the training divergence
        (which may carry a regulariser, such as label smoothing)."""
        self.train, self.valid, self.divergence_fn, self.unit = train, valid, divergence, unit
        self.valid_divergence_fn = valid_divergence or divergence
        self.metrics, self.forward = metrics or {}, forward

    def next_batch(self) -> Batch:
        return self.train.next_batch()

    def position(self) -> dict[str, int]:
        return self.train.position()

    def seek(self, position: dict[str, int]) -> None:
        self.train.seek(position)

    def passes(self) -> float:
        return self.train.passes()

    def divergence(self, logits: torch.Tensor, batch: Batch) -> LossResult:
        return self.divergence_fn(logits, batch)

    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]:
        if self.valid is None:
            return {}
        total, count = 0.0, 0.0
        sums = {name: [0.0, 0.0] for name in self.metrics}
        for batch in self.valid:
            batch = batch.to(runtime.device)
            with runtime.autocast():
                logits, _ = self.forward(model, batch, None)
            r = self.valid_divergence_fn(logits.float(), batch)
            total, count = total + float(r.total), count + float(r.count)
            for name, metric in self.metrics.items():
                s, c = metric(logits.float(), batch)
                sums[name][0] += s
                sums[name][1] += c
        result = {"valid_loss": total / max(count, 1e-12)}
        result.update({name: s / max(c, 1e-12) for name, (s, c) in sums.items()})
        return result
