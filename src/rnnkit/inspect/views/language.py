"""Language-model views: Sample (streamed), Surprisal (each symbol coloured by its probability)
and Cells (the text coloured by one unit's activation; units ranked by a pattern)."""
from __future__ import annotations

import base64
import binascii
import itertools
from typing import Any, Iterator

import numpy as np

from ...data.words import EOS
from ...errors import RnnkitError
from ..probe import PATTERNS, patterns, rank_units, run_text, surprisal, symbols_of
from . import MAX_LENGTH, MAX_TEXT, Field, View, number, stat, table, text, tokens

LMS = ("charlm", "wordlm", "tune")


# -- Sample -------------------------------------------------------------------------------------
def sample_fields(run: Any) -> list[Field]:
    fields = [Field("prime", "Prime", "text", "" if run.task == "tune" else _default_prime(run))]
    if run.task == "tune" and run.predictor.conditioned:
        fields.append(Field("condition", "Kind", "select", run.predictor.kinds[0], tuple(run.predictor.kinds)))
    return fields + [Field("temperature", "Temperature", "number", 0.8), Field("top_k", "Top-k (empty: all)", "number", ""),
                     Field("top_p", "Top-p (empty: all)", "number", ""),
                     Field("length", "Length", "number", 1000 if run.task != "wordlm" else 100),
                     Field("seed", "Seed (empty: random)", "number", "")]


def _default_prime(run: Any) -> str:
    return run.default_text[:20] if run.default_text else ("the " if run.task == "wordlm" else "")


def sample(run: Any, form: dict[str, str]) -> Iterator[str]:
    options = dict(temperature=number(form, "temperature", 1.0, 1e-3, 100.0),
                   top_k=number(form, "top_k", None, 1, 1e9, integer=True),
                   top_p=number(form, "top_p", None, 1e-6, 1.0),
                   seed=number(form, "seed", None, 0, 2**62, integer=True))
    length = number(form, "length", 500, 1, MAX_LENGTH, integer=True)
    prime = text(form, "prime", required=False)
    lm = run.predictor
    if run.task == "tune":
        condition = form.get("condition") or None
        return lm.stream(prime, length, condition=condition if lm.conditioned else None, **options)
    pieces = lm.stream(prime, length, **options)  # an unknown prime symbol is the sampler's error
    first = next(pieces, "")  # bad options raise here, before anything is sent
    return itertools.chain([prime, " " if run.task == "wordlm" and prime and first != "\n" else "", first], pieces)


SAMPLE = View(name="sample", title="Sample", tasks=LMS, fields=sample_fields, answer=sample, streams=True, button="Sample")


# -- Surprisal ----------------------------------------------------------------------------------
def _symbols(run: Any, form: dict[str, str]) -> list[str]:
    value = uploaded(form) if form.get("upload") else text(form, "text")
    symbols = symbols_of(run.predictor.vocab, value)
    if len(symbols) > MAX_TEXT:
        raise RnnkitError(f"the text has {len(symbols):,} symbols; this page reads at most {MAX_TEXT:,}")
    if len(symbols) < 2:
        raise RnnkitError("give at least 2 symbols of text")
    return symbols


def uploaded(form: dict[str, str]) -> str:
    """The text of the file the page sent (base64 of UTF-8; other bytes are replaced)."""
    try:
        raw = base64.b64decode(form["upload"], validate=True)
    except (binascii.Error, ValueError):
        raise RnnkitError("the file did not arrive whole (bad base64)") from None
    if len(raw) > 4 * MAX_TEXT:
        raise RnnkitError(f"{form.get('upload_name') or 'the file'} has {len(raw):,} bytes; this page reads at most "
                          f"{MAX_TEXT:,} symbols")
    return raw.decode("utf-8", errors="replace")


def _shown(symbol: str, vocab_kind: str) -> str:
    return symbol if vocab_kind == "char" else "\n" if symbol == EOS else symbol + " "


