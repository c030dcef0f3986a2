"""Classifier-free guidance in the sampler (``decoding.sampling.Guide``), against a reference that
reads each whole prefix again for the stream and for its twin; and the tune recipe's condition
dropout, which teaches the net the twin's "no kind"."""
from types import SimpleNamespace

import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.sampling import Guide, guided, sample
from rnnkit.errors import RnnkitError
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.recipes.tune import read_conditions

VOCAB = Vocabulary.build_chars("abcdefg")


def conditioned_model(step_classes=0):
    torch.manual_seed(3)
    model = build_model(ModelConfig(vocab_size=len(VOCAB), num_outputs=len(VOCAB), embedding_dim=6, hidden_size=12,
                                    num_layers=2, num_conditions=3, condition_input=True,
                                    step_classes=step_classes)).eval()
    torch.nn.init.normal_(model.condition_input.weight, std=0.1)  # this test's net as it was built before 2026-12-06
    with torch.no_grad():  # conditions that matter, so that guidance changes what is drawn
        model.condition.weight.mul_(4)
        model.condition_input.weight.mul_(4)
    return model


class Parity:
    """A stateful feed, as the tune recipe's BarFeed is: each stream's symbol paired with the parity of
    how many symbols that stream has read (class 0 or 1, ``ModelConfig.step_classes`` = 2)."""

    def __init__(self, streams):
        self.read = [0] * streams

    def __call__(self, ids):
        classes = []
        for i, row in enumerate(ids.tolist()):
            classes.append([(self.read[i] + j) % 2 for j in range(len(row))])
            self.read[i] += len(row)
        return ids + len(VOCAB) * torch.tensor(classes)


def reference_greedy(model, prime, steps, kind, none, scale, step_classes, guided_steps=None):
    """Greedy guided text, each step reading the whole prefix again from both conditions; with
    ``guided_steps``, only the first that many symbols guided, the rest drawn from the stream's own."""
    ids = list(VOCAB.encode(prime))
    for t in range(steps):
        x = torch.tensor(ids)
        if step_classes:
            x = x + len(VOCAB) * (torch.arange(len(ids)) % 2)
        logits = []
        for c in (kind, none):
            cond = torch.tensor([c])
            with torch.no_grad():
                out, _ = model(x[None], None, model.initial_state(cond), cond)
            logits.append(out[0, -1])
        guide = guided_steps is None or t < guided_steps
        ids.append(int((logits[1] + scale * (logits[0] - logits[1]) if guide else logits[0]).argmax()))
    return VOCAB.decode(ids[len(prime):])


@pytest.mark.parametrize("step_classes", [0, 2])
def test_guided_greedy_text_is_the_reference(step_classes):
    """Each stream's twin starts from "no kind" (condition 2) and reads the stream's own symbols
    (through the same stateful feed); the symbol drawn is argmax of u + scale * (c - u)."""
    model = conditioned_model(step_classes)
    kinds = torch.tensor([0, 1])
    none = torch.tensor([2, 2])
    texts = {}
    for scale in (0.0, 0.5, 2.0, 3.0):
        guide = Guide(model.initial_state(none), none, scale)
        feed = Parity(2) if step_classes else None
        got = sample(model, VOCAB, "ab", 25, temperature=0, num_samples=2, precision="fp32",
                     state=model.initial_state(kinds), conditions=kinds, feed=feed, guide=guide)
        want = [reference_greedy(model, "ab", 25, k, 2, scale, step_classes) for k in (0, 1)]
        assert got == want, scale
        texts[scale] = got
    plain = sample(model, VOCAB, "ab", 25, temperature=0, num_samples=2, precision="fp32",
                   state=model.initial_state(kinds), conditions=kinds, feed=Parity(2) if step_classes else None)
    assert len({tuple(t) for t in texts.values()} | {tuple(plain)}) >= 3  # the scale changes the text


