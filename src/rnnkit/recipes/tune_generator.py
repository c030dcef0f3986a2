"""The tune recipe's predictor: a trained tune generator writes whole tunes of the kind asked for.

    gen = rnnkit.load("runs/tunes")            # a TuneGenerator
    gen.generate("waltz", temperature=0.5, seed=1)

Each tune starts from the kind's initial state (and, for a net that reads it at every step, the
kind's input vector), after the end mark the net was trained to read first, and ends where the
net writes the end mark. A net conditioned on the meter too writes in the meter asked for, or in
one drawn from the kind's own. A net trained with ``--condition-dropout`` also knows "no kind",
and draws each tune with classifier-free guidance (``guidance``, :class:`~rnnkit.decoding.sampling.Guide`):
away from what a tune of no kind in particular would be, towards what the kind asked for makes likelier.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from ..data.bar_position import BarPosition
from ..data.documents import END
from ..data.tunes import COMMON_TIME, OTHER_METER, find_kind
from ..data.vocab import Vocabulary
from ..decoding.sampling import Guide, sample as _sample, stream as _stream
from ..errors import RnnkitError
from ..models.model import SequenceModel

# The guidance scale a run trained with --condition-dropout samples a kind with when the run chose none
# for it (guidance.json, chosen after training: tune_eval.choose_guidance), and with --guide-body; 1: none.
# One scale for every kind suits no run for long: with the kind vectors drawn quiet (before 2026-12-06),
# 1.5 passed four runs of five, and the fifth trained again passed 18-31% of its waltzes at 1.5 and
# 93-96% at 3, while at 2 a fourth run's jigs turned to 4/4 (guidance pushes a common kind away from
# "no kind", which is close to it) (README, "Measured with loud kind vectors and each kind's own scale").
DEFAULT_GUIDANCE = 1.5


class BarFeed:
    """The sampler's ``feed`` for a net that reads each character's place in the bar
    (``ModelConfig.step_classes``): one :class:`~rnnkit.data.bar_position.BarPosition` per stream,
    told every character its stream reads, as the tune recipe's examples pair them in training
    (with ``count_bars``, the bars closed so far too: ``ModelConfig.step_counts``; with
    ``count_sections``, those of the running part as well: ``ModelConfig.step_sections``)."""

    def __init__(self, vocab: Vocabulary, streams: int, count_bars: bool = False, count_sections: bool = False):
        self.tokens, self.size = vocab.tokens, len(vocab)
        self.readers = [BarPosition(count_bars, count_sections) for _ in range(streams)]

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        classes = [[reader.read(self.tokens[i]) for i in row] for reader, row in zip(self.readers, ids.tolist())]
        return ids + self.size * torch.tensor(classes, dtype=ids.dtype, device=ids.device)

    def in_header(self) -> torch.Tensor:
        """[streams] bool: which streams have not yet finished their header (the ``K:`` line)."""
        return torch.tensor([not reader.body for reader in self.readers])


@dataclass
class TuneGenerator:
    """A trained tune generator (what ``rnnkit.load`` returns for a tune run)."""

    model: SequenceModel
    vocab: Vocabulary
    kinds: list[str]  # the conditions it knows (every kind of its training tunes)
    meters: dict[str, list[str]]  # each kind's meters in its training tunes (data.tunes.kind_meters)
    config: dict[str, Any]
    step: int
    meter_classes: list[str] | None = None  # the meters it is conditioned on (None: the kind alone)
    meter_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # each kind's training tunes by meter
    no_kind: int | None = None  # the condition "no kind" (a run trained with --condition-dropout), else None
    kind_guidance: dict[str, float] = field(default_factory=dict)  # each kind's scale, chosen after training
    # `rnnkit sample`'s and `evaluate`'s temperature unless told: the run's, chosen with the scales
    # after training (0.2 or 0.3, tune_eval.choose_guidance), else 0.2, where every kind was measured
    # to keep its meter and bars (README, "Measured with guidance on the header"); 1.0 writes freer,
    # less regular tunes.
    default_temperature: float = 0.2
    documents = True  # each sample is one whole tune, ended where the model ends it
    default_length = 3000  # characters at most (the longest Nottingham tune has 1,352)

    @property
    def conditioned(self) -> bool:
        return bool(self.model.config.num_conditions)

    def kind(self, name: str) -> str:
        """The kind ``name`` names (``jig`` or ``jigs``); another is an error listing the valid ones."""
        found = find_kind(name, self.kinds) if isinstance(name, str) else None
        if found is None:
            raise RnnkitError(f"this model was not trained on {name!r} tunes; its kinds: {', '.join(self.kinds)}")
        return found

    def generate(self, condition: str | None = None, **kwargs: Any) -> str:
        """One tune of the kind ``condition`` (see :meth:`sample_many`)."""
        return self.sample_many(1, condition=condition, **kwargs)[0]

    def sample_many(self, num_samples: int, prime: str = "", length: int | None = None, condition: str | None = None,
                    end_of_document: bool = True, meter: str | None = None, guidance: float | None = None,
                    guide_body: bool = False, **kwargs: Any) -> list[str]:
        """``num_samples`` tunes, each started from the kind ``condition`` (required for a
        conditioned model, refused by an unconditioned one) and ``prime``, ended where the model
        writes the end mark (or after ``length`` characters); sampling options as
        :func:`rnnkit.decoding.sampling.sample`. A model conditioned on the meter too writes in
        ``meter`` (one it was trained on), or by default in one of the kind's meters
        (:attr:`meters`), drawn for each tune as often as the kind's training tunes have it.
        ``guidance``: the scale of classifier-free guidance (a run trained with ``--condition-dropout``;
        default the kind's own, chosen after training (:attr:`kind_guidance`), else :data:`DEFAULT_GUIDANCE`
        there, 1 (none) elsewhere), for the characters of the header
        (to the end of its ``K:`` line: the meter, note length and key the kind chooses), or with
        ``guide_body`` for every character (a run without the place in the bar guides every one)."""
        kwargs["stop"] = kwargs.get("stop") or END
        start = self._start(condition, num_samples, meter, kwargs.get("seed"), guidance, guide_body)
        texts = _sample(self.model, self.vocab, END + prime, self.default_length if length is None else length,
                        num_samples=num_samples, **start, **kwargs)
        return [prime + (t[:-1] if t.endswith(END) else t) for t in texts]

    def stream(self, prime: str = "", length: int | None = None, condition: str | None = None,
               end_of_document: bool = True, meter: str | None = None, guidance: float | None = None,
               guide_body: bool = False, **kwargs: Any) -> Iterator[str]:
        """One tune as it is drawn: ``prime``, then character by character (see :meth:`sample_many`)."""
        start = self._start(condition, 1, meter, kwargs.get("seed"), guidance, guide_body)
        kwargs["stop"] = kwargs.get("stop") or END
        yield prime
        for symbol in _stream(self.model, self.vocab, END + prime, self.default_length if length is None else length,
                              **start, **kwargs):
            if symbol == END:
                return
            yield symbol

    def _start(self, condition: str | None, num_samples: int, meter: str | None = None,
               seed: int | None = None, guidance: float | None = None, guide_body: bool = False) -> dict[str, Any]:
        """How ``num_samples`` streams of the kind ``condition`` start: the sampler's ``state`` (None:
        zeros), for a model that reads its condition at every step its ``conditions``, for one
        that reads each character's place in the bar the ``feed`` that counts it (:class:`BarFeed`),
        and the ``guide`` of a guidance scale other than 1."""
        scale = self.guidance_scale(guidance, guide_body, condition if self.conditioned else None)
        if self.conditioned and condition is None:
            raise RnnkitError(f"give the kind of tune to generate (--condition): one of {', '.join(self.kinds)}")
        if not self.conditioned and condition is not None:
            raise RnnkitError("this run was trained with --no-condition: it takes no --condition")
        if meter is not None and self.meter_classes is None:
            raise RnnkitError("this run was trained without the meter as a condition: it takes no --meter")
        cfg = self.model.config
        feed = BarFeed(self.vocab, num_samples, cfg.step_counts > 0, cfg.step_sections > 0) \
            if cfg.step_classes else None
        if condition is None:
            return {"state": None, "feed": feed}
        kind = self.kinds.index(self.kind(condition))
        ids = torch.full((num_samples,), kind, dtype=torch.long)
        if self.meter_classes is not None:
            meters = [self._meter(meter)] * num_samples if meter is not None else self.draw_meters(
                self.kinds[kind], num_samples, seed)
            ids = torch.stack([ids, torch.tensor([len(self.kinds) + self.meter_classes.index(m) for m in meters])], 1)
        ids = ids.to(next(self.model.parameters()).device)
        start = {"state": self.model.initial_state(ids), "conditions": ids if cfg.condition_input else None, "feed": feed}
        if scale != 1:
            twins = ids.clone()
            (twins if ids.dim() == 1 else twins[:, 0]).fill_(self.no_kind)  # the kind's column: a meter stays
            active = feed.in_header if feed is not None and not guide_body else None
            start["guide"] = Guide(self.model.initial_state(twins), twins if cfg.condition_input else None, scale, active)
        return start

    def guidance_scale(self, guidance: float | None = None, guide_body: bool = False, kind: str | None = None) -> float:
        """The guidance scale to sample ``kind`` with: ``guidance`` (an error where the run cannot take
        it), or by default the kind's own (:attr:`kind_guidance`; on the header: ``guide_body`` and a
        kind the run chose none for get :data:`DEFAULT_GUIDANCE`); ``guide_body`` (where guidance applies)
        is an error without guidance."""
        scale = self._scale(guidance)
        if guidance is None and kind is not None and not guide_body and self.no_kind is not None:
            scale = self.kind_guidance.get(self.kind(kind), scale)
        if guide_body and scale == 1:
            raise RnnkitError("--guide-body says where guidance applies: it needs a guidance scale other than 1 "
                              "(a run trained with --condition-dropout)")
        return scale

    def _scale(self, guidance: float | None) -> float:
        if guidance is None:
            return DEFAULT_GUIDANCE if self.no_kind is not None else 1.0
        if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
            raise RnnkitError(f"guidance must be a number >= 0, got {guidance!r}")
        if guidance != 1 and self.no_kind is None:
            raise RnnkitError("this run was trained without --condition-dropout: it has no \"no kind\" to guide "
                              "away from, so it takes no guidance other than 1")
        return float(guidance)

    def _meter(self, meter: str) -> str:
        """``meter`` as the model knows it (``C`` and ``2/2`` are ``4/4``); another is an error listing them."""
        name = COMMON_TIME.get(meter.strip(), meter.strip()) if isinstance(meter, str) else meter
        known = [m for m in self.meter_classes or [] if m != OTHER_METER]
        if name not in known:
            raise RnnkitError(f"this model was not trained on tunes in {meter!r}; its meters: {', '.join(known)}")
        return name

    def draw_meters(self, kind: str, num_samples: int, seed: int | None = None) -> list[str]:
        """A meter for each of ``num_samples`` tunes of ``kind``: one of the kind's :attr:`meters`,
        as often as its training tunes have it; tune i's from ``seed + i``, as the sampler seeds its streams."""
        meters = self.meters.get(kind) or [m for m in self.meter_classes or [] if m != OTHER_METER]
        weights = [self.meter_counts.get(kind, {}).get(m, 0) for m in meters]
        weights = weights if sum(weights) else [1] * len(meters)
        rngs = [random.Random(seed + i) for i in range(num_samples)] if seed is not None else [random.Random()] * num_samples
        return [rng.choices(meters, weights)[0] for rng in rngs]
