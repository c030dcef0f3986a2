"""What a language model thinks of a text: each symbol's probability (surprisal), every unit's
activation at every step, and the units that follow a pattern of the text.

Karpathy, Johnson and Fei-Fei (2015, "Visualizing and Understanding Recurrent Networks") coloured
Linux source by single LSTM cells and found cells that track quotes, comments, bracket depth and
the position in a line; :func:`patterns` computes those signals from the text and
:func:`rank_units` finds the units whose activation follows one best (Pearson correlation).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from ..data.vocab import Vocabulary
from ..data.words import EOS
from ..errors import RnnkitError
from ..models.encoders import _VF_RUN, RecurrentEncoder
from ..models.model import SequenceModel

PATTERNS = ("inside a string", "inside a comment", "bracket depth", "position in line")


@dataclass(frozen=True)
class Surprisal:
    """Per symbol of a text: its text, the model's probability of it given everything before (None
    for the first, which nothing predicts), and the ``top`` most probable symbols there."""

    symbols: list[str]
    probs: list[float | None]
    top: list[list[tuple[str, float]]]

    @property
    def bits_per_symbol(self) -> float:
        scored = [p for p in self.probs if p is not None]
        return -sum(math.log2(max(p, 1e-45)) for p in scored) / len(scored)


def symbols_of(vocab: Vocabulary, text: str) -> list[str]:
    """The text as the model reads it: characters, or the words of a word-level vocabulary (and
    its end-of-line symbol after each line, when it has one).

    >>> symbols_of(Vocabulary.build_tokens([["a", "b"]], specials=["<eos>"]), "a b\\n\\nb")
    ['a', 'b', '<eos>', 'b', '<eos>']
    """
    if vocab.kind == "char":
        return list(text)
    if EOS not in vocab:
        return text.split()
    return [w for line in text.splitlines() if line.split() for w in line.split() + [EOS]]


@torch.no_grad()
def run_text(model: SequenceModel, vocab: Vocabulary, symbols: list[str],
             state: tuple | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Log-probabilities [T, V] after each symbol, and the activations {name: [T, H]} of every
    layer at each step (``layer k h``, and ``layer k c`` for an LSTM's cells), fp32, eval mode.
    ``state``: where the net starts (None: zeros)."""
    model.eval()
    ids = torch.as_tensor(vocab.encode(symbols), dtype=torch.long, device=next(model.parameters()).device)
    x = model.input(ids[None, :])
    enc = model.encoder
    if not isinstance(enc, RecurrentEncoder) or enc.rnn.bidirectional:
        out, _ = enc(x, None, state)
        return torch.log_softmax(model.head(out)[0].float(), -1), {"output": out[0].float()}
    acts: dict[str, torch.Tensor] = {}
    for k in range(enc.rnn.num_layers):
        h, c = layer_states(enc, k, x[0], None if state is None else tuple(s[k] for s in state))
        acts[f"layer {k + 1} h"] = h
        if c is not None:
            acts[f"layer {k + 1} c"] = c
        x = h[None]
    return torch.log_softmax(model.head(x)[0].float(), -1), acts


