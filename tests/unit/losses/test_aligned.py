import pytest
import torch

from rnnkit.losses.aligned import aligned_xent, batch_frame_targets, ends_from_durations, frame_targets


def test_schemes_from_ends_and_durations_agree():
    for scheme in ("last", "repeat"):
        a = frame_targets([5, 6, 7], ends=[0, 3, 4], scheme=scheme)
        b = frame_targets([5, 6, 7], durations=[1, 3, 1], scheme=scheme)
        assert torch.equal(a, b)
    assert frame_targets([5, 6, 7], ends=[0, 3, 4], scheme="repeat").tolist() == [5, 6, 6, 6, 7]
    assert frame_targets([5, 6, 7], ends=[0, 3, 4], scheme="last").tolist() == [5, -100, -100, 6, 7]


def test_trailing_frames_and_empty_sequences():
    assert frame_targets([1], ends=[0], num_frames=3, scheme="repeat", ignore_index=-1).tolist() == [1, -1, -1]
    assert frame_targets([], ends=[], num_frames=2).tolist() == [-100, -100]


def test_batch_pads_with_ignore_index():
    y, n = batch_frame_targets([[1, 2], [3]], ends=[[0, 2], [0]], scheme="repeat")
    assert y.tolist() == [[1, 2, 2], [3, -100, -100]] and n.tolist() == [3, 1]


def test_loss_counts_symbols_or_frames():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5)
    symbols, durations = [[1, 2], [3, 4]], [[1, 3], [2, 1]]
    y_last, n = batch_frame_targets(symbols, durations=durations, scheme="last")
    y_rep, _ = batch_frame_targets(symbols, durations=durations, scheme="repeat")
    r_last, r_rep = aligned_xent(logits, y_last, n), aligned_xent(logits, y_rep, n)
    assert r_last.count == 4 and r_rep.count == 7
    lp = torch.log_softmax(logits, -1)
    # "repeat" scores every frame of a segment with its symbol: rows [1, 2, 2, 2] and [3, 3, 4, pad]
    expected = -(lp[0, 0, 1] + lp[0, 1:4, 2].sum() + lp[1, 0:2, 3].sum() + lp[1, 2, 4])
    assert float(r_rep.total) == pytest.approx(float(expected), rel=1e-6)
    # "last" scores exactly the frames where a symbol ends
    expected = -(lp[0, 0, 1] + lp[0, 3, 2] + lp[1, 1, 3] + lp[1, 2, 4])
    assert float(r_last.total) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(symbols=[1, 2], ends=[1]), "2 symbols but 1 segments"),
    (dict(symbols=[1, 2], ends=[2, 2]), "segment end frames must be non-negative and increasing, got [2, 2]"),
    (dict(symbols=[1], ends=[0], durations=[1]), "give exactly one of ends and durations"),
    (dict(symbols=[1], durations=[0]), "durations must be positive, got 0"),
    (dict(symbols=[1, 2], ends=[0, 4], num_frames=3), "the alignment needs 5 frames, got num_frames=3"),
    (dict(symbols=[1], ends=[0], scheme="first"), "scheme must be one of ('last', 'repeat'), got 'first'"),
])
def test_errors(kwargs, message):
    symbols = kwargs.pop("symbols")
    with pytest.raises(ValueError) as info:
        frame_targets(symbols, **kwargs)
    assert str(info.value) == message


def test_ends_from_durations():
    assert ends_from_durations([]) == [] and ends_from_durations([2, 1]) == [1, 2]
