"""Language modelling over one long stream of symbols: the trainer's task and the held-out score.

Characters or words alike: the text is cut into ``batch_size`` contiguous streams read ``bptt``
steps at a time with carried state (:mod:`rnnkit.data.batching`), and the divergence is the
lecture's Xent = -sum_t log Y(t, w_{t+1}).
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.batching import Batch, BlockStreams, EpochStreams, StreamBatcher
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from .runtime import Runtime


def stream_loss(model: nn.Module, ids: torch.Tensor, runtime: Runtime, batch_size: int = 16,
                bptt: int = 256) -> LossResult:
    """Summed next-symbol cross-entropy of ``ids`` read as ``batch_size`` contiguous streams.

    Each stream starts from zero state, so its first symbols lack context: with few long
    streams that costs little. The model must be in eval mode (the caller's choice).
    """
    batch_size = max(1, min(batch_size, (ids.numel() - 1) // max(bptt, 1) or 1))
    batcher = StreamBatcher(ids, batch_size, bptt)
    total, count, state = torch.zeros((), dtype=torch.float64), 0, None
    with torch.no_grad():
        for batch in batcher:
            batch = batch.to(runtime.device)
            with runtime.autocast():
                logits, state = model(batch.inputs, None, state)
            r = time_synchronous_xent(logits, batch.targets)
            total += r.total.double().cpu()
            count += int(r.count)
    return LossResult(total, count)


class StreamTask:
    """Next-symbol prediction over contiguous streams (the trainer's Task protocol).

    ``evaluate`` scores ``valid_ids`` as ``eval_batch_size`` streams and reports ``valid_loss``
    (nats per symbol); a subclass adds the unit's own figures (bits per character, perplexity).
    """

    unit = "symbol"

    def __init__(self, train_ids: torch.Tensor, valid_ids: torch.Tensor, batch_size: int, bptt: int, seed: int,
                 eval_batch_size: int = 16, eval_bptt: int = 256, block_segments: int = 0):
        # block_segments > 0: shuffled blocks of that many segments (BlockStreams), for corpora a run
        # reads a small share of; 0: batch_size streams through the whole text (EpochStreams).
        self.streams = (BlockStreams(train_ids, batch_size, bptt, block_segments, seed) if block_segments
                        else EpochStreams(train_ids, batch_size, bptt, seed))
        self.valid_ids = valid_ids
        self.eval_batch_size, self.eval_bptt = eval_batch_size, eval_bptt

    def next_batch(self) -> Batch:
        return self.streams.next_batch()

    def position(self) -> dict[str, int]:
        return self.streams.position()

    def seek(self, position: dict[str, int]) -> None:
        self.streams.seek(position)

    def passes(self) -> float:
        return self.streams.passes()

    def divergence(self, logits: torch.Tensor, batch: Batch) -> LossResult:
        return time_synchronous_xent(logits, batch.targets)

    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]:
        if self.valid_ids.numel() < 2:
            return {}
        r = stream_loss(model, self.valid_ids, runtime, self.eval_batch_size, self.eval_bptt)
        return {"valid_loss": float(r.total) / max(int(r.count), 1)}