def test_a_guide_can_cover_some_symbols_of_each_stream():
    """``Guide.active`` says before each draw which streams it guides: here stream 0 for its first
    6 symbols and stream 1 for its first 12 (the tune recipe guides each tune's header this way,
    which ends at another step in each stream); the rest are drawn from the stream's own logits."""
    model = conditioned_model(2)
    kinds, none = torch.tensor([0, 1]), torch.tensor([2, 2])
    feed = Parity(2)
    prime = "ab"
    until = torch.tensor([6, 12]) + len(prime)  # symbols read (the prime's too) before guidance stops
    active = lambda: torch.tensor(feed.read) < until  # noqa: E731
    got = sample(model, VOCAB, prime, 25, temperature=0, num_samples=2, precision="fp32",
                 state=model.initial_state(kinds), conditions=kinds, feed=feed,
                 guide=Guide(model.initial_state(none), none, 3.0, active))
    want = [reference_greedy(model, prime, 25, k, 2, 3.0, 2, n) for k, n in ((0, 6), (1, 12))]
    assert got == want
    everywhere = [reference_greedy(model, prime, 25, k, 2, 3.0, 2) for k in (0, 1)]
    assert got != everywhere  # the test can tell: guiding every symbol writes other text


def test_scale_one_draws_as_without_a_guide_and_zero_as_the_twins():
    """Sampled (temperature 1, seeded): scale 1 gives the unguided streams' text, scale 0 the text of
    streams started from the twins' condition (the logits agree to float rounding; a draw could
    differ only on a near tie, which these seeds do not hit)."""
    model = conditioned_model()
    kinds, none = torch.tensor([0, 1, 0]), torch.tensor([2, 2, 2])
    common = dict(temperature=1.0, num_samples=3, seed=11, precision="fp32")

    def draw(state_ids, guide=None):
        return sample(model, VOCAB, "a", 40, state=model.initial_state(state_ids), conditions=state_ids, guide=guide,
                      **common)

    assert draw(kinds, Guide(model.initial_state(none), none, 1.0)) == draw(kinds)
    assert draw(kinds, Guide(model.initial_state(none), none, 0.0)) == draw(none)
    assert draw(kinds) != draw(none)


def test_a_guide_needs_twins_shaped_as_the_streams():
    model = conditioned_model()
    kinds = torch.tensor([0])
    with pytest.raises(RnnkitError, match="twins need a state and conditions"):
        sample(model, VOCAB, "a", 5, state=model.initial_state(kinds), conditions=kinds,
               guide=Guide(None, kinds, 2.0))


def test_guided_combines_the_streams_with_their_twins():
    logits = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # streams 0, 1; twins 0, 1
    assert guided(logits, 2.0).tolist() == [[2.0, 3.0], [5.0, -1.0]]


class Recorder:
    """A stand-in for the model: records the conditions it is started from and reads."""

    def __init__(self, training):
        self.training, self.starts, self.inputs = training, [], []
        self.config = SimpleNamespace(num_conditions=10, condition_input=True)

    def initial_state(self, conditions):
        self.starts.append(conditions)
        return None

    def __call__(self, inputs, lengths, start, conditions):
        self.inputs.append(conditions)
        return None, None


@pytest.mark.parametrize("meter", [False, True])
def test_condition_dropout_replaces_the_kind_in_training_only(meter):
    """In training, each tune's kind is "no kind" with probability p (10,000 tunes: the share within
    4 standard deviations, 0.02, of p = 0.3); the meter column stays; evaluation reads every kind."""
    torch.manual_seed(0)
    kinds = torch.randint(0, 5, (10_000,))
    conditions = torch.stack([kinds, torch.full_like(kinds, 7)], 1) if meter else kinds
    batch = SimpleNamespace(inputs=None, lengths=None, conditions=conditions)
    model = Recorder(training=True)
    read_conditions(model, batch, None, dropout=0.3, none=9)
    start, read = model.starts[0], model.inputs[0]
    assert torch.equal(start, read)  # the state and every step's input get the same condition
    got = start[:, 0] if meter else start
    dropped = got == 9
    assert abs(float(dropped.float().mean()) - 0.3) < 0.02
    assert torch.equal(got[~dropped], kinds[~dropped])
    if meter:
        assert torch.equal(start[:, 1], conditions[:, 1])
    model = Recorder(training=False)
    read_conditions(model, batch, None, dropout=0.3, none=9)
    assert torch.equal(model.starts[0], conditions)
