"""Free-running decoding of an encoder-decoder: greedy and beam search, one output symbol a step.

Model-agnostic: a decoder is anything with ``start(inputs, lengths) -> state`` and
``step(previous [N], state) -> (log_probs [N, C], state)``, whose state has ``select(rows)``
(:class:`rnnkit.models.seq2seq.EncoderDecoder`). Each output ends with the end symbol ``end``;
a hypothesis's score is log P(y_1 .. y_n, end | x), the sum of its steps' log-probabilities, so
outputs of different lengths compare fairly without any length bonus. After ``max_length``
symbols the end is forced.

Both return, per input, an n-best list of immutable :class:`Hypothesis` objects, best first,
like the CTC decoders: ``tokens`` without the end symbol, ``score`` = ``acoustic_score`` =
the log-probability, ``timesteps`` the decoder step that emitted each symbol.

Beam search keeps the ``beam`` best unfinished prefixes per input; an input is done when it has
``nbest`` finished outputs none of its unfinished prefixes can beat (a prefix's score only falls
as it grows). With a beam as wide as the number of prefixes it is exhaustive search (tested so).
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from .hypothesis import Hypothesis


class StepDecoder(Protocol):
    def start(self, inputs: torch.Tensor, lengths: torch.Tensor) -> Any: ...
    def step(self, previous: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


def _hypothesis(tokens: tuple[int, ...], score: float) -> Hypothesis:
    return Hypothesis(tokens=tokens, score=score, timesteps=tuple(range(len(tokens))), acoustic_score=score)


def _check(max_length: int, beam: int = 1, nbest: int = 1) -> None:
    if max_length < 0 or beam < 1 or nbest < 1:
        raise ValueError(f"max_length must be >= 0, beam and nbest >= 1; got {max_length}, {beam}, {nbest}")


@torch.no_grad()
def greedy_decode(decoder: StepDecoder, inputs: torch.Tensor, lengths: torch.Tensor, end: int = 0,
                  max_length: int = 50) -> list[list[Hypothesis]]:
    """The most probable symbol at each step, fed back, until the end symbol: one hypothesis per input."""
    _check(max_length)
    B = inputs.shape[0]
    state = decoder.start(inputs, lengths)
    previous = torch.full((B,), end, dtype=torch.long, device=inputs.device)
    scores = torch.zeros(B, dtype=torch.float64)
    done = torch.zeros(B, dtype=torch.bool)
    steps: list[torch.Tensor] = []
    for t in range(max_length + 1):
        log_probs, state = decoder.step(previous, state)
        log_probs = log_probs.cpu()
        if t == max_length:
            symbol = torch.full((B,), end, dtype=torch.long)
        else:
            symbol = log_probs.argmax(-1)
        scores += torch.where(done, 0.0, log_probs.gather(1, symbol[:, None])[:, 0].double())
        steps.append(torch.where(done, end, symbol))
        done |= symbol == end
        if bool(done.all()):
            break
        previous = symbol.to(inputs.device)
    table = torch.stack(steps, dim=1).tolist()  # [B, steps]
    out = []
    for b in range(B):
        row = table[b]
        n = row.index(end)
        out.append([_hypothesis(tuple(row[:n]), float(scores[b]))])
    return out


@torch.no_grad()
def beam_decode(decoder: StepDecoder, inputs: torch.Tensor, lengths: torch.Tensor, beam: int = 5,
                nbest: int = 1, end: int = 0, max_length: int = 50) -> list[list[Hypothesis]]:
    """The ``nbest`` most probable outputs found by a beam of ``beam`` prefixes per input (see the
    module docstring); ``beam`` is raised to ``nbest`` if smaller."""
    _check(max_length, beam, nbest)
    K, B = max(beam, nbest), inputs.shape[0]
    device = inputs.device
    state = decoder.start(inputs, lengths).select(torch.arange(B, device=device).repeat_interleave(K))
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # one empty prefix per input; the other slots are empty until the first step
    prefixes: list[list[tuple[int, ...]]] = [[()] * K for _ in range(B)]
    finished: list[list[tuple[float, tuple[int, ...]]]] = [[] for _ in range(B)]
    previous = torch.full((B * K,), end, dtype=torch.long, device=device)
    for t in range(max_length + 1):
        log_probs, state = decoder.step(previous, state)
        candidates = scores[:, :, None] + log_probs.cpu().double().view(B, K, -1)  # [B, K, C]
        for b, k in (candidates[:, :, end] > float("-inf")).nonzero().tolist():
            finished[b].append((float(candidates[b, k, end]), prefixes[b][k]))
        if t == max_length:
            break
        candidates[:, :, end] = float("-inf")
        C = candidates.shape[-1]
        top = candidates.view(B, K * C).topk(K, dim=1)
        rows, symbols = top.indices // C, top.indices % C  # [B, K] each
        scores = top.values.clone()
        for b in range(B):
            finished[b] = sorted(finished[b], key=lambda f: -f[0])[:nbest]
            if len(finished[b]) == nbest and finished[b][-1][0] >= float(scores[b, 0]):
                scores[b] = float("-inf")  # nothing unfinished can beat the n-best any more
            prefixes[b] = [prefixes[b][r] + (s,) for r, s in zip(rows[b].tolist(), symbols[b].tolist())]
        if not bool((scores > float("-inf")).any()):
            break
        state = state.select((torch.arange(B)[:, None] * K + rows).view(-1).to(device))
        previous = symbols.view(-1).to(device)
    return [[_hypothesis(tokens, score) for score, tokens in sorted(f, key=lambda f: -f[0])[:nbest]]
            for f in finished]
