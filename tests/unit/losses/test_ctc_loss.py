"""CTC loss against a direct forward recursion and brute-force enumeration of alignments."""
import itertools
import logging
import math

import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.errors import RnnkitError
from rnnkit.losses.ctc import blank_id, ctc_loss, ctc_min_frames

from ctc_reference import collapse  # tests/ctc_reference.py: the brute-force helpers shared with the decoder tests


def forward_nll(log_probs, target, blank):
    """-log P(target) by the alpha recursion over the blank-extended target, in plain torch."""
    T, _ = log_probs.shape
    ext = [blank]
    for label in target:
        ext += [label, blank]
    S = len(ext)
    neg_inf = log_probs.new_tensor(-1e30)  # not -inf: logsumexp of all -inf has a NaN gradient
    alpha = [log_probs[0, ext[0]], log_probs[0, ext[1]] if S > 1 else neg_inf] + [neg_inf] * (S - 2)
    for t in range(1, T):
        new = []
        for s in range(S):
            terms = [alpha[s]]
            if s >= 1:
                terms.append(alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[s - 2])
            new.append(torch.logsumexp(torch.stack(terms), 0) + log_probs[t, ext[s]])
        alpha = new
    ends = torch.stack(alpha[-2:]) if S > 1 else torch.stack(alpha)
    return -torch.logsumexp(ends, 0)


def brute_force_log_prob(log_probs, target, blank):
    """log P(target) summing exp(path score) over every path of the frames."""
    T, C = log_probs.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == tuple(target):
            total += math.exp(sum(float(log_probs[t, s]) for t, s in enumerate(path)))
    return math.log(total) if total > 0 else -math.inf


def batch(targets):
    U = max(1, max(len(t) for t in targets))
    padded = torch.zeros(len(targets), U, dtype=torch.long)
    for b, t in enumerate(targets):
        padded[b, :len(t)] = torch.tensor(t, dtype=torch.long)
    return padded, torch.tensor([len(t) for t in targets])


@pytest.mark.parametrize("blank", [0, 2])
def test_values_match_brute_force_and_forward_recursion(blank):
    torch.manual_seed(0)
    C, T = 3, 5
    labels = [c for c in range(C) if c != blank]
    targets = [[labels[0]], [labels[0], labels[1]], [labels[1], labels[1]], [labels[0], labels[1], labels[0]], []]
    logits = torch.randn(len(targets), T, C, dtype=torch.float64)
    padded, target_lengths = batch(targets)
    lengths = torch.tensor([T, T, 4, T, 3])
    nll = [float(ctc_loss(logits[b:b + 1], padded[b:b + 1], lengths[b:b + 1], target_lengths[b:b + 1],
                          blank=blank).total) for b in range(len(targets))]
    for b, target in enumerate(targets):
        lp = torch.log_softmax(logits[b, :int(lengths[b])], -1)
        assert nll[b] == pytest.approx(-brute_force_log_prob(lp, target, blank), abs=1e-4)
        assert nll[b] == pytest.approx(float(forward_nll(lp, target, blank)), abs=1e-4)
    r = ctc_loss(logits, padded, lengths, target_lengths, blank=blank)
    assert float(r.total) == pytest.approx(sum(nll), abs=1e-4)
    assert r.count == len(targets) and r.infeasible == ()


def test_brute_force_distribution_sums_to_one():
    """Sanity of the reference itself: summed over all label sequences, P = 1."""
    torch.manual_seed(1)
    lp = torch.log_softmax(torch.randn(3, 3, dtype=torch.float64), -1)
    sequences = {collapse(p, 0) for p in itertools.product(range(3), repeat=3)}
    assert sum(math.exp(brute_force_log_prob(lp, s, 0)) for s in sequences) == pytest.approx(1.0)