def layer_states(enc: RecurrentEncoder, k: int, x: torch.Tensor,
                 start: tuple | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Layer ``k``'s hidden outputs [T, H] for inputs [T, D] and, for an LSTM, its cell states:
    the layer's kernel gives h for every step at once; c follows from the gates, which need only
    x_t and h_{t-1}, and c_t = f_t c_{t-1} + i_t g_t, one cheap elementwise step at a time."""
    rnn = enc.rnn
    weights = enc.layer_weights(k)
    H = rnn.hidden_size
    h0 = x.new_zeros(1, 1, H) if start is None else start[0][None].reshape(1, 1, H)
    c0 = x.new_zeros(1, 1, H) if start is None or len(start) < 2 else start[1].reshape(1, 1, H)
    hx = (h0, c0) if enc.cell == "lstm" else h0
    h = _VF_RUN[enc.cell](x[None], hx, weights, rnn.bias, 1, 0.0, False, False, True)[0][0]
    if enc.cell != "lstm":
        return h, None
    w_ih, w_hh = weights[0], weights[1]
    b = (weights[2] + weights[3]) if rnn.bias else 0.0
    previous = torch.cat([h0[0], h[:-1]])  # h_{t-1}
    gates = x @ w_ih.T + previous @ w_hh.T + b  # [T, 4H]: i, f, g, o (PyTorch's order)
    i, f, g = torch.sigmoid(gates[:, :H]), torch.sigmoid(gates[:, H:2 * H]), torch.tanh(gates[:, 2 * H:3 * H])
    c = torch.empty_like(h)
    prev_c = c0[0, 0]
    for t in range(len(h)):
        prev_c = f[t] * prev_c + i[t] * g[t]
        c[t] = prev_c
    return h, c


def surprisal(model: SequenceModel, vocab: Vocabulary, symbols: list[str], top: int = 5,
              state: tuple | None = None) -> Surprisal:
    """Each symbol's probability under the model given the symbols before it (:class:`Surprisal`)."""
    if len(symbols) < 2:
        raise RnnkitError("need at least 2 symbols of text")
    logp, _ = run_text(model, vocab, symbols, state)
    ids = torch.as_tensor(vocab.encode(symbols), dtype=torch.long)
    probs = logp.exp().cpu()
    chosen = probs[:-1].gather(1, ids[1:, None])[:, 0].tolist()
    best_p, best_i = probs[:-1].topk(min(top, probs.shape[1]), dim=-1)
    tops = [[(vocab.tokens[i], p) for i, p in zip(row_i, row_p)] for row_i, row_p in zip(best_i.tolist(), best_p.tolist())]
    return Surprisal(symbols, [None] + chosen, [[]] + tops)


def patterns(text: str, regex: str | None = None) -> dict[str, np.ndarray]:
    """Per character of ``text``, the signals of :data:`PATTERNS` (and ``regex``: 1 inside its
    matches) as float arrays [T].

    >>> p = patterns('a("x") // c')
    >>> p["inside a string"].tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    >>> p["bracket depth"].tolist()[:7], p["inside a comment"].tolist()[-4:]
    ([0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0])
    """
    n = len(text)
    string, comment, depth, column = (np.zeros(n, dtype=np.float32) for _ in range(4))
    quote, in_line, in_block, level, col = None, False, False, 0, 0
    i = 0
    while i < n:
        ch, nxt = text[i], text[i + 1:i + 2]
        column[i] = col
        col = 0 if ch == "\n" else col + 1
        if in_block:
            comment[i] = 1
            if ch == "*" and nxt == "/":
                depth[i] = depth[i + 1] = level
                comment[i + 1], column[i + 1], col, i = 1, col, col + 1, i + 2
                in_block = False
                continue
        elif in_line:
            in_line = ch != "\n"
            comment[i] = float(in_line)
        elif quote:
            if ch == "\\" and nxt and nxt != "\n":
                string[i] = string[i + 1] = 1
                depth[i] = depth[i + 1] = level
                column[i + 1], col, i = col, col + 1, i + 2
                continue
            quote = None if ch in (quote, "\n") else quote
            string[i] = float(quote is not None)
        elif ch in "\"'":
            quote = ch
        elif ch == "/" and nxt in ("*", "/"):
            in_block, in_line = nxt == "*", nxt == "/"
            comment[i] = 1
        elif ch in "([{":
            level += 1
        elif ch in ")]}":
            level = max(0, level - 1)
        depth[i] = level
        i += 1
    signals = {"inside a string": string, "inside a comment": comment, "bracket depth": depth, "position in line": column}
    if regex:
        try:
            found = re.compile(regex)
        except re.error as exc:
            raise RnnkitError(f"bad regular expression {regex!r}: {exc}") from None
        mask = np.zeros(n, dtype=np.float32)
        for m in found.finditer(text):
            mask[m.start():m.end()] = 1
        signals["regex"] = mask
    return signals


def rank_units(acts: torch.Tensor, signal: np.ndarray, top: int = 10) -> list[tuple[int, float]]:
    """The ``top`` units of ``acts`` [T, H] whose activation correlates best (by |Pearson r|) with
    ``signal`` [T]: (unit, r), best first; a constant signal or unit has r = 0."""
    a = acts.double().cpu().numpy()
    s = signal.astype(np.float64)
    a = a - a.mean(0)
    s = s - s.mean()
    denom = np.sqrt((a * a).sum(0) * (s * s).sum())
    r = np.divide(a.T @ s, denom, out=np.zeros(a.shape[1]), where=denom > 0)
    order = np.argsort(-np.abs(r), kind="stable")[:top]
    return [(int(u), float(r[u])) for u in order]
