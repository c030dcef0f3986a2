"""The tune recipe's evaluation: held-out nats/char, and generated tunes checked against their kind.

A generated tune passes for a kind when its meter is one of the kind's (its training tunes'
meters, ``data.tunes.kind_meters``), its every bar adds up (``data.abc.check_tune``) and it
ends (the net writes the end mark before the sampler's length limit).
:func:`generation_report` counts that share per kind (``rnnkit evaluate``); :func:`fit_metrics`
turns it into the number a run trained with ``--select-samples N`` keeps its weights by: the
worst kind's share of new tunes that pass (``valid_fit``), drawn cool and from a fixed seed at
each evaluation, so that two evaluations differ by their weights, not by their draws. (Not the
default: README, "Tunes from one choice", measures it.) After training, :func:`choose_guidance`
draws tunes of each kind at several guidance scales and temperatures; at each temperature it keeps,
per kind, the scale whose tunes pass most, and of the temperatures the one whose worst kind passes
most (``guidance.json``): ``sample`` and ``evaluate`` then draw every kind at that temperature, each
at its own scale.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from ..configs import from_dict
from ..data.tunes import music_of
from ..errors import RnnkitError
from ..training.checkpoint import atomic_write_json, read_json

log = logging.getLogger(__name__)

# The seed of the tunes drawn for model selection: far from the seeds README's tables score with
# (stream i of seed s is seed s + i's one stream, so seeds 1..100 and 1001..1100 are taken there).
SELECT_SEED = 500_000
# The seed of the tunes drawn to choose the temperature and each kind's guidance scale after training:
# far from both.
GUIDE_SEED = 700_000
GUIDANCE_FILE = "guidance.json"  # in the run folder: the temperature and each kind's scale (choose_guidance)


@dataclass(frozen=True)
class FitCheck:
    """How model selection draws tunes: ``samples`` per kind (0, the default: select on valid
    nats/char instead) at ``temperature``, for the kinds with at least ``min_tunes`` training tunes."""

    samples: int = 0
    temperature: float = 0.2
    min_tunes: int = 30


@dataclass(frozen=True)
class GuidanceChoice:
    """How a run trained with ``--condition-dropout`` chooses its sampling temperature and each kind's
    guidance scale once trained: ``samples`` tunes per kind (0: none, every kind draws at
    ``DEFAULT_GUIDANCE`` and T=0.2) at each of ``scales`` and ``temperatures``, for the kinds with at
    least ``min_tunes`` training tunes. At each temperature each kind keeps the scale whose tunes
    pass most (:func:`pick_scale`); the run keeps the temperature whose worst kind passes most
    (:func:`pick_temperature`). 0.3 beside 0.2: at 0.2 two runs of five wrote waltzes that never end
    (README, "Measured with loud kind vectors and each kind's own scale")."""

    samples: int = 50
    scales: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    temperatures: tuple[float, ...] = (0.2, 0.3)
    min_tunes: int = 30


def guidance_choice(saved: dict[str, Any]) -> GuidanceChoice:
    """The run configuration's ``guidance`` entry as a :class:`GuidanceChoice`; runs made before the
    temperature was chosen name one ``temperature``."""
    if isinstance(saved, dict) and "temperature" in saved and "temperatures" not in saved:
        saved = {**{k: v for k, v in saved.items() if k != "temperature"}, "temperatures": [saved["temperature"]]}
    return from_dict(GuidanceChoice, saved)


def score_held_out(gen: Any, tunes: list) -> dict[str, float]:
    """Nats per character of ``tunes`` (end marks included), each read from its own kind."""
    import torch

    from ..data.batching import SequenceBatches
    from .tune import bar_places, examples, read_conditions

    items = examples(tunes, gen.vocab, gen.kinds, gen.meter_classes, bar_places(gen.model.config))
    total, count = 0.0, 0
    gen.model.eval()
    with torch.no_grad():
        for batch in SequenceBatches(items, 32, shuffle=False):
            logits, _ = read_conditions(gen.model, batch, None)
            r = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.targets.flatten(),
                                                  ignore_index=-100, reduction="sum")
            total, count = total + float(r), count + int((batch.targets != -100).sum())
    return {"tunes": len(items), "chars": count, "nats_per_char": total / max(count, 1),
            "bits_per_char": total / max(count, 1) / math.log(2)}


def check_generated(tunes: list[str], meters: list[str], known: frozenset[str] = frozenset(),
                    ended: list[bool] | None = None) -> dict[str, float]:
    """Shares of ``tunes`` whose meter is one of ``meters``, whose bars all add up, that ended (the
    net wrote the end mark; ``ended``, None: all of them, as real tunes do), and that pass all three
    (``both``: the meter and the bars of a whole tune); of distinct tunes, of tunes whose music
    (``data.tunes.music_of``) is in ``known`` (copied), and of those that pass and are no copy
    (``new_and_both``: what model selection counts). A tune the sampler cut off at its length
    limit can still have bars that add up (the last bar may be short at a tune's end): it is
    not a whole tune, and fails."""
    from ..data.abc import check_tune
    from ..data.tunes import meter_of

    ended = [True] * len(tunes) if ended is None else ended
    fits = [meter_of(t) in meters for t in tunes]
    valid = [check_tune(t).valid for t in tunes]
    passes = [f and v and e for f, v, e in zip(fits, valid, ended)]
    music = [music_of(t) for t in tunes]
    n = max(len(tunes), 1)
    return {"samples": len(tunes), "meter_fits": sum(fits) / n, "bars_add_up": sum(valid) / n, "ended": sum(ended) / n,
            "both": sum(passes) / n, "distinct": len(set(music)) / n, "copied": sum(m in known for m in music) / n,
            "new_and_both": sum(p and m not in known for p, m in zip(passes, music)) / n}


def draw_tunes(gen: Any, samples: int, kind: str | None, temperature: float, seed: int,
               guidance: float | None = None, guide_body: bool = False) -> tuple[list[str], list[bool]]:
    """``samples`` tunes of ``kind`` (None: unconditioned) and whether each ended: a tune the
    sampler stopped at its length limit (``gen.default_length`` characters) never wrote its end
    mark, and one that did is shorter (the mark is cut off). ``guidance``, ``guide_body``: as ``gen.sample_many``."""
    options = {**({"guidance": guidance} if guidance is not None else {}), **({"guide_body": True} if guide_body else {})}
    tunes = gen.sample_many(samples, condition=kind, temperature=temperature, seed=seed, **options)
    return tunes, [len(t) < gen.default_length for t in tunes]


def generation_report(gen: Any, samples: int, min_tunes: int, temperature: float, seed: int,
                      known: frozenset[str] = frozenset(), guidance: float | None = None,
                      guide_body: bool = False) -> dict[str, Any]:
    """Per kind with at least ``min_tunes`` training tunes, :func:`check_generated` of new tunes
    (drawn with ``guidance``: None, the run's default; ``guide_body``: as ``gen.sample_many``)."""
    counts = gen.config["corpus"]["train_tunes_by_kind"]
    kinds = [k for k in gen.kinds if counts.get(k, 0) >= min_tunes]
    out: dict[str, Any] = {}
    if samples == 0 or not kinds:
        return out
    drawn = None if gen.conditioned else draw_tunes(gen, samples, None, temperature, seed, guidance, guide_body)
    for kind in kinds:
        tunes, ended = draw_tunes(gen, samples, kind, temperature, seed, guidance, guide_body) if gen.conditioned else drawn
        meters = gen.meters.get(kind, [])
        scale = gen.guidance_scale(guidance, guide_body, kind if gen.conditioned else None)
        out[kind] = {"meters": meters, "guidance": scale, **check_generated(tunes, meters, known, ended)}
    return out


def fit_metrics(gen: Any, check: FitCheck, known: frozenset[str]) -> dict[str, float]:
    """``valid_fit``, the lowest share over the kinds of new tunes that pass for their kind
    (:func:`check_generated`'s ``new_and_both``), and each kind's share as ``fit_<kind>``; nothing
    when no kind has ``check.min_tunes`` training tunes."""
    report = generation_report(gen, check.samples, check.min_tunes, check.temperature, SELECT_SEED, known)
    shares = {kind: r["new_and_both"] for kind, r in report.items()}
    if not shares:
        return {}
    return {"valid_fit": min(shares.values()), **{f"fit_{kind}": share for kind, share in shares.items()}}


def pick_scale(shares: dict[float, float]) -> float:
    """The scale whose tunes pass most; of equals the smallest (the least pushed from the net's own draws).

    >>> pick_scale({1.0: 0.90, 1.5: 0.96, 2.0: 0.96, 3.0: 0.5})
    1.5
    """
    best = max(shares.values())
    return min(scale for scale, share in shares.items() if share == best)


def pick_temperature(passing: dict[float, dict[str, float]]) -> float:
    """The temperature whose worst kind passes most (``passing``: temperature -> kind -> share, each
    kind at the scale it chose there); of equals the one whose kinds pass most on average, then the coolest.

    >>> pick_temperature({0.2: {"jigs": 1.0, "waltzes": 0.78}, 0.3: {"jigs": 0.98, "waltzes": 0.88}})
    0.3
    >>> pick_temperature({0.2: {"jigs": 1.0, "waltzes": 0.9}, 0.3: {"jigs": 0.9, "waltzes": 0.96}})
    0.2
    """
    return max(passing, key=lambda t: (min(passing[t].values()), sum(passing[t].values()) / len(passing[t]), -t))


def choose_guidance(gen: Any, choice: GuidanceChoice, known: frozenset[str]) -> dict[str, Any]:
    """The run's ``temperature`` and each kind's guidance scale there (``scales``), with the shares
    of new tunes that pass they were chosen on (``shares``: temperature -> kind -> scale ->
    :func:`check_generated`'s ``new_and_both``), drawn on the header as ``sample`` draws them, from
    :data:`GUIDE_SEED`; no scales when no kind has ``choice.min_tunes`` training tunes."""
    shares: dict[float, dict[str, dict[float, float]]] = {}
    for temperature in choice.temperatures:
        for scale in choice.scales:
            report = generation_report(gen, choice.samples, choice.min_tunes, temperature, GUIDE_SEED, known, scale)
            for kind, r in report.items():
                shares.setdefault(temperature, {}).setdefault(kind, {})[scale] = r["new_and_both"]
    scales = {t: {kind: pick_scale(by_scale) for kind, by_scale in kinds.items()} for t, kinds in shares.items()}
    temperature = pick_temperature({t: {k: shares[t][k][s] for k, s in chosen.items()} for t, chosen in scales.items()}
                                   ) if shares else None
    return {"temperature": temperature, "scales": scales.get(temperature, {}),
            "shares": {f"{t:g}": {kind: {f"{s:g}": v for s, v in by_scale.items()} for kind, by_scale in kinds.items()}
                       for t, kinds in shares.items()},
            "samples": choice.samples, "temperatures": list(choice.temperatures), "seed": GUIDE_SEED}


def save_guidance(run_dir: str, choice: GuidanceChoice, train_tunes: list, device: str = "cpu") -> None:
    """After training: :func:`choose_guidance` with the run's kept weights, into ``guidance.json``
    (nothing for a run without "no kind", with ``choice.samples`` 0, or with no kind to draw)."""
    from .tune import load

    gen = load(run_dir, device)
    if gen.no_kind is None or not choice.samples or not gen.conditioned:
        return
    started = time.monotonic()
    log.info("tune: choosing the temperature and each kind's guidance scale: %d tunes of each kind at "
             "guidance %s and temperature %s", choice.samples, ", ".join(f"{s:g}" for s in choice.scales),
             ", ".join(f"{t:g}" for t in choice.temperatures))
    chosen = choose_guidance(gen, choice, frozenset(music_of(t.text) for t in train_tunes))
    if chosen["scales"]:
        atomic_write_json(os.path.join(run_dir, GUIDANCE_FILE), chosen)
        log.info("tune: temperature %g, guidance %s (%.0f s; %s)", chosen["temperature"],
                 ", ".join(f"{k} {s:g}" for k, s in chosen["scales"].items()), time.monotonic() - started, GUIDANCE_FILE)


def read_guidance(run_dir: str, kinds: list[str]) -> tuple[dict[str, float], float | None]:
    """Each kind's guidance scale and the temperature from the run's ``guidance.json`` (none: no
    such file; no temperature: a choice made before temperatures were chosen, at 0.2)."""
    path = os.path.join(run_dir, GUIDANCE_FILE)
    if not os.path.exists(path):
        return {}, None
    data = read_json(path, "guidance choice")
    scales = data.get("scales") if isinstance(data, dict) else None
    temperature = data.get("temperature") if isinstance(data, dict) else None
    if not (isinstance(scales, dict) and all(k in kinds and _number(v) for k, v in scales.items())
            and (temperature is None or _number(temperature))):
        raise RnnkitError(f"{path} is not a guidance choice: its scales must map the run's kinds to numbers >= 0, "
                          "its temperature be a number >= 0")
    return {k: float(v) for k, v in scales.items()}, None if temperature is None else float(temperature)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