def test_gradients_match_forward_recursion():
    torch.manual_seed(2)
    B, T, C = 3, 6, 4
    targets = [[1, 2, 2], [3], [1, 3, 1, 2]]
    padded, target_lengths = batch(targets)
    lengths = torch.tensor([6, 5, 6])
    logits = torch.randn(B, T, C, dtype=torch.float64, requires_grad=True)
    ctc_loss(logits, padded, lengths, target_lengths, blank=0).total.backward()
    reference = logits.detach().clone().requires_grad_(True)
    sum(forward_nll(torch.log_softmax(reference[b, :int(lengths[b])], -1), targets[b], 0)
        for b in range(B)).backward()
    torch.testing.assert_close(logits.grad, reference.grad, atol=1e-5, rtol=1e-4)
    assert float(logits.grad[1, 5:].abs().sum()) == 0.0        # padding frames get no gradient


def test_infeasible_pairs_are_excluded_counted_and_logged(caplog):
    torch.manual_seed(3)
    logits = torch.randn(3, 4, 3, requires_grad=True)
    padded, target_lengths = batch([[1, 1, 2], [1, 2], [2, 2]])
    lengths = torch.tensor([3, 2, 3])                   # row 0 needs 4 frames: infeasible
    with caplog.at_level(logging.WARNING, logger="rnnkit.losses.ctc"):
        r = ctc_loss(logits, padded, lengths, target_lengths, blank=0)
    assert r.infeasible == (0,) and r.num_infeasible == 1 and r.count == 2
    assert "1 of 3 utterances" in caplog.text and "[0]" in caplog.text
    assert math.isfinite(float(r.total.detach()))
    rest = ctc_loss(logits[1:], padded[1:], lengths[1:], target_lengths[1:], blank=0)
    assert float(r.total.detach()) == pytest.approx(float(rest.total.detach()))
    r.total.backward()
    assert float(logits.grad[0].abs().sum()) == 0.0


def test_all_infeasible_gives_zero_count_and_a_valid_graph():
    logits = torch.randn(1, 1, 3, requires_grad=True)
    r = ctc_loss(logits, torch.tensor([[1, 2]]), torch.tensor([1]), torch.tensor([2]), blank=0)
    assert r.count == 0 and r.infeasible == (0,)
    r.total.backward()
    assert float(logits.grad.abs().sum()) == 0.0


def test_count_by_frames_and_targets():
    logits = torch.zeros(2, 4, 3)
    padded, target_lengths = batch([[1], [1, 2]])
    lengths = torch.tensor([3, 4])
    assert ctc_loss(logits, padded, lengths, target_lengths, blank=0, count_by="frames").count == 7
    assert ctc_loss(logits, padded, lengths, target_lengths, blank=0, count_by="targets").count == 3


def test_min_frames_counts_adjacent_repeats_only():
    padded, target_lengths = batch([[1, 1, 1], [1, 2, 1], [2, 2]])
    assert ctc_min_frames(padded, target_lengths).tolist() == [5, 3, 3]


def test_blank_from_vocabulary():
    v = Vocabulary.build_tokens([["a", "b"]], blank="<b>", unk=None)
    assert blank_id(v) == 0
    with pytest.raises(RnnkitError, match="^the vocabulary has no blank symbol, which CTC needs$"):
        blank_id(Vocabulary.build_tokens([["a"]]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(blank=3), "blank id 3 is outside the vocabulary of 3 symbols"),
    (dict(blank=-1), "blank id -1 is outside the vocabulary of 3 symbols"),
    (dict(lengths=torch.tensor([5])), "a length (5) exceeds the 4 steps of the tensor"),
    (dict(target_lengths=torch.tensor([3])), "a target length (3) exceeds the 2 columns of targets"),
    (dict(targets=torch.tensor([[0, 1]])), "targets contain the blank id 0"),
    (dict(targets=torch.tensor([[1, 7]])), "target ids must lie in [0, 3), got 1..7"),
    (dict(logits=torch.zeros(4, 3)), "logits must be [B, T, C], got shape (4, 3)"),
    (dict(lengths=torch.tensor([4, 4])), "lengths must be [B] = (1,), got (2,)"),
    (dict(count_by="tokens"), "count_by must be one of ('utterances', 'frames', 'targets'), got 'tokens'"),
])
def test_errors(kwargs, message):
    args = dict(logits=torch.zeros(1, 4, 3), targets=torch.tensor([[1, 2]]), lengths=torch.tensor([4]),
                target_lengths=torch.tensor([2]), blank=0)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        ctc_loss(**args)
    assert str(info.value) == message
