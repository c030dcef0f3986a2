"""Weight averaging: an exponential moving average of the parameters, evaluated and kept instead of them.

After optimiser step n (from 0) ``average = d * average + (1 - d) * weights`` with
``d = min(decay, (1 + n) / (10 + n))`` (Polyak averaging with a forgetting factor; its time
constant is 1 / (1 - decay) steps once d reaches decay). The ramp keeps the random initial weights
out of the average of a short run: with d = 0.999 from the start they would still weigh 37% after
1,000 steps. The trainer evaluates and keeps the averaged weights and trains the raw ones, so a
checkpoint holds both.

>>> from torch import nn
>>> layer = nn.Linear(1, 1, bias=False)
>>> _ = nn.init.constant_(layer.weight, 4.0)
>>> avg = WeightAverage(layer, decay=0.25)
>>> [round(avg.decay_at(n), 3) for n in (0, 1, 2, 100)]
[0.1, 0.182, 0.25, 0.25]
>>> for n, value in enumerate((4.0, 4.0, 8.0)):
...     _ = layer.weight.data.fill_(value)
...     avg.update(layer, n)
>>> with avg.applied(layer):
...     float(layer.weight.detach())           # 0.25 * 4 + 0.75 * 8
7.0
>>> float(layer.weight.detach())
8.0
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

PREFIX = "average/"


class WeightAverage:
    """The moving average of ``model``'s parameters, started at their current values."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.names = [name for name, _ in model.named_parameters()]
        self.values = [p.detach().clone() for _, p in model.named_parameters()]

    def decay_at(self, n: int) -> float:
        """The decay of update ``n`` (0 for the first): ``decay``, ramped up over the first steps."""
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module, n: int) -> None:
        """Move the average towards the model's weights after optimiser step ``n`` (from 0)."""
        torch._foreach_lerp_(self.values, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(n))

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """The model holds the averaged weights inside the block and its own again after it."""
        params = list(model.parameters())
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, v in zip(params, self.values):
                p.copy_(v)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The average for a checkpoint, one ``average/<parameter name>`` tensor each."""
        return {PREFIX + name: v for name, v in zip(self.names, self.values)}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore the average saved by :meth:`tensors`."""
        for i, name in enumerate(self.names):
            self.values[i].copy_(tensors[PREFIX + name])


def averaged_state(model_state: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``model_state`` with each parameter replaced by its average from checkpoint ``tensors``."""
    out = dict(model_state)
    for key, value in tensors.items():
        if key.startswith(PREFIX) and key[len(PREFIX):] in out:
            out[key[len(PREFIX):]] = value
    return out
