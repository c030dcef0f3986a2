"""Label smoothing in the time-synchronous divergence, against its definition written out by hand:
each step scores (1 - eps) * -log p(target) + eps * mean over the C symbols of -log p(c), padding
and ignored steps excluded; and the g2p recipe trains on the smoothed divergence but scores dev
without it."""
import torch

from rnnkit.data.batching import Batch
from rnnkit.losses.timesync import time_synchronous_xent


def test_smoothing_matches_its_definition():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=g)
    targets = torch.randint(0, 7, (3, 5), generator=g)
    targets[1, 3] = -100
    lengths = torch.tensor([5, 4, 2])
    eps = 0.1
    logp = logits.log_softmax(-1)
    want = 0.0
    for b in range(3):
        for t in range(int(lengths[b])):
            if targets[b, t] != -100:
                want += (1 - eps) * -logp[b, t, targets[b, t]] + eps * -logp[b, t].mean()
    r = time_synchronous_xent(logits, targets, lengths, label_smoothing=eps)
    assert int(r.count) == 5 + 3 + 2 and torch.allclose(r.total, want, rtol=1e-6, atol=1e-5)
    plain = time_synchronous_xent(logits, targets, lengths)
    assert not torch.allclose(plain.total, r.total)  # the smoothing is not silently dropped


def test_g2p_trains_smoothed_and_scores_dev_plain():
    from rnnkit.recipes.g2p import make_task
    from rnnkit.training.trainer import TrainConfig

    logits = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(1))
    batch = Batch(torch.zeros(2, 3, dtype=torch.long), torch.tensor([[1, 2, 0, -100], [3, 4, 5, 0]]),
                  torch.tensor([3, 3]))
    example = (torch.tensor([1, 2]), torch.tensor([1, 0]), "ab")
    task = make_task([example], [example], TrainConfig(batch_size=1), label_smoothing=0.2)
    assert torch.allclose(task.divergence(logits, batch).total,
                          time_synchronous_xent(logits, batch.targets, label_smoothing=0.2).total)
    assert torch.allclose(task.valid_divergence_fn(logits, batch).total,
                          time_synchronous_xent(logits, batch.targets).total)
