"""Scoring a connected-digits run on test utterances, and drawing one recording's posteriorgram.

Test utterances are built from the test recordings only (index 0-4), with the run's own
settings and seed + 2, so every run on the same data is scored on the same utterances. Each
goes through the predictor's own path (trimming, features, normalisation) as a user's file
would. Error rates are edit distance over reference length: DER over digits, PER over the
phonemes of a phoneme model; ``der_repeats`` is the DER over the utterances in which a digit
is said twice in a row, where merging repeated outputs fails, and ``der_other`` over the rest.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..configs import from_dict
from ..decoding.scoring import error_rate
from ..errors import RnnkitError
from .transcriber import DECODERS, Transcriber, Transcript


def has_repeat(digits: Sequence[int]) -> bool:
    return any(a == b for a, b in zip(digits, digits[1:]))


def _decoders(model: Transcriber, names: str | None) -> list[str]:
    if names is None:
        return list(DECODERS) if model.divergence == "ctc" else ["greedy"]
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for n in chosen:
        if n not in DECODERS:
            raise RnnkitError(f"unknown decoder {n!r}; choose from {', '.join(DECODERS)}")
    return chosen


def score(model: Transcriber, refs: list[tuple[int, ...]], hyps: list[tuple[int, ...] | None],
          units: list[tuple[str, ...]]) -> dict[str, Any]:
    """DER (None when the decoder gives no digits), DER on repeat utterances, PER (phoneme models)."""
    out: dict[str, Any] = {"der": None, "der_repeats": None, "der_other": None, "per": None}
    if all(h is not None for h in hyps):
        out["der"] = error_rate(refs, hyps)
        for key, pick in (("der_repeats", True), ("der_other", False)):
            part = [i for i, r in enumerate(refs) if has_repeat(r) == pick]
            out[key] = error_rate([refs[i] for i in part], [hyps[i] for i in part]) if part else None
    if model.pronunciations is not None:
        phones = [tuple(p for d in r for p in model.pronunciations[d]) for r in refs]
        out["per"] = error_rate(phones, units)
    return out


def evaluate_run(run: str, data: str | None, decoders: str | None, count: int | None,
                 pause: Sequence[float] | None, beam_size: int, device: str) -> dict[str, Any]:
    """Every chosen decoder's error rates and speed on the run's test utterances."""
    from .connected import ConnectedConfig, load, trimmed_recordings, utterances

    model = load(run, device)
    model.beam_size = beam_size
    cfg = from_dict(ConnectedConfig, model.config["connected"])
    cfg = replace(cfg, data=data or cfg.data)
    names = _decoders(model, decoders)
    recs = trimmed_recordings(cfg, model.features)["test"]
    if not recs:
        raise RnnkitError(f"{cfg.data}: no test recordings (index 0-4)")
    utts = utterances(recs, count or cfg.test_utterances, cfg.seed + 2, cfg, model.features.rate,
                      tuple(pause) if pause else None)
    refs = [tuple(u.digits) for u in utts]
    start = time.perf_counter()
    batches = []
    for i in range(0, len(utts), 64):
        read = [model.read(u.samples, f"test utterance {i + k + 1}") for k, u in enumerate(utts[i:i + 64])]
        batches.append(model.log_probs([x for x, _ in read]))
    forward = time.perf_counter() - start
    result: dict[str, Any] = {"utterances": len(utts), "digits": sum(map(len, refs)),
                              "repeat_utterances": sum(map(has_repeat, refs)), "forward_seconds": forward,
                              "decoders": {}}
    for name in names:
        start = time.perf_counter()
        hyps = [h for lp, lengths in batches for h in model.decode(lp, lengths, name)]
        seconds = time.perf_counter() - start
        r = score(model, refs, [model.digits_of(h) for h in hyps], [tuple(model.symbols[t] for t in h.tokens) for h in hyps])
        r["utterances_per_s"] = len(utts) / (forward + seconds)
        r["decode_seconds"] = seconds
        result["decoders"][name] = r
    return result


def plot_posteriorgram(model: Transcriber, path: str | np.ndarray, transcript: Transcript, out: Any,
                       name: str | None = None) -> None:
    """The output probabilities (steps x symbols) of one recording (a path, or samples called
    ``name``), with the decoded segments, as a PNG file ``out`` (a path or a binary file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .transcriber import step_geometry

    inputs, offset = model.read(path)
    lp, _ = model.log_probs([inputs])
    probs = lp[0].exp().numpy().T                                   # [C, S]
    hop, window = step_geometry(model.features, model.stack)
    rate = model.features.rate
    t0, t1 = (offset + window / 2) / rate, (offset + (probs.shape[1] - 1) * hop + window / 2) / rate
    fig, ax = plt.subplots(figsize=(max(6.0, probs.shape[1] / 12), 0.22 * len(model.symbols) + 1.6))
    ax.imshow(probs, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1,
              extent=(t0 - hop / rate / 2, t1 + hop / rate / 2, -0.5, len(model.symbols) - 0.5))
    ax.set_yticks(np.arange(len(model.symbols)))
    ax.set_yticklabels(["blank" if model.divergence == "ctc" else "pause"] + list(model.symbols[1:]), fontsize=7)
    ax.set_xlabel("seconds")
    for k, s in enumerate(transcript.segments):
        ax.axvspan(s.start, s.end, color=f"C{k % 10}", alpha=0.25)
        ax.text((s.start + s.end) / 2, len(model.symbols) - 0.3, s.symbol, ha="center", va="bottom", fontsize=9)
    said = " ".join(map(str, transcript.digits)) if transcript.digits is not None else " ".join(transcript.units)
    ax.set_title(f"{name or path}: {said}", fontsize=9, pad=14)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise RnnkitError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        plt.close(fig)
