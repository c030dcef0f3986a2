import pytest
import torch
import torch.nn.functional as F

from rnnkit.losses.many_to_one import last_step_logits, many_to_one_xent


def setup():
    torch.manual_seed(0)
    return torch.randn(3, 5, 4), torch.tensor([0, 3, 2]), torch.tensor([5, 2, 1])


def test_last_step_only_counts_sequences():
    logits, labels, lengths = setup()
    r = many_to_one_xent(logits, labels, lengths)
    expected = sum(F.cross_entropy(logits[b, lengths[b] - 1][None], labels[b][None]) for b in range(3))
    assert float(r.total) == pytest.approx(float(expected), rel=1e-6)
    assert r.count == 3
    assert torch.equal(last_step_logits(logits, lengths)[1], logits[1, 1])


def test_padding_does_not_matter():
    logits, labels, lengths = setup()
    changed = logits.clone()
    changed[1, 2:] = 100.0
    changed[2, 1:] = -7.0
    for weights in ("last", "uniform", torch.ones(5)):
        assert float(many_to_one_xent(changed, labels, lengths, weights).total) == pytest.approx(
            float(many_to_one_xent(logits, labels, lengths, weights).total))


def test_uniform_weights_average_each_sequence():
    logits, labels, lengths = setup()
    r = many_to_one_xent(logits, labels, lengths, "uniform")
    expected = sum(F.cross_entropy(logits[b, :lengths[b]], labels[b].repeat(int(lengths[b]))) for b in range(3))
    assert float(r.total) == pytest.approx(float(expected), rel=1e-6)
    assert float(r.count) == pytest.approx(3.0)


def test_last_scheme_equals_one_hot_weights():
    logits, labels, lengths = setup()
    w = F.one_hot(lengths - 1, 5).float()
    a, b = many_to_one_xent(logits, labels, lengths), many_to_one_xent(logits, labels, lengths, w)
    assert float(a.total) == pytest.approx(float(b.total), rel=1e-6)
    assert float(b.count) == 3.0


def test_given_weights_count_their_valid_sum():
    logits, labels, lengths = setup()
    r = many_to_one_xent(logits, labels, lengths, torch.tensor([1.0, 1.0, 0.0, 0.0, 2.0]))
    assert float(r.count) == pytest.approx(4.0 + 2.0 + 1.0)


def test_gradient_flows_only_to_valid_steps():
    logits, labels, lengths = setup()
    logits.requires_grad_(True)
    many_to_one_xent(logits, labels, lengths, "uniform").total.backward()
    assert float(logits.grad[1, 2:].abs().sum()) == 0.0
    assert float(logits.grad[1, :2].abs().sum()) > 0.0


@pytest.mark.parametrize("args, message", [
    ((torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([1, 1])), "logits must be [B, T, C], got shape (2, 3)"),
    ((torch.zeros(2, 3, 4), torch.tensor([0]), torch.tensor([1, 1])), "labels must be [B] = (2,), got (1,)"),
    ((torch.zeros(2, 3, 4), torch.tensor([0, 1]), torch.tensor([1, 4])), "a length (4) exceeds the 3 steps of the tensor"),
    ((torch.zeros(2, 3, 4), torch.tensor([0, 1]), torch.tensor([0, 1])), "every sequence needs at least one step, got length 0"),
    ((torch.zeros(2, 3, 4), torch.tensor([0, 1]), torch.tensor([1, 1]), "mean"),
     "weights must be one of ('last', 'uniform') or a tensor, got 'mean'"),
    ((torch.zeros(2, 3, 4), torch.tensor([0, 1]), torch.tensor([1, 1]), torch.ones(4)),
     "weights must be [T] or [B, T] = (2, 3), got (4,)"),
])
def test_errors(args, message):
    with pytest.raises(ValueError) as info:
        many_to_one_xent(*args)
    assert str(info.value) == message
