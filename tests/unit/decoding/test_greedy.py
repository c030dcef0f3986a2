import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rnnkit.decoding.greedy import ctc_collapse, greedy_decode, merge_repeats, run_starts

labels = st.lists(st.integers(1, 4), max_size=12)


def test_merging_cannot_produce_a_double_symbol_but_ctc_can():
    """'1 1' is out of reach of repeat merging: every run of 1s merges to a single 1.

    Over every frame sequence of symbols {1, 2} up to 6 frames, merging never yields (1, 1);
    with a blank (0) between the runs, CTC collapsing does.
    """
    outputs = {tuple(merge_repeats(p)) for n in range(1, 7) for p in itertools.product((1, 2), repeat=n)}
    assert (1,) in outputs and (1, 2, 1) in outputs and (1, 1) not in outputs
    assert ctc_collapse([1, 0, 1], blank=0) == [1, 1]
    assert ctc_collapse([1, 1], blank=0) == [1]
    assert merge_repeats([1, 0, 1]) == [1, 0, 1]      # without blank semantics 0 is just a symbol


@settings(max_examples=60, deadline=None)
@given(labels)
def test_collapse_properties(seq):
    merged = merge_repeats(seq)
    assert all(a != b for a, b in zip(merged, merged[1:]))
    assert merge_repeats(merged) == merged
    collapsed = ctc_collapse(seq, blank=1)
    assert 1 not in collapsed and len(collapsed) <= len(merged)
    assert ctc_collapse(collapsed, blank=1) == merge_repeats(collapsed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=8), st.data())
def test_any_ctc_alignment_collapses_back(target, data):
    """Repeat each label >= 1 times, put blanks between equal neighbours (and anywhere else)."""
    path = []
    for i, label in enumerate(target):
        if data.draw(st.booleans()) or (i and target[i - 1] == label):
            path += [0] * data.draw(st.integers(1, 2))
        path += [label] * data.draw(st.integers(1, 3))
    path += [0] * data.draw(st.integers(0, 2))
    assert ctc_collapse(path, blank=0) == target


def test_run_starts_are_timesteps():
    assert run_starts([3, 3, 0, 3, 1, 1]) == [0, 2, 3, 4]
    assert run_starts([3, 3, 0, 3, 1, 1], drop=0) == [0, 3, 4]


def test_greedy_modes_and_timesteps():
    path = [2, 2, 0, 2, 1, 1, 0]
    lp = np.log(np.full((1, 7, 3), 0.1))
    lp[0, np.arange(7), path] = np.log(0.8)
    [[argmax]] = greedy_decode(lp)
    [[merged]] = greedy_decode(lp, collapse="repeats")
    [[ctc]] = greedy_decode(torch.tensor(lp), collapse="ctc", blank=0)
    assert argmax.tokens == tuple(path) and argmax.timesteps == tuple(range(7))
    assert merged.tokens == (2, 0, 2, 1, 0) and merged.timesteps == (0, 2, 3, 4, 6)
    assert ctc.tokens == (2, 2, 1) and ctc.timesteps == (0, 3, 4)
    assert ctc.score == pytest.approx(7 * np.log(0.8))


def test_lengths_cut_padding():
    lp = np.log(np.full((2, 4, 3), 0.1))
    lp[:, :, 1] = np.log(0.8)
    lp[1, 2:, 2] = 0.0
    out = greedy_decode(lp, [4, 2], collapse="ctc", blank=0)
    assert [h.tokens for [h] in out] == [(1,), (1,)]
    assert greedy_decode(lp[:, :0], collapse="ctc", blank=0)[0][0].tokens == ()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 6))
def test_greedy_ctc_is_collapsed_argmax(seed, T):
    lp = np.random.default_rng(seed).normal(size=(1, T, 4))
    [[h]] = greedy_decode(lp, collapse="ctc", blank=3)
    assert list(h.tokens) == ctc_collapse(lp[0].argmax(-1).tolist(), blank=3)
    assert list(h.timesteps) == sorted(set(h.timesteps)) and len(h.timesteps) == len(h.tokens)


@pytest.mark.parametrize("kwargs, message", [
    (dict(collapse="ctc"), "CTC collapsing needs the blank id"),
    (dict(collapse="ctc", blank=3), "blank id 3 is outside the vocabulary of 3 symbols"),
    (dict(collapse="both"), "collapse must be one of ('none', 'repeats', 'ctc'), got 'both'"),
    (dict(lengths=[5]), "a length (5) exceeds the 4 frames of log_probs"),
    (dict(lengths=[1, 2]), "lengths must be [B] = (1,), got (2,)"),
    (dict(lengths=[-1]), "lengths must be non-negative, got -1"),
    (dict(lengths=[1.5]), "lengths must be integers, got float64"),
])
def test_errors(kwargs, message):
    lengths = kwargs.pop("lengths", None)
    with pytest.raises(ValueError) as info:
        greedy_decode(np.zeros((1, 4, 3)), lengths, **kwargs)
    assert str(info.value) == message
    with pytest.raises(ValueError, match=r"^log_probs must be \[B, T, C\], got shape \(4, 3\)$"):
        greedy_decode(np.zeros((4, 3)))
