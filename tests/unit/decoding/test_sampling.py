import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.sampling import filter_logits, sample
from rnnkit.errors import RnnkitError
from rnnkit.models.model import ModelConfig, build_model


@pytest.fixture
def lm():
    torch.manual_seed(0)
    vocab = Vocabulary.build_chars("abcdefgh \n;")
    model = build_model(ModelConfig(vocab_size=len(vocab), num_outputs=len(vocab), embedding_dim=8, hidden_size=16))
    return model.eval(), vocab


def test_same_seed_same_text_in_single_and_batched_paths(lm):
    model, vocab = lm
    one = sample(model, vocab, "abc", 60, temperature=1.0, seed=5)
    assert one == sample(model, vocab, "abc", 60, temperature=1.0, seed=5)
    assert one != sample(model, vocab, "abc", 60, temperature=1.0, seed=6)
    many = sample(model, vocab, "abc", 60, temperature=1.0, seed=5, num_samples=4)
    assert many == sample(model, vocab, "abc", 60, temperature=1.0, seed=5, num_samples=4)
    assert len(set(many)) > 1 and all(len(t) == 60 for t in many)


def test_greedy_is_deterministic_and_equals_argmax(lm):
    model, vocab = lm
    text = sample(model, vocab, "ab", 10, temperature=0.0)[0]
    ids = torch.from_numpy(vocab.encode("ab"))[None]
    expected = []
    for _ in range(10):
        logits, _ = model(ids)
        nxt = int(logits[0, -1].argmax())
        expected.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
    assert text == vocab.decode(expected)


def test_top_k_one_is_greedy(lm):
    model, vocab = lm
    assert sample(model, vocab, "ab", 20, temperature=1.0, top_k=1, seed=1) == sample(model, vocab, "ab", 20, temperature=0)


def test_stop_string_ends_the_text(lm):
    model, vocab = lm
    text = sample(model, vocab, "a", 2000, temperature=1.5, seed=0, stop=";")[0]
    assert text.endswith(";") and text.count(";") == 1


def test_top_p_keeps_the_smallest_sufficient_set():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, 1.0, None, 0.7))
    assert kept.tolist() == [[True, True, False, False]]


def test_prime_outside_the_vocabulary_is_an_error(lm):
    model, vocab = lm
    with pytest.raises(RnnkitError, match="outside the model's vocabulary: 'xz'"):
        sample(model, vocab, "axbz", 5)


@pytest.mark.parametrize("kw, message", [
    (dict(temperature=-1.0), "temperature"), (dict(top_k=0), "top-k"), (dict(top_p=1.5), "top-p"), (dict(length=-2), "length"),
])
def test_bad_sampling_arguments(lm, kw, message):
    model, vocab = lm
    args = dict(prime="a", length=5, temperature=1.0)
    args.update(kw)
    with pytest.raises(RnnkitError, match=message):
        sample(model, vocab, **args)
