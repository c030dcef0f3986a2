"""The lecture's addition problem as sequences: two N-bit numbers in, their N+1-bit sum out.

Bit pairs are presented least-significant first, one pair per time step, and the network emits
one bit of the sum per step; one extra step (inputs 0, 0) emits the final carry. So 6 + 3 with
3 bits is::

    step      0  1  2  3
    a = 110   0  1  1  0      (a's bits, least significant first, then the extra step)
    b = 011   1  1  0  0
    sum       1  0  0  1      (9 = 1001, read right to left)

>>> inputs, targets = encode_pairs(torch.tensor([[0, 1, 1]]), torch.tensor([[1, 1, 0]]))
>>> inputs[0].tolist(), targets[0].tolist()
([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], [1, 0, 0, 1])
>>> bits_to_int(targets[0])
9
"""
from __future__ import annotations

import torch

from ..errors import RnnkitError


def int_to_bits(n: int, bits: int) -> torch.Tensor:
    """The ``bits`` lowest bits of ``n`` >= 0, least significant first, as a [bits] long tensor.

    >>> int_to_bits(6, 4).tolist()
    [0, 1, 1, 0]
    """
    if n < 0 or n >= 1 << bits:
        raise RnnkitError(f"{n} does not fit in {bits} bits")
    return torch.tensor([(n >> i) & 1 for i in range(bits)], dtype=torch.long)


def bits_to_int(bits: torch.Tensor) -> int:
    """The number whose bits (least significant first) are ``bits``."""
    return sum(int(b) << i for i, b in enumerate(bits.tolist()))


def parse_binary(text: str) -> int:
    """A number written in binary (most significant bit first, as people write it).

    >>> parse_binary("1011"), parse_binary("0")
    (11, 0)
    """
    if not text or set(text) - {"0", "1"}:
        raise RnnkitError(f"not a binary number: {text!r} (write it with the digits 0 and 1 only)")
    return int(text, 2)


def random_bits(count: int, bits: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pairs of uniformly random ``bits``-bit numbers, as two [count, bits] bit tensors."""
    a = torch.randint(0, 2, (count, bits), generator=generator)
    b = torch.randint(0, 2, (count, bits), generator=generator)
    return a, b


def add_bits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The sums of the rows of ``a`` and ``b`` ([N, bits], least significant first) as [N, bits + 1] bits.

    >>> add_bits(torch.tensor([[1, 1]]), torch.tensor([[1, 0]])).tolist()   # 3 + 1 = 4
    [[0, 0, 1]]
    """
    out = torch.zeros(a.shape[0], a.shape[1] + 1, dtype=torch.long)
    carry = torch.zeros(a.shape[0], dtype=torch.long)
    for i in range(a.shape[1]):
        s = a[:, i] + b[:, i] + carry
        out[:, i], carry = s % 2, s // 2
    out[:, -1] = carry
    return out


def encode_pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs [N, bits + 1, 2] (the two bits of each step; zeros at the extra step) and targets
    [N, bits + 1] (the sum's bits) of the pairs ``a``, ``b`` ([N, bits] bits, least significant first)."""
    if a.shape != b.shape or a.dim() != 2:
        raise RnnkitError(f"a and b must be [N, bits] bit tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    inputs = torch.zeros(a.shape[0], a.shape[1] + 1, 2)
    inputs[:, :-1, 0], inputs[:, :-1, 1] = a.float(), b.float()
    return inputs, add_bits(a, b)


def pair_keys(a: torch.Tensor, b: torch.Tensor) -> set[bytes]:
    """One hashable key per pair (row) of ``a``, ``b``."""
    both = torch.cat([a, b], dim=1).to(torch.uint8).numpy()
    return {row.tobytes() for row in both}


def distinct_pairs(count: int, bits: int, seed: int, exclude: set[bytes] = frozenset()) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` different random pairs of ``bits``-bit numbers (seeded), none of them in
    ``exclude`` (keys from :func:`pair_keys`), as two [count, bits] bit tensors.

    >>> a, b = distinct_pairs(16, 2, seed=0)       # all 4 ** 2 pairs of 2-bit numbers
    >>> len(pair_keys(a, b))
    16
    >>> distinct_pairs(1, 2, seed=0, exclude=pair_keys(a, b))
    Traceback (most recent call last):
    rnnkit.errors.RnnkitError: there are only 0 pairs of 2-bit numbers left to draw; asked for 1
    """
    left = 4 ** bits - len(exclude) if bits < 32 else None
    if left is not None and count > left:
        raise RnnkitError(f"there are only {left} pairs of {bits}-bit numbers left to draw; asked for {count}")
    g = torch.Generator().manual_seed(seed)
    seen, rows_a, rows_b = set(exclude), [], []
    while len(rows_a) < count:
        a, b = random_bits(2 * (count - len(rows_a)) + 8, bits, g)
        keys = torch.cat([a, b], dim=1).to(torch.uint8).numpy()
        for ra, rb, key in zip(a, b, keys):
            key = key.tobytes()
            if key not in seen and len(rows_a) < count:
                seen.add(key)
                rows_a.append(ra)
                rows_b.append(rb)
    return torch.stack(rows_a), torch.stack(rows_b)
