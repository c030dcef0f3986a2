"""What every divergence returns: a summed loss and the count it sums over.

Averages are taken by the caller (``total / count``), so a batch of short sequences and a
batch of long ones weigh each token, frame or sequence equally across batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossResult:
    """``total``: summed divergence (a scalar tensor, differentiable); ``count``: what it sums over."""

    total: torch.Tensor
    count: int | float | torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        """total / count (the value to back-propagate for a per-unit average)."""
        count = self.count if torch.is_tensor(self.count) else torch.tensor(float(self.count))
        return self.total / count.to(self.total.device, self.total.dtype).clamp_min(1e-12)
