"""The addition problem's data: bits against Python's integers, distinct and excluded pairs."""
import random

import pytest
import torch

from rnnkit.data.addition import (add_bits, bits_to_int, distinct_pairs, encode_pairs, int_to_bits, pair_keys,
                                  parse_binary)
from rnnkit.errors import RnnkitError


@pytest.mark.parametrize("bits", [1, 3, 8, 70])
def test_sums_match_python_integers(bits):
    rng = random.Random(bits)
    pairs = [(rng.getrandbits(bits), rng.getrandbits(bits)) for _ in range(50)] + [(2 ** bits - 1, 2 ** bits - 1)]
    a = torch.stack([int_to_bits(x, bits) for x, _ in pairs])
    b = torch.stack([int_to_bits(y, bits) for _, y in pairs])
    inputs, targets = encode_pairs(a, b)
    assert inputs.shape == (len(pairs), bits + 1, 2) and targets.shape == (len(pairs), bits + 1)
    assert [bits_to_int(t) for t in targets] == [x + y for x, y in pairs]
    assert [bits_to_int(row[:, 0].long()) for row in inputs] == [x for x, _ in pairs]  # a's bits, LSB first
    assert inputs[:, -1].abs().sum() == 0  # the extra step reads nothing: it writes the final carry
    assert torch.equal(add_bits(a, b), targets)


def test_distinct_pairs_are_distinct_seeded_and_avoid_the_excluded():
    a, b = distinct_pairs(200, 4, seed=3)
    assert len(pair_keys(a, b)) == 200
    a2, b2 = distinct_pairs(200, 4, seed=3)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    c, d = distinct_pairs(56, 4, seed=4, exclude=pair_keys(a, b))  # 256 pairs of 4-bit numbers in all
    assert not pair_keys(c, d) & pair_keys(a, b) and len(pair_keys(c, d)) == 56
    with pytest.raises(RnnkitError, match="only 0 pairs"):
        distinct_pairs(1, 4, seed=5, exclude=pair_keys(a, b) | pair_keys(c, d))


def test_binary_numbers_and_their_errors():
    assert parse_binary("110") == 6 and parse_binary("0001") == 1
    for bad in ("", "102", "-1", "0b11", "1 1"):
        with pytest.raises(RnnkitError, match="not a binary number"):
            parse_binary(bad)
    with pytest.raises(RnnkitError, match="does not fit"):
        int_to_bits(8, 3)
