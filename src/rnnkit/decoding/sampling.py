"""Generation: prime a language model, draw a symbol, feed it back, until a length or an end string.

Temperature 0 is greedy (argmax). ``top_k`` keeps the k likeliest symbols, ``top_p`` the
smallest set whose probability reaches p; both renormalise. Seeded generators, one per stream,
make the same call give the same text, and stream i of a batch the text one stream gets with
seed + i.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from ..models.stepper import PRECISIONS, Stepper

Feed = Callable[[torch.Tensor], torch.Tensor]  # symbol ids [B, T] -> the ids the model reads (see sample)


@dataclass(frozen=True)
class Guide:
    """Classifier-free guidance (Ho and Salimans 2022; for language models, Sanchez et al. 2023):
    every stream also runs a twin that reads the same symbols from ``state`` with ``conditions``
    (the model's "no condition"), and each symbol is drawn from ``u + scale * (c - u)``, c and u
    the stream's and its twin's logits. Scale 1 draws as without a guide; above 1 it strengthens
    what the condition changes. ``state`` and ``conditions`` as :func:`sample` takes them, for the twins.
    ``active``: None guides every symbol; else called before each draw, it says which streams
    [B] (bool) that symbol is guided for: the others draw from their own logits, c (the tune
    recipe guides the header alone, where the kind's choices are written)."""

    state: tuple[torch.Tensor, ...] | None
    conditions: torch.Tensor | None
    scale: float
    active: Callable[[], torch.Tensor] | None = None


def guided(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """The guided logits of streams [B, C] from ``logits`` [2B, C], the streams' then their twins'.

    >>> guided(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), 3.0).tolist()
    [[4.0, -2.0]]
    """
    c, u = logits.chunk(2)
    return u + scale * (c - u)


def _combine(guide: Guide | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits to draw from, given the model's (with ``guide``: the streams' then their twins')."""
    if guide is None:
        return lambda logits: logits
    if guide.active is None:
        return lambda logits: guided(logits, guide.scale)
    return lambda logits: torch.where(guide.active().to(logits.device)[:, None], guided(logits, guide.scale),
                                      logits[:logits.shape[0] // 2])


def _with_twins(state: tuple[torch.Tensor, ...] | None, conditions: torch.Tensor | None, feed: Feed,
                guide: Guide) -> tuple[tuple[torch.Tensor, ...] | None, torch.Tensor | None, Feed]:
    """The state, conditions and feed of the streams followed by their :class:`Guide` twins."""
    if (state is None) != (guide.state is None) or (conditions is None) != (guide.conditions is None):
        raise RnnkitError("a guide's twins need a state and conditions where the streams have them")
    if state is not None:
        state = tuple(torch.cat([a, b], dim=1) for a, b in zip(state, guide.state))
    if conditions is not None:
        conditions = torch.cat([conditions, guide.conditions])
    return state, conditions, lambda symbols: feed(symbols).repeat(2, 1)  # twins read what their streams read


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Scaled logits [B, C] with the symbols outside top-k / top-p set to -inf.

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), 1.0, 2, None)
    tensor([[-inf, 3., 2.]])
    >>> filter_logits(torch.tensor([[0.0, 10.0, 0.0]]), 1.0, None, 0.5)
    tensor([[-inf, 10., -inf]])
    """
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a symbol when the ones before it already reach top_p (the first always stays).
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def check_sampling_args(length: int, temperature: float, top_k: int | None, top_p: float | None, num_samples: int) -> None:
    if length < 0:
        raise RnnkitError(f"length must be >= 0, got {length}")
    if not temperature >= 0:
        raise RnnkitError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise RnnkitError(f"top-k must be positive, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise RnnkitError(f"top-p must be in (0, 1], got {top_p}")
    if num_samples <= 0:
        raise RnnkitError(f"num-samples must be positive, got {num_samples}")


def encode_prime(vocab: Vocabulary, prime: str) -> torch.Tensor:
    """The prime's ids [T]; symbols the model has none for are an error (never silently UNK).

    A character vocabulary reads the prime character by character and starts an empty one from a
    newline; a token (word) vocabulary reads whitespace-separated words and starts an empty one
    from ``<eos>``, the end of a previous sentence.
    """
    words = vocab.kind == "token"
    start = "<eos>" if words else "\n"
    symbols: str | list[str] = prime.split() if words else prime
    if not symbols:
        if start not in vocab:
            raise RnnkitError(f"this model has no {start!r} symbol to start from: give a --prime")
        symbols = [start] if words else start
    missing = vocab.unknown_symbols(symbols)
    if missing:
        what = "word" if words else "character"
        shown = " ".join(missing[:10]) if words else repr("".join(missing[:10]))
        raise RnnkitError(f"the prime has {len(missing)} {what}(s) outside the model's vocabulary: {shown}")
    return torch.from_numpy(vocab.encode(symbols))


class Uniforms:
    """Seeded U(0, 1) draws, [B, 1] per step, generated in blocks (one generator call per stream and block).

    Stream i has its own generator seeded with ``seed + i``, so its draws do not depend on how many
    streams run beside it: stream i of a batch sampled with seed s draws what one stream sampled
    with seed s + i draws.
    """

    def __init__(self, seed: int, batch: int, device: torch.device | str = "cpu", block: int = 256):
        self.generators = [torch.Generator(device=device).manual_seed(seed + i) for i in range(batch)]
        self.device, self.block = device, block
        self._rows, self._next = torch.empty(0), 0

    def next(self) -> torch.Tensor:
        if self._next >= len(self._rows):
            self._rows = torch.stack([torch.rand(self.block, 1, generator=g, device=self.device)
                                      for g in self.generators], dim=1)  # [block, B, 1]
            self._next = 0
        self._next += 1
        return self._rows[self._next - 1]


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index [B] drawn from each row of ``probs`` [B, C] (need not sum to 1) by ``u`` [B, 1] in [0, 1).

    Symbols of probability 0 are never drawn.

    >>> inverse_cdf(torch.tensor([[0.0, 0.25, 0.0, 0.75]] * 3), torch.tensor([[0.0], [0.3], [0.999]])).tolist()
    [1, 3, 3]
    """
    cdf = probs.cumsum(dim=-1)
    total = cdf[:, -1:]
    # right=True: the first symbol whose cumulative mass exceeds u * total; the bound keeps u * total
    # below the total when rounding would make them equal.
    v = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, v, right=True)[:, 0]


def draw(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
         uniforms: Uniforms) -> torch.Tensor:
    """One symbol per row of ``logits`` [B, C]: argmax at temperature 0, else a seeded draw."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_p is None and top_k is not None and top_k < logits.shape[-1]:
        # Draw among the k best directly: fewer ops than masking the whole row.
        values, index = torch.topk(logits, top_k, dim=-1)
        pick = inverse_cdf(torch.softmax(values / temperature, dim=-1), uniforms.next())
        return index.gather(1, pick[:, None])[:, 0]
    probs = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
    return inverse_cdf(probs, uniforms.next())


def has_int8_kernel() -> bool:
    """Whether this PyTorch has the weight-only int8 product the int8 matrices use (from torch 2.3)."""
    return hasattr(torch, "_weight_int8pack_mm")


# The most streams for which int8 matrices sample fastest, from benchmarks/sampling_speed.py (README):
# on a CPU with native bf16 (Sapphire Rapids) int8 was 1.9x bf16 for one stream and bf16 was faster
# at 8; on an AVX2-only CPU (AMD EPYC) int8 beat fp32 up to 32 streams and fp32 was faster at 64.
INT8_MAX_STREAMS = {"native_bf16": 7, "no_bf16": 32}


def resolve_precision(precision: str, device: torch.device, num_samples: int) -> str:
    """``auto`` picks the fastest matrices measured for this many streams on this kind of CPU:
    int8 up to :data:`INT8_MAX_STREAMS` streams on an AVX2/AVX-512 CPU (its scores equal fp32's
    in README's fidelity table), beyond that bf16 where the CPU computes bf16 natively, else fp32;
    fp32 on a GPU and where this PyTorch lacks the int8 kernel. An explicit precision is
    returned as is, after checking it can run here."""
    if precision == "int8" and not has_int8_kernel():
        raise RnnkitError(f"int8 sampling needs torch._weight_int8pack_mm (PyTorch 2.3 or later); this is "
                          f"PyTorch {torch.__version__}: use --precision fp32 or bf16")
    if precision != "auto":
        return precision
    if device.type != "cpu":
        return "fp32"
    from ..training.runtime import cpu_has_bf16

    native = cpu_has_bf16()
    cut = INT8_MAX_STREAMS["native_bf16" if native else "no_bf16"]
    if num_samples <= cut and has_int8_kernel() and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return "int8"
    return "bf16" if native else "fp32"


@torch.no_grad()
def generate(model: torch.nn.Module, vocab: Vocabulary, prime: str = "", length: int = 500, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None, num_samples: int = 1,
             precision: str = "auto", state: tuple[torch.Tensor, ...] | None = None,
             conditions: torch.Tensor | None = None, feed: Feed | None = None,
             guide: Guide | None = None) -> Iterator[torch.Tensor]:
    """The symbols drawn after ``prime``, one step at a time: ids [num_samples] per step, at most
    ``length`` steps (a caller may stop earlier: nothing is computed past the last step it takes).
    Options as :func:`sample`; bad options raise at the first step."""
    check_sampling_args(length, temperature, top_k, top_p, num_samples)
    if precision != "auto" and precision not in PRECISIONS:
        raise RnnkitError(f"sampling precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
    model.eval()
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device, num_samples * (2 if guide else 1))
    if precision == "int8" and device.type != "cpu":
        raise RnnkitError("int8 sampling runs on the CPU only: use --precision fp32 or bf16 on a GPU")
    seed = seed if seed is not None else int(torch.seed() % 2**62)
    ids = encode_prime(vocab, prime).to(device)
    stepper = Stepper(model, precision)
    uniforms = Uniforms(seed, num_samples, device)
    feed = feed or (lambda symbols: symbols)
    if guide is not None:
        state, conditions, feed = _with_twins(state, conditions, feed, guide)
    combine = _combine(guide)
    logits = combine(stepper.prime(feed(ids[None, :].expand(num_samples, -1)), state, conditions))
    for t in range(length):
        nxt = draw(logits, temperature, top_k, top_p, uniforms)
        yield nxt
        if t + 1 < length:
            logits = combine(stepper.step(feed(nxt[:, None])[:, 0]))


def sample(model: torch.nn.Module, vocab: Vocabulary, prime: str = "", length: int = 500, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, seed: int | None = None, stop: str | None = None,
           num_samples: int = 1, precision: str = "auto", state: tuple[torch.Tensor, ...] | None = None,
           conditions: torch.Tensor | None = None, feed: Feed | None = None, guide: Guide | None = None) -> list[str]:
    """Generate ``num_samples`` continuations of ``prime`` (the prime itself is not returned).

    Each stream stops after ``length`` symbols or right after it writes ``stop`` (kept in the
    text). Streams run as one batch; the same ``seed`` and ``precision`` give the same texts, and
    stream i of a batch is the one-stream sample with seed ``seed + i`` at the same precision (up
    to rounding differences between batched and one-row matrix products, which could change a
    draw that falls on a near tie).
    ``precision`` "bf16" or "int8" keeps the recurrent matrices in fewer bytes for speed (see
    :class:`~rnnkit.models.stepper.Matrix`), "fp32" is exact, "auto" (default) picks by
    :func:`resolve_precision`. ``state``: where each stream starts (each [num_layers, num_samples,
    H]; a conditioned model's ``initial_state``), None for zeros; ``conditions`` [num_samples]: the
    classes a model built with ``condition_input`` adds to every input. ``feed``: what the model
    reads of the symbols it is given (the prime's ids [num_samples, T], then each step's [num_samples,
    1]), called once on each in order; None: the symbols themselves (the tune recipe's adds each
    one's place in the bar, ``ModelConfig.step_classes``). ``guide``: draw each stream's symbols
    with classifier-free guidance (:class:`Guide`; None: without).
    """
    chosen: list[torch.Tensor] = []
    texts = [""] * num_samples
    ends = [length] * num_samples
    steps = generate(model, vocab, prime, length, temperature, top_k, top_p, seed, num_samples, precision, state,
                     conditions, feed, guide)
    for t, nxt in enumerate(steps):
        chosen.append(nxt)
        if stop:  # per-stream text only when an end string must be found
            for i, sym in enumerate(nxt.tolist()):
                if ends[i] == length:
                    texts[i] += (" " if texts[i] and vocab.kind == "token" else "") + vocab.tokens[sym]
                    if texts[i].endswith(stop):
                        ends[i] = t + 1
            if all(e < length for e in ends):
                break
    if not chosen:
        return [""] * num_samples
    rows = torch.stack(chosen, dim=1).tolist()  # [B, T]: one sync at the end, not one per step
    return [vocab.decode(row[:end]) for row, end in zip(rows, ends)]


def stream(model: torch.nn.Module, vocab: Vocabulary, prime: str = "", length: int = 500, stop: str | None = None,
           **options) -> Iterator[str]:
    """One continuation of ``prime``, symbol by symbol as it is drawn (the symbols' own text: a
    character, or a word of a token vocabulary), ending after ``length`` symbols or right after
    ``stop`` is written; ``options`` as :func:`sample` (one stream). The same seed gives the
    symbols of ``sample(..., num_samples=1)``."""
    tail, started = "", False  # the last len(stop) characters written: all an end string needs
    for nxt in generate(model, vocab, prime, length, num_samples=1, **options):
        symbol = vocab.tokens[int(nxt[0])]
        yield symbol
        if stop:
            tail = (tail + (" " if started and vocab.kind == "token" else "") + symbol)[-len(stop):]
            started = True
            if tail == stop:
                return
