"""Batches: contiguous streams cut into BPTT segments, and padded variable-length sequences.

Truncated back-propagation through time over one long text (the pytorch/examples scheme).
The encoded text is cut into ``batch_size`` equal streams, one per row (the tail that does not
fill a row is dropped); each row also reads the first symbol of the next row as its last
target. With 26 symbols and ``batch_size=4``::

    stream 0: a b c d e f | g      (row 0)
    stream 1: g h i j k l | m      (row 1)
    stream 2: m n o p q r | s      (row 2)
    stream 3: s t u v w x | y      (row 3)  -> z dropped

Segment k of length ``bptt=4`` takes columns [4k, 4k+4) as inputs and the same columns one
to the right as targets; the last segment is shorter::

    segment 0: inputs a b c d / g h i j / ...   targets b c d e / h i j k / ...
    segment 1: inputs e f     / k l     / ...   targets f g     / l m     / ...

Row b of segment k+1 continues row b of segment k, so the trainer carries each row's hidden
state into the next segment and detaches it there: gradients flow back ``bptt`` steps at most,
while the state remembers further. The model never sees a segment boundary.

>>> import torch
>>> b = StreamBatcher(torch.arange(26), batch_size=4, bptt=4)
>>> x, y = b.segment(0)
>>> x[:2].tolist(), y[:2].tolist()
([[0, 1, 2, 3], [6, 7, 8, 9]], [[1, 2, 3, 4], [7, 8, 9, 10]])
>>> b.num_segments, b.segment(1)[0].tolist(), b.segment(1)[1].tolist()
(2, [[4, 5], [10, 11], [16, 17], [22, 23]], [[5, 6], [11, 12], [17, 18], [23, 24]])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..errors import RnnkitError


@dataclass
class Batch:
    """What the trainer feeds a model and its divergence; the task decides what targets mean.

    inputs: ids [B, T] or features [B, T, F]; targets: ids [B, T] (time-synchronous),
    labels [B] (many-to-one) or padded label sequences [B, U] (CTC); lengths, target_lengths:
    [B] valid steps (None: all). ``new_stream``: start from zero recurrent state; False means
    this batch continues the previous one row by row, so the trainer carries the state.
    ``references``: what each example should decode to, for metrics, when the targets alone do
    not say (an aligned recogniser's frame targets cannot tell "2 2" from one long "2").
    ``conditions``: [B] one class per example that sets a generator going (a tune's kind), [B, K]
    K classes each (a tune's kind and meter), or None.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None
    new_stream: bool = True
    references: list | None = None
    conditions: torch.Tensor | None = None

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.inputs), move(self.targets), move(self.lengths), move(self.target_lengths),
                     self.new_stream, self.references, move(self.conditions))


def _gather(ids: torch.Tensor | np.ndarray, index: np.ndarray) -> torch.Tensor:
    """``ids[index]`` as int64 ids: from a tensor, or from a NumPy array reading those ids only."""
    if isinstance(ids, np.ndarray):
        return torch.from_numpy(np.asarray(ids[index], dtype=np.int64))
    return ids[torch.from_numpy(index)]


class StreamBatcher:
    """Cuts a 1-D id sequence into ``batch_size`` streams and walks them ``bptt`` steps at a time.

    ``ids`` is a tensor, or a NumPy array such as a memory-mapped token file
    (:mod:`rnnkit.data.prepared`): each segment reads only its own ids, so a corpus of gigabytes
    is never copied into memory.
    """

    def __init__(self, ids: torch.Tensor | np.ndarray, batch_size: int, bptt: int):
        if batch_size <= 0 or bptt <= 0:
            raise RnnkitError(f"batch size and bptt must be positive, got {batch_size} and {bptt}")
        ids = ids if isinstance(ids, np.ndarray) else torch.as_tensor(ids)
        # Each stream needs one more symbol than it has inputs: the last target.
        length = (len(ids) - 1) // batch_size
        if length < 1:
            raise RnnkitError(
                f"text of {len(ids)} symbols is too short for batch size {batch_size}: "
                "lower --batch-size or give a longer corpus")
        self.batch_size, self.bptt, self.length = batch_size, bptt, length
        self.ids = ids[: length * batch_size + 1]
        self._starts = np.arange(batch_size) * length  # row b is stream b, from ids[b * length]

    @property
    def num_segments(self) -> int:
        return (self.length + self.bptt - 1) // self.bptt

    @property
    def num_symbols(self) -> int:
        """Targets per pass over the data."""
        return self.length * self.batch_size

    def segment(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each [B, T] with T = bptt except maybe for the last segment."""
        start = k * self.bptt
        end = min(start + self.bptt, self.length)
        if not 0 <= start < self.length:
            raise IndexError(k)
        # [B, T + 1]: each row reads one symbol past its inputs, the last target (the next row's first).
        rows = _gather(self.ids, self._starts[:, None] + np.arange(start, end + 1)[None, :])
        return rows[:, :-1], rows[:, 1:]

    def __iter__(self) -> Iterator[Batch]:
        for k in range(self.num_segments):
            x, y = self.segment(k)
            yield Batch(x, y, new_stream=(k == 0))


class EpochStreams:
    """Endless training segments, epoch after epoch, with a resumable position.

    Each epoch after the first shifts the text by a seeded offset below ``bptt`` so segment
    boundaries fall elsewhere; ``position`` (epoch, segment) is all a resume needs.
    """

    def __init__(self, ids: torch.Tensor | np.ndarray, batch_size: int, bptt: int, seed: int = 0):
        ids = ids if isinstance(ids, np.ndarray) else torch.as_tensor(ids)
        self.ids, self.batch_size, self.bptt, self.seed = ids, batch_size, bptt, seed
        self.epoch, self.segment = 0, 0
        self._batcher = self._make(0)

    def _make(self, epoch: int) -> StreamBatcher:
        offset = 0
        if epoch > 0:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            offset = int(torch.randint(0, self.bptt, (1,), generator=g))
            offset = min(offset, max(0, len(self.ids) - self.batch_size - 1))
        return StreamBatcher(self.ids[offset:], self.batch_size, self.bptt)

    @property
    def symbols_per_epoch(self) -> int:
        return self._batcher.num_symbols

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "segment": self.segment}

    def passes(self) -> float:
        """How many passes over the text the batches handed out so far make (epochs, fractional)."""
        return self.epoch + self.segment / max(self._batcher.num_segments, 1)

    def seek(self, position: dict[str, int]) -> None:
        self.epoch, self.segment = int(position["epoch"]), int(position["segment"])
        self._batcher = self._make(self.epoch)

    def next_batch(self) -> Batch:
        if self.segment >= self._batcher.num_segments:
            self.seek({"epoch": self.epoch + 1, "segment": 0})
        x, y = self._batcher.segment(self.segment)
        batch = Batch(x, y, new_stream=(self.segment == 0))
        self.segment += 1
        return batch


class BlockStreams:
    """Endless training segments from shuffled blocks of a long text, with a resumable position.

    :class:`EpochStreams` walks ``batch_size`` streams through the whole text: a run that reads a
    small share of a corpus of gigabytes then sees ``batch_size`` places of it only. Here the text
    is cut into blocks of ``segments * bptt`` ids (+1, the last target); each round takes the
    next ``batch_size`` blocks of a seeded permutation, one per row, and walks them ``segments``
    segments with carried state; the next round starts from zero state. Every epoch draws a new
    permutation and shifts the cut by a seeded offset below ``bptt``. ``ids`` may be memory-mapped:
    a segment reads its own ids only.

    >>> s = BlockStreams(torch.arange(100), batch_size=2, bptt=4, segments=2, seed=0)
    >>> b = s.next_batch(); b.new_stream, tuple(b.inputs.shape), (b.targets - b.inputs).unique().tolist()
    (True, (2, 4), [1])
    >>> s.next_batch().new_stream, s.next_batch().new_stream, s.position()
    (False, True, {'epoch': 0, 'round': 1, 'segment': 1})
    """

    def __init__(self, ids: torch.Tensor | np.ndarray, batch_size: int, bptt: int, segments: int, seed: int = 0):
        if batch_size <= 0 or bptt <= 0 or segments <= 0:
            raise RnnkitError(f"batch size, bptt and block segments must be positive, got {batch_size}, {bptt}, {segments}")
        self.ids = ids if isinstance(ids, np.ndarray) else torch.as_tensor(ids)
        self.batch_size, self.bptt, self.segments, self.seed = batch_size, bptt, segments, seed
        self.block = segments * bptt
        if (len(self.ids) - bptt) // self.block < batch_size:
            raise RnnkitError(f"text of {len(self.ids)} symbols holds fewer than {batch_size} blocks of "
                              f"{segments} x {bptt} symbols: lower --block-segments or --batch-size")
        self.seek({"epoch": 0, "round": 0, "segment": 0})

    def _order(self, epoch: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        self.offset = int(torch.randint(0, self.bptt, (1,), generator=g)) if epoch > 0 else 0
        blocks = (len(self.ids) - self.offset - 1) // self.block
        self.order = torch.randperm(blocks, generator=g).numpy()
        self.rounds = blocks // self.batch_size

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "round": self.round, "segment": self.segment}

    def passes(self) -> float:
        """Passes over the text the batches handed out so far make (epochs, fractional)."""
        return self.epoch + (self.round * self.segments + self.segment) / (self.rounds * self.segments)

    def seek(self, position: dict[str, int]) -> None:
        self.epoch, self.round, self.segment = int(position["epoch"]), int(position["round"]), int(position["segment"])
        self._order(self.epoch)

    def next_batch(self) -> Batch:
        if self.segment >= self.segments:
            self.round, self.segment = self.round + 1, 0
        if self.round >= self.rounds:
            self.seek({"epoch": self.epoch + 1, "round": 0, "segment": 0})
        rows = self.order[self.round * self.batch_size: (self.round + 1) * self.batch_size]
        start = self.offset + rows[:, None] * self.block + self.segment * self.bptt
        ids = _gather(self.ids, start + np.arange(self.bptt + 1)[None, :])
        batch = Batch(ids[:, :-1], ids[:, 1:], new_stream=(self.segment == 0))
        self.segment += 1
        return batch


def pad_sequences(seqs: list[torch.Tensor], value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad tensors of shape [T_i, ...] into [B, T_max, ...] and their lengths [B].

    >>> x, n = pad_sequences([torch.tensor([1, 2, 3]), torch.tensor([4])])
    >>> x.tolist(), n.tolist()
    ([[1, 2, 3], [4, 0, 0]], [3, 1])
    """
    if not seqs:
        raise RnnkitError("cannot pad an empty list of sequences")
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    out = seqs[0].new_full((len(seqs), int(lengths.max()), *seqs[0].shape[1:]), value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lengths


class SequenceBatches:
    """Shuffled mini-batches of independent (input, target) examples, epoch after epoch.

    Each example is ``(inputs [T, ...], targets)`` with targets a label (0-d tensor), a
    time-synchronous sequence [T] or a label sequence [U], or ``(inputs, targets, reference)``
    with a reference for metrics (:attr:`Batch.references`), or ``(inputs, targets, reference,
    condition)`` with a class id or a tuple of K (:attr:`Batch.conditions`); batches are padded (targets with
    ``target_pad``), with lengths beside them, and always start from zero state. The order of
    each epoch is a seeded permutation, so ``position`` (epoch, index) is all a resume needs.

    With ``bucket`` = k > 1, each run of k * batch_size shuffled examples is sorted by length
    and cut into batches, and the batches are shuffled: batches of similar lengths (little
    padding), still a different mix every epoch.
    """

    def __init__(self, examples: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int, seed: int = 0,
                 shuffle: bool = True, target_pad: int = -100, bucket: int = 0):
        if not examples:
            raise RnnkitError("no examples to batch")
        if batch_size <= 0:
            raise RnnkitError(f"batch size must be positive, got {batch_size}")
        self.examples, self.batch_size, self.seed, self.shuffle, self.target_pad = examples, batch_size, seed, shuffle, target_pad
        self.bucket = bucket
        self.epoch, self.index = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(len(self.examples))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.examples), generator=g)
        if self.bucket <= 1:
            return order
        lengths = torch.tensor([example[0].shape[0] for example in self.examples])
        batches = []
        for pool in order.split(self.bucket * self.batch_size):
            batches += pool[torch.argsort(lengths[pool], stable=True)].split(self.batch_size)
        full = [b for b in batches if len(b) == self.batch_size]  # at most one is short: it stays last
        return torch.cat([full[i] for i in torch.randperm(len(full), generator=g).tolist()]
                         + [b for b in batches if len(b) < self.batch_size])

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def passes(self) -> float:
        """How many passes over the examples the batches handed out so far make (epochs, fractional)."""
        return self.epoch + self.index / max(len(self.examples), 1)

    def seek(self, position: dict[str, int]) -> None:
        self.epoch, self.index = int(position["epoch"]), int(position["index"])
        self._order = self._permutation(self.epoch)

    def collate(self, items: list[tuple]) -> Batch:
        inputs, lengths = pad_sequences([item[0] for item in items])
        targets = [item[1] for item in items]
        references = [item[2] for item in items] if len(items[0]) > 2 else None
        conditions = torch.tensor([item[3] for item in items]) if len(items[0]) > 3 else None
        if targets[0].dim() == 0:
            return Batch(inputs, torch.stack(targets), lengths, references=references, conditions=conditions)
        padded, target_lengths = pad_sequences(targets, self.target_pad)
        return Batch(inputs, padded, lengths, target_lengths, references=references, conditions=conditions)

    def next_batch(self) -> Batch:
        if self.index >= len(self.examples):
            self.seek({"epoch": self.epoch + 1, "index": 0})
        picked = self._order[self.index: self.index + self.batch_size].tolist()
        self.index += len(picked)
        return self.collate([self.examples[i] for i in picked])

    def __iter__(self) -> Iterator[Batch]:
        """One pass in order (for evaluation)."""
        for start in range(0, len(self.examples), self.batch_size):
            yield self.collate(self.examples[start: start + self.batch_size])
