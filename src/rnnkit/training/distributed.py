"""Training on several processes with PyTorch's own engine: ``torchrun`` and DistributedDataParallel.

``torchrun --nproc_per_node=N -m rnnkit train TASK ...`` runs the same command N times; each
process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment and joins one
process group (gloo on CPU, NCCL on CUDA). The trainer then:

* builds the same global batch in every process and keeps the rows of its own rank
  (:func:`shard`): stream rows and sequence batches are split across ranks, and the global
  batch, its order and its positions are exactly those of a one-process run;
* scales each rank's summed divergence by ``world size / global count``, so that
  DistributedDataParallel's gradient average is the gradient of the global batch's mean;
* agrees on the step's loss, the clock and a stop signal once a step (:class:`World`), so every
  process takes the same decisions (evaluate, save, stop) at the same step;
* gathers the carried state and every rank's random state to rank 0, which alone writes
  checkpoints, logs and progress: a checkpoint holds the global batch's state, so one written
  by N processes resumes on M.
"""
from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
from torch import nn

from ..data.batching import Batch
from ..errors import RnnkitError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, logs and progress."""
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """``values`` summed over every process (float64)."""
        return self._reduce(values, dist.ReduceOp.SUM)

    def barrier(self) -> None:
        """Wait until every process got here."""
        if self.size > 1:
            dist.barrier()

    def all_max(self, values: list[float]) -> list[float]:
        return self._reduce(values, dist.ReduceOp.MAX)

    def _reduce(self, values: list[float], op: "dist.ReduceOp") -> list[float]:
        if self.size == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
        dist.all_reduce(t, op=op)
        return t.tolist()

    def gather_rows(self, tensor: torch.Tensor, dim: int, rows: list[int]) -> torch.Tensor:
        """Every rank's ``tensor`` (``rows[r]`` rows along ``dim`` on rank r) joined along ``dim``."""
        if self.size == 1:
            return tensor
        most = max(rows)
        pad = list(tensor.shape)
        pad[dim] = most - tensor.shape[dim]
        padded = torch.cat([tensor, tensor.new_zeros(pad)], dim).contiguous().to(_comm_device())
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return torch.cat([p.narrow(dim, 0, n).to(tensor.device) for p, n in zip(parts, rows)], dim)

    def gather_same(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``tensor`` (the same shape on every rank), in rank order."""
        if self.size == 1:
            return [tensor]
        local = tensor.contiguous().to(_comm_device())
        parts = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(parts, local)
        return [p.to(tensor.device) for p in parts]


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> World:
    """This process's :class:`World`: the process group joined when launched by torchrun."""
    if not launched():
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            if device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        except (RuntimeError, ValueError) as exc:
            raise RnnkitError(f"cannot join the training processes ({backend}): {exc}") from None
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def leave(finished: bool = True) -> None:
    """Leave the process group (at the end of a command that joined one). ``finished``: every
    process got here, so wait for them all first (a process that tears its group down while
    another still writes the last checkpoint can abort in gloo's teardown); after an error the
    others may never come, and torchrun stops them.

    The caller drops its DistributedDataParallel first; its last references go here, before the
    group does. With a DDP that outlives the group it used, 13 of 30 two-process runs of a toy
    script pinned to one core had a process abort at exit ("terminate called without an active
    exception", no Python frame); with the DDP freed first, 0 of 30 (torch 2.13, gloo)."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """A CUDA process's own GPU (its LOCAL_RANK) under torchrun; ``device`` otherwise."""
    if device.type == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def seed_rank(world: World, seed: int) -> None:
    """Give a process other than rank 0 a generator of its own (its dropout masks differ from rank
    0's), derived from ``seed`` and its rank; rank 0 keeps the one it has."""
    if world.rank > 0:
        torch.manual_seed(seed + 1_000_003 * world.rank)


def row_counts(batch_size: int, world: World) -> list[int]:
    """How many of a batch's rows each rank takes (as ``torch.tensor_split``: the first ranks one more)."""
    return [batch_size // world.size + (1 if r < batch_size % world.size else 0) for r in range(world.size)]


def shard(batch: Batch, world: World) -> tuple[Batch, float]:
    """(this rank's rows of ``batch``, their weight): 1, or 0 for a rank a short batch leaves
    without rows, which then computes on a copy of row 0 that counts for nothing (every rank
    must take part in each gradient exchange)."""
    if world.size == 1:
        return batch, 1.0
    rows = row_counts(batch.inputs.shape[0], world)
    start = sum(rows[: world.rank])
    n, weight = rows[world.rank], 1.0
    if n == 0:
        start, n, weight = 0, 1, 0.0
    cut = lambda t: None if t is None else t.narrow(0, start, n)  # noqa: E731
    return replace(batch, inputs=cut(batch.inputs), targets=cut(batch.targets), lengths=cut(batch.lengths),
                   target_lengths=cut(batch.target_lengths), conditions=cut(batch.conditions),
                   references=None if batch.references is None else batch.references[start: start + n]), weight


def gather_rng(world: World, state: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every rank's CPU generator state as ``rng/cpu/<rank>`` (nothing for one process)."""
    if world.size == 1:
        return {}
    return {f"rng/cpu/{rank}": s for rank, s in enumerate(world.gather_same(state))}


def gather_state(world: World, state: tuple[torch.Tensor, ...], dim: int, rows: list[int]) -> tuple[torch.Tensor, ...]:
    """The carried state of the whole batch: every rank's ``rows[rank]`` rows along ``dim``, joined."""
    if world.size == 1 or not state:
        return state
    return tuple(world.gather_rows(s, dim, rows) for s in state)


def local_state(world: World, state: tuple[torch.Tensor, ...], dim: int) -> tuple[list[int], tuple[torch.Tensor, ...] | None]:
    """(rows per rank, this rank's rows) of a whole batch's carried state (a checkpoint's)."""
    if world.size == 1 or not state:
        return [], state or None
    rows = row_counts(state[0].shape[dim], world)
    start, n = sum(rows[: world.rank]), rows[world.rank]
    return rows, (tuple(s.narrow(dim, start, n) for s in state) if n else None)


class Forward(nn.Module):
    """The model called the way its task says (``run``), as one module DistributedDataParallel wraps."""

    def __init__(self, model: nn.Module, run):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_run", run)  # a plain function, not a submodule

    def forward(self, batch: Batch, state):
        return self._run(self.model, batch, state)


def wrap(model: nn.Module, run, world: World, device: torch.device) -> nn.Module | None:
    """DistributedDataParallel around ``Forward(model, run)``, or None for one process."""
    if world.size == 1:
        return None
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(Forward(model, run), device_ids=ids)