def surprisal_blocks(lm: Any, symbols: list[str]) -> list[dict[str, Any]]:
    s = surprisal(lm.model, lm.vocab, symbols)
    items = []
    for sym, p, top in zip(s.symbols, s.probs, s.top):
        title = "first symbol: nothing predicts it" if p is None else \
            f"p({sym!r}) = {p:.3f}; most probable: " + ", ".join(f"{a!r} {q:.3f}" for a, q in top)
        items.append({"text": _shown(sym, lm.vocab.kind), "value": p, "title": title})
    unit = "char" if lm.vocab.kind == "char" else "word"
    return [stat(f"bits/{unit}", f"{s.bits_per_symbol:.4f}"), stat(f"{unit}s scored", len(symbols) - 1),
            tokens(items, "prob")]


SURPRISAL = View(name="surprisal", title="Surprisal", tasks=("charlm", "wordlm"),
                 fields=lambda run: [Field("text", "Text", "textarea", run.default_text),
                                     Field("upload", "or a text file", "file")],
                 answer=lambda run, form: surprisal_blocks(run.predictor, _symbols(run, form)))


# -- Cells --------------------------------------------------------------------------------------
def layer_names(run: Any) -> list[str]:
    lm = run.predictor
    _, acts = run_text(lm.model, lm.vocab, list(lm.vocab.tokens[-2:]))  # two symbols it knows
    return list(acts)


def cells_fields(run: Any) -> list[Field]:
    names = layer_names(run)
    return [Field("text", "Text", "textarea", run.default_text), Field("upload", "or a text file", "file"),
            Field("layer", "Layer", "select", names[-1], tuple(names)),
            Field("unit", "Unit (empty: the best for the pattern)", "number", ""),
            Field("pattern", "Pattern", "select", PATTERNS[0], PATTERNS + ("regex",)),
            Field("regex", "Regex (pattern 'regex')", "text", "")]


def cells(run: Any, form: dict[str, str]) -> list[dict[str, Any]]:
    lm = run.predictor
    symbols = _symbols(run, form)
    _, acts = run_text(lm.model, lm.vocab, symbols)
    layer = form.get("layer") or list(acts)[-1]
    if layer not in acts:
        raise RnnkitError(f"no layer {layer!r}; this model has {', '.join(acts)}")
    values = acts[layer]
    pattern = form.get("pattern") or PATTERNS[0]
    if pattern not in PATTERNS + ("regex",):
        raise RnnkitError(f"unknown pattern {pattern!r}")
    regex = form.get("regex") or None
    if pattern == "regex" and not regex:
        raise RnnkitError("give a regular expression for the pattern 'regex'")
    signal = _per_symbol(patterns("".join(symbols) if lm.vocab.kind == "char" else " ".join(symbols),
                                  regex if pattern == "regex" else None)[pattern], symbols, lm.vocab.kind)
    ranked = rank_units(values, signal)
    unit = number(form, "unit", ranked[0][0], 0, values.shape[1] - 1, integer=True)
    column = values[:, unit].cpu().numpy()
    scale = float(np.abs(column).max()) or 1.0
    r = float(np.corrcoef(column, signal)[0, 1]) if column.std() > 0 and signal.std() > 0 else 0.0
    items = [{"text": _shown(sym, lm.vocab.kind), "value": float(v) / scale, "title": f"{layer} unit {unit}: {v:+.3f}"}
             for sym, v in zip(symbols, column)]
    return [stat("unit", f"{layer} {unit}"), stat(f"r with '{pattern}'", f"{r:+.3f}"),
            table(["rank", "unit", f"r with '{pattern}'"], [[i + 1, u, f"{c:+.3f}"] for i, (u, c) in enumerate(ranked)]),
            tokens(items, "signed")]


def _per_symbol(signal: np.ndarray, symbols: list[str], kind: str) -> np.ndarray:
    """A per-character signal per symbol (a word takes its first character's value)."""
    if kind == "char":
        return signal
    starts = np.cumsum([0] + [len(s) + 1 for s in symbols[:-1]])
    return signal[starts]


CELLS = View(name="cells", title="Cells", tasks=("charlm", "wordlm"), fields=cells_fields, answer=cells)
