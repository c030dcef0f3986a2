import pytest
import torch

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.sampling import Uniforms, filter_logits, inverse_cdf, resolve_precision, sample
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


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_stream_i_of_a_batch_is_the_single_sample_with_seed_plus_i(lm, precision):
    model, vocab = lm
    many = sample(model, vocab, "abc", 80, temperature=1.0, top_p=0.95, seed=5, num_samples=5, precision=precision)
    singles = [sample(model, vocab, "abc", 80, temperature=1.0, top_p=0.95, seed=5 + i, precision=precision)[0]
               for i in range(5)]
    assert many == singles


def test_greedy_is_deterministic_and_equals_argmax(lm):
    model, vocab = lm
    text = sample(model, vocab, "ab", 10, temperature=0.0, precision="fp32")[0]
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
    assert sample(model, vocab, "ab", 20, temperature=1.0, top_k=1, seed=1, precision="fp32") == \
        sample(model, vocab, "ab", 20, temperature=0, precision="fp32")


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


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_every_precision_is_seeded_and_batched(lm, precision):
    model, vocab = lm
    one = sample(model, vocab, "abc", 40, seed=2, precision=precision)
    assert one == sample(model, vocab, "abc", 40, seed=2, precision=precision) and len(one[0]) == 40
    many = sample(model, vocab, "abc", 40, seed=2, num_samples=3, precision=precision)
    assert many == sample(model, vocab, "abc", 40, seed=2, num_samples=3, precision=precision)


@pytest.mark.parametrize("native_bf16, picks", [
    (True, {1: "int8", 7: "int8", 8: "bf16", 64: "bf16"}),     # measured: bf16 faster at 8 streams there
    (False, {1: "int8", 32: "int8", 33: "fp32", 64: "fp32"}),  # measured: fp32 faster at 64 streams there
])
def test_auto_precision_picks_by_streams_and_cpu(monkeypatch, native_bf16, picks):
    from rnnkit.training import runtime

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: native_bf16)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    cpu = torch.device("cpu")
    assert {n: resolve_precision("auto", cpu, n) for n in picks} == picks
    assert resolve_precision("fp32", cpu, 1) == "fp32"
    assert resolve_precision("auto", torch.device("meta"), 1) == "fp32"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert resolve_precision("auto", cpu, 1) == ("bf16" if native_bf16 else "fp32")


def test_without_the_int8_kernel_auto_falls_back_and_int8_is_an_error(monkeypatch, lm):
    model, vocab = lm
    monkeypatch.delattr(torch, "_weight_int8pack_mm")  # as on PyTorch before 2.3
    assert resolve_precision("auto", torch.device("cpu"), 1) in ("bf16", "fp32")
    assert len(sample(model, vocab, "a", 5, seed=0)) == 1
    with pytest.raises(RnnkitError, match=r"int8 sampling needs torch._weight_int8pack_mm \(PyTorch 2.3 or later\)"):
        sample(model, vocab, "a", 5, precision="int8")


def test_bad_precision_is_an_error(lm):
    model, vocab = lm
    with pytest.raises(RnnkitError, match="sampling precision must be auto or one of fp32, bf16, int8"):
        sample(model, vocab, "a", 5, precision="fp8")


def test_inverse_cdf_never_draws_a_zero_probability_symbol():
    probs = torch.tensor([[0.0, 0.2, 0.0, 0.0, 0.8, 0.0]]).expand(10_001, -1)
    u = torch.linspace(0, 1, 10_001)[:, None].clamp_max(1 - 1e-7)
    picks = inverse_cdf(probs, u)
    assert set(picks.tolist()) == {1, 4}
    assert abs(float((picks == 1).float().mean()) - 0.2) < 0.001


def test_draw_frequencies_follow_the_distribution():
    u = Uniforms(0, 4000)
    probs = torch.tensor([[0.1, 0.6, 0.3]]).expand(4000, -1)
    counts = torch.bincount(inverse_cdf(probs, u.next()), minlength=3).float() / 4000
    assert torch.allclose(counts, torch.tensor([0.1, 0.6, 0.3]), atol=0.03)


def test_uniforms_do_not_depend_on_the_block_size():
    a = Uniforms(1, 3, block=2)
    b = Uniforms(1, 3, block=5)
    for _ in range(7):
        assert torch.equal(a.next(), b.next())


def test_the_feed_decides_what_the_model_reads():
    """``feed`` turns the prime and then each drawn symbol into what the model reads (the tune
    recipe pairs each character with its place in the bar): greedy sampling through it is the
    greedy loop that reads the whole fed sequence through the model's forward at each step."""
    torch.manual_seed(0)
    vocab = Vocabulary.build_chars("abcdefgh \n;")
    size = len(vocab)
    model = build_model(ModelConfig(vocab_size=size, num_outputs=size, embedding_dim=8, hidden_size=16,
                                    step_classes=3)).eval()
    with torch.no_grad():
        model.input.classes.weight.mul_(20)  # classes that change what is drawn
    calls = []

    def feed(ids):
        calls.append(tuple(ids.shape))
        return ids + size * (ids % 3)  # each symbol's class: its id mod 3

    got = sample(model, vocab, "ab", 12, temperature=0, feed=feed, precision="fp32")[0]
    ids = [int(i) for i in vocab.encode("ab")]
    with torch.no_grad():
        for _ in range(12):
            x = torch.tensor(ids)
            ids.append(int(model((x + size * (x % 3))[None])[0][0, -1].argmax()))
    assert got == vocab.decode(ids[2:])
    assert calls == [(1, 2)] + [(1, 1)] * 11
    with torch.no_grad():
        plain = [int(i) for i in vocab.encode("ab")]
        for _ in range(12):
            plain.append(int(model(torch.tensor(plain)[None])[0][0, -1].argmax()))
    assert plain != ids  # the classes mattered: a sampler that ignored the feed would fail above
