"""Single-input sequence generation: a whole folk tune (ABC) from one choice, the kind of tune.

    rnnkit train tune --data ../shared/data/nottingham_abc/ABC_cleaned --out runs/tunes
    rnnkit sample runs/tunes --condition jig --num-samples 20
    rnnkit evaluate runs/tunes --samples 100 --json

The lecture's captioning shape: one input sets the generator going and the sequence follows. The
kind (:mod:`rnnkit.data.tunes`: ``jigs``, ``reels``, ``waltzes``, ``hornpipe``, ...) selects the
recurrent net's initial state (``ModelConfig.num_conditions``, :meth:`SequenceModel.initial_state`)
and, by default, joins every step's input (``--condition-at state``: the initial state alone);
from there a character LSTM writes the tune, header included (``M:`` meter, ``K:`` key), one
character fed back at a time, until it writes the end mark. Each character is read with its place
in the bar (:mod:`rnnkit.data.bar_position`: in the header, or how full it leaves the running bar,
counted as the ABC checker counts; ``--no-bar-position``: the characters alone) and the number of
bars the tune has closed so far (``--no-bar-count``: without it). With
``--condition-meter`` the tune's meter is a second condition beside its kind (their vectors
summed): a kind such as the Ashover tunes comes in several meters, and a bar must add up to the
meter the tune wrote. Generation then draws the meter from the kind's own (as often as its
training tunes have each) unless one is asked for (``sample --meter 3/4``). ``--no-condition``
trains the same net from a zero state on the same tunes: the unconditioned model to compare with.
By default the tunes of rare kinds are read more often in each pass (:func:`kind_repeats`;
``--no-balance``: each once), and a tenth of the training tunes as of "no kind"
(``--condition-dropout P``, :func:`read_conditions`), so that sampling draws each tune's header
with classifier-free guidance (``sample --guidance S``, :class:`TuneGenerator`); once trained, the
run draws tunes of each kind at a few scales and temperatures and keeps the temperature, and for
each kind the scale, whose tunes pass most (``guidance.json``,
:func:`~rnnkit.recipes.tune_eval.choose_guidance`; ``--guidance-samples``).

Tunes are split by a seeded shuffle into train, valid and test; each is read after an end mark
(the start symbol) and trained to end with one. The run keeps the weights of its lowest valid
nats/char; with ``--select-samples N`` it keeps instead those whose worst kind writes the most new
tunes that pass for it (``valid_fit``: at each evaluation N tunes of each kind with 30 or more
training tunes, drawn at temperature 0.2 from a fixed seed, :mod:`.tune_eval`).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import random
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Sequence

import torch

from ..configs import from_dict, to_dict
from ..data.bar_position import BAR_COUNTS, NUM_CLASSES, SECTION_COUNTS, bar_classes
from ..data.batching import Batch, SequenceBatches
from ..data.documents import END
from ..data.tunes import Tune, kind_meters, meter_classes, meter_counts, meter_of, music_of, read_tunes
from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from ..models.model import ModelConfig, SequenceModel, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run
from .tune_eval import FitCheck, GuidanceChoice, fit_metrics, guidance_choice, read_guidance, save_guidance
from .tune_generator import TuneGenerator

from .tune_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .tune_cli import resume_from_args, train_from_args  # noqa: F401

log = logging.getLogger(__name__)
TASK = "tune"


@dataclass(frozen=True)
class DataConfig:
    """The tune collection, its split, and whether the kind conditions the generator."""

    data: str = ""
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    condition: bool = True  # False: the same net from a zero state (the unconditioned comparison)
    # Read the tunes of rare kinds more often in each pass (kind_repeats; False: each tune once). On by
    # default with condition_dropout: without them the rare kinds lose their meter (README, "Tunes from one choice").
    balance: bool = True
    # True: the tune's meter (its M: field) is a second condition beside its kind, and generation draws
    # it from the kind's own meters (or takes the one asked for). Off by default: a 600-s run wrote no
    # more Ashover tunes whose bars add up, and fewer waltzes in 3/4 (README, "Tunes from one choice").
    meter: bool = False
    # The share of training reads whose kind is replaced by "no kind" (a condition of its own, after
    # the kinds and meters), so that sampling can guide each tune's header away from the tunes of no kind
    # in particular (classifier-free guidance: sample --guidance, decoding.sampling.Guide), at the scale
    # each kind chose once trained, with the run's temperature (tune_eval.choose_guidance; README,
    # "Measured with the run's own temperature and each kind's own scale"). 0: off.
    condition_dropout: float = 0.1


# The kind enters the initial state (the lecture's single input) and every step's input: with the
# initial state alone (--condition-at state) a 600-s run writes the kind's meter hardly more often
# than the collection's mix gives (README, "Tunes from one choice", where --balance is measured too).
# 256 units and dropout 0.3, smaller and dropped out more than the char-LM: the 828 training tunes
# of the Nottingham collection are 0.36M characters.
# Each input character is read with its place in the bar (data/bar_position.py; --no-bar-position: without):
# in three 600-s runs 88-100% of the generated tunes' bars add up against 70-94% without it, and test
# loss is 0.005-0.007 nats/char lower (README, "Tunes from one choice"). And with the bars closed so far
# (--no-bar-count: without): in three 600-s runs each, test loss 0.8402-0.8503 nats/char against 0.8524-0.8718.
# And with the bars closed in the running part (--no-section-count: without), so that the net knows where
# in its part it is: the Ashover tunes that never ended wrote no part's end (README, "Measured with the
# bars of the running part counted").
DEFAULT_MODEL = dict(cell="lstm", embedding_dim=64, hidden_size=256, num_layers=2, dropout=0.3, condition_input=True,
                     step_classes=NUM_CLASSES, step_counts=BAR_COUNTS, step_sections=SECTION_COUNTS)
# Kept by the lowest valid nats/char. Keeping the weights whose generated tunes pass best
# (--select-samples 50) did not do better in two 600-s runs and costs a seventh of the steps
# (README, "Tunes from one choice").
DEFAULT_TRAIN = TrainConfig(batch_size=32, lr=3e-3, weight_decay=0.01, clip_norm=1.0, warmup_steps=50,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=30.0, checkpoint_interval=120.0,
                            select="valid_loss", select_mode="min")
BY_FIT = dict(select="valid_fit", select_mode="max")  # --select-samples N
BY_LOSS = dict(select=DEFAULT_TRAIN.select, select_mode=DEFAULT_TRAIN.select_mode)


def split_tunes(tunes: list[Tune], data: DataConfig) -> dict[str, list[Tune]]:
    """A seeded shuffle dealt into valid, test and train (at least one each for a fraction above 0)."""
    v, t = data.valid_fraction, data.test_fraction
    if v < 0 or t < 0 or v + t >= 1:
        raise RnnkitError(f"valid and test fractions must be >= 0 and sum below 1, got {v} and {t}")
    order = list(range(len(tunes)))
    random.Random(data.split_seed).shuffle(order)
    n_valid = max(1, round(v * len(tunes))) if v > 0 else 0
    n_test = max(1, round(t * len(tunes))) if t > 0 else 0
    if n_valid + n_test >= len(tunes):
        raise RnnkitError(f"{len(tunes)} tunes are too few to hold out {n_valid} for validation and {n_test} for test")
    picked = [tunes[i] for i in order]
    return {"valid": picked[:n_valid], "test": picked[n_valid:n_valid + n_test], "train": picked[n_valid + n_test:]}


def kind_repeats(counts: dict[str, int]) -> dict[str, int]:
    """How many times each kind's training tunes are read in one pass: the square root of how much
    rarer the kind is than the commonest, rounded (repeat-factor sampling). A rare kind then gets
    enough of the training signal to steer its tunes, without being learnt by heart as fully
    balanced classes would (8 Christmas tunes read 47 times a pass).

    >>> kind_repeats({"reels": 380, "jigs": 269, "waltzes": 41, "xmas": 8, "none": 0})
    {'reels': 1, 'jigs': 1, 'waltzes': 3, 'xmas': 7, 'none': 1}
    """
    most = max(counts.values(), default=0)
    return {k: max(1, round(math.sqrt(most / n))) if n else 1 for k, n in counts.items()}


def condition_of(tune: Tune, kinds: Sequence[str], meters: Sequence[str] | None) -> int | tuple[int, int]:
    """The tune's kind id, or with ``meters`` (:func:`meter_classes`) (kind id, its meter's class after the kinds)."""
    kind = kinds.index(tune.kind)
    if meters is None:
        return kind
    meter = meter_of(tune.text)
    return kind, len(kinds) + (meters.index(meter) if meter in meters else 0)


def bar_places(cfg: ModelConfig) -> Callable[[str], list[int]] | None:
    """What a net of ``cfg`` reads beside each character (``step_classes``): its place in the bar,
    and with ``step_counts`` the bars closed so far too, with ``step_sections`` those of the running
    part as well (:func:`~rnnkit.data.bar_position.bar_classes`); None: the characters alone."""
    return partial(bar_classes, count_bars=cfg.step_counts > 0, count_sections=cfg.step_sections > 0) \
        if cfg.step_classes else None


def examples(tunes: Sequence[Tune], vocab: Vocabulary, kinds: Sequence[str],
             meters: Sequence[str] | None = None, places: Callable[[str], list[int]] | None = None) -> list[tuple]:
    """(end mark + tune [T], tune + end mark [T], None, condition) of each tune of a known kind
    (:func:`condition_of`); with ``places`` (:func:`bar_places`) each input character's id is paired
    with its class there (``character + len(vocab) * class``)."""
    out = []
    for tune in tunes:
        if tune.kind in kinds:
            text = END + tune.text + END
            ids = torch.from_numpy(vocab.encode(text))
            inputs = ids[:-1] + len(vocab) * torch.tensor(places(text[:-1])) if places else ids[:-1]
            out.append((inputs, ids[1:], None, condition_of(tune, kinds, meters)))
    return out


def training_examples(train: Sequence[Tune], vocab: Vocabulary, kinds: Sequence[str], repeats: dict[str, int],
                      meters: Sequence[str] | None = None, places: Callable[[str], list[int]] | None = None
                      ) -> list[tuple]:
    """:func:`examples` of the training tunes, each kind's read ``repeats[kind]`` times (:func:`kind_repeats`)."""
    return [e for t in train for e in examples([t], vocab, kinds, meters, places)
            for _ in range(repeats.get(t.kind, 1))]


# -- the task -----------------------------------------------------------------------------------
def divergence(logits: torch.Tensor, batch: Batch) -> LossResult:
    return time_synchronous_xent(logits, batch.targets)


def read_conditions(model: SequenceModel, batch: Batch, state: Any, dropout: float = 0.0,
                    none: int = 0) -> tuple[torch.Tensor, tuple]:
    """The net starts from each tune's kind (or from zeros, unconditioned), reads the tune. In
    training, each tune's kind is the condition ``none`` with probability ``dropout`` (drawn from
    torch's generator, which checkpoints keep: a resumed run drops the same)."""
    conditions = batch.conditions
    if dropout and model.training and conditions is not None:
        kinds = conditions if conditions.dim() == 1 else conditions[:, 0]
        kinds = torch.where(torch.rand(kinds.shape, device=kinds.device) < dropout, none, kinds)
        conditions = kinds if conditions.dim() == 1 else torch.stack([kinds, conditions[:, 1]], 1)
    start = model.initial_state(conditions) if model.config.num_conditions else None
    return model(batch.inputs, batch.lengths, start, conditions if model.config.condition_input else None)


def no_kind(data: DataConfig, kinds: Sequence[str], meters: Sequence[str] | None) -> int | None:
    """The condition id of "no kind" in a run trained with ``condition_dropout`` (after the kinds
    and meters), else None."""
    return len(kinds) + len(meters or []) if data.condition and data.condition_dropout > 0 else None


class TuneTask(SequenceTask):
    """The held-out tunes' nats/char and, with ``draw``, what the model's generated tunes score
    (``draw(model)``: :func:`fit_metrics` of the weights being trained)."""

    def __init__(self, train: list, valid: list | None, cfg: TrainConfig, draw: Any = None,
                 forward: Any = read_conditions):
        held_out = SequenceBatches(sorted(valid, key=lambda e: len(e[0])), 32, shuffle=False) if valid else None
        super().__init__(SequenceBatches(train, cfg.batch_size, cfg.seed, bucket=20), held_out, divergence,
                         unit="char", forward=forward)
        self.draw = draw

    def evaluate(self, model: torch.nn.Module, runtime: Any) -> dict[str, float]:
        result = super().evaluate(model, runtime)
        return {**result, **self.draw(model)} if self.draw is not None else result


def tune_task(parts: dict, vocab: Vocabulary, kinds: list[str], meters: list[str] | None, info: dict,
              train: TrainConfig, draw: Any, places: Callable[[str], list[int]] | None, data: DataConfig) -> TuneTask:
    """The :class:`TuneTask` of a split (``parts``), its examples as :func:`training_examples` makes
    them, its training reads dropping the kind as ``data.condition_dropout`` says."""
    none = no_kind(data, kinds, meters)
    forward = partial(read_conditions, dropout=data.condition_dropout, none=none) if none is not None else read_conditions
    return TuneTask(training_examples(parts["train"], vocab, kinds, info["repeats_by_kind"], meters, places),
                    examples(parts["valid"], vocab, kinds, meters, places), train, draw, forward)


def fit_drawer(check: FitCheck, vocab: Vocabulary, kinds: list[str], meters: list[str] | None, parts: dict,
               info: dict, data: DataConfig) -> Any:
    """``draw(model)`` for :class:`TuneTask`: :func:`fit_metrics` of the model being trained, drawn as
    the loaded run will draw (with its "no kind", guided), or None when ``check.samples`` is 0 (the run
    keeps its lowest valid loss: :func:`train_tune` says when)."""
    if not check.samples:
        return None
    train = parts["train"]
    known = frozenset(music_of(t.text) for t in train)
    by_kind, counts = kind_meters(train), meter_counts(train) if meters else {}

    def draw(model: SequenceModel) -> dict[str, float]:
        gen = TuneGenerator(model=model, vocab=vocab, kinds=kinds, meters=by_kind, config={"corpus": info},
                            step=0, meter_classes=meters, meter_counts=counts, no_kind=no_kind(data, kinds, meters))
        return fit_metrics(gen, check, known)
    return draw


def _prepare(data: DataConfig, vocab: Vocabulary | None, kinds: list[str] | None, meters: list[str] | None = None):
    if not data.data:
        raise RnnkitError("give --data FOLDER (or FILE.abc) of ABC tunes")
    parts = split_tunes(read_tunes(data.data), data)
    train = parts["train"]
    vocab = vocab or Vocabulary.build_chars(END + "".join(t.text for t in train))
    kinds = kinds or sorted({t.kind for t in train})
    meters = (meters or meter_classes(train)) if data.meter else None
    digest = hashlib.sha256("\0".join(f"{t.kind}\0{t.text}" for t in train).encode("utf-8")).hexdigest()[:16]
    counts = {k: sum(t.kind == k for t in train) for k in kinds}
    info = {"tunes": {p: len(v) for p, v in parts.items()}, "train_sha256": digest, "train_tunes_by_kind": counts,
            "train_chars": sum(len(t.text) for t in train), "chars": len(vocab),
            "repeats_by_kind": kind_repeats(counts) if data.balance else {k: 1 for k in kinds}}
    log.info("%s: %d tunes to train on (%s), %d valid, %d test; %d characters", data.data, len(train),
             ", ".join(f"{k} {n}" + (f" read x{r}" if r > 1 else "") for (k, n), r in
                       zip(counts.items(), info["repeats_by_kind"].values())),
             len(parts["valid"]), len(parts["test"]), len(vocab))
    return vocab, kinds, meters, parts, info


def _describe(data: DataConfig, kinds: list[str], meters: list[str] | None, model_cfg: ModelConfig) -> str:
    """What a new run conditions on and reads, for its first log line."""
    said = "unconditioned"
    if data.condition:
        said = f"conditioned on {len(kinds)} kinds" + (f" and {len(meters) - 1} meters" if meters else "") + (
            f" ({data.condition_dropout:.0%} of the tunes read as of no kind, for guidance)" if data.condition_dropout else "")
    if model_cfg.step_classes:
        said += ", reading each character's place in the bar"
        said += " and the bars closed so far" if model_cfg.step_counts else ""
        said += " in the tune and in its part" if model_cfg.step_sections else ""
    return said


def train_tune(out: str, data: DataConfig, model_overrides: dict[str, Any] | None = None,
               train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None,
               check: FitCheck = FitCheck(), guide: GuidanceChoice = GuidanceChoice()) -> dict[str, float]:
    """Train a new tune generator into the run folder ``out``; returns the final valid metrics.
    ``check``: how the weights to keep are chosen (:class:`FitCheck`, which sets ``train.select``):
    by valid loss when it draws no tunes (the default), for an unconditioned run (the plain model
    to compare with), and when no kind has ``check.min_tunes`` training tunes. ``guide``: how each
    kind's guidance scale is chosen once trained (:func:`save_guidance`)."""
    if not 0 <= data.condition_dropout < 1:
        raise RnnkitError(f"condition_dropout is the share of tunes read as of no kind: in [0, 1), got {data.condition_dropout}")
    runtime = new_run(out, train)
    if not data.condition:
        data = replace(data, meter=False, condition_dropout=0.0)  # conditions beside (and instead of) the kind
    vocab, kinds, meters, parts, info = _prepare(data, None, None)
    if check.samples and (not data.condition or max(info["train_tunes_by_kind"].values()) < check.min_tunes):
        log.info("tune: keeping the lowest valid loss: %s", "an unconditioned run draws no tunes by kind"
                 if not data.condition else f"no kind has {check.min_tunes} training tunes to draw for")
        check = replace(check, samples=0)
    train = replace(train, **(BY_FIT if check.samples else BY_LOSS))
    settings = {**DEFAULT_MODEL, **(model_overrides or {})}
    if not data.condition:
        settings["condition_input"] = False
    classes = len(kinds) + len(meters or []) + (no_kind(data, kinds, meters) is not None) if data.condition else 0
    model_cfg = ModelConfig(vocab_size=len(vocab), num_outputs=len(vocab), num_conditions=classes, **settings).validate()
    model = build_model(model_cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "vocab.json"), {
        "chars": vocab.to_json(), "kinds": kinds, "meters": kind_meters(parts["train"]),
        **({"meter_classes": meters, "meter_counts": meter_counts(parts["train"])} if meters else {})})
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(model_cfg), "train": to_dict(train), "data": to_dict(data), "corpus": info,
        "select": to_dict(check), "guidance": to_dict(guide),
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("tune: %s, %.2fM parameters, %s %s", _describe(data, kinds, meters, model_cfg),
             model.num_parameters() / 1e6, runtime.device, runtime.precision)
    draw = fit_drawer(check, vocab, kinds, meters, parts, info, data)
    task = tune_task(parts, vocab, kinds, meters, info, train, draw, bar_places(model_cfg), data)
    result = Trainer(model, task, train, runtime, out).run(stop_after=stop_after)
    save_guidance(out, guide, parts["train"], train.device)
    return result


def read_tune_vocab(run_dir: str) -> tuple[Vocabulary, list[str], dict[str, list[str]]]:
    data = read_json(os.path.join(run_dir, "vocab.json"), "vocabulary")
    try:
        return Vocabulary.from_json(data["chars"]), list(data["kinds"]), dict(data["meters"])
    except (KeyError, TypeError):
        raise RnnkitError(f"{run_dir}/vocab.json is not a tune vocabulary") from None


def read_meter_classes(run_dir: str) -> tuple[list[str] | None, dict[str, dict[str, int]]]:
    """The run's meter classes (None: trained without the meter) and its kinds' meter counts."""
    data = read_json(os.path.join(run_dir, "vocab.json"), "vocabulary")
    if "meter_classes" not in data:
        return None, {}
    try:
        return list(data["meter_classes"]), {k: dict(v) for k, v in data["meter_counts"].items()}
    except (KeyError, TypeError, AttributeError):
        raise RnnkitError(f"{run_dir}/vocab.json is not a tune vocabulary") from None


# What a run made before a DataConfig field existed was trained with (its config.json lacks the key).
BEFORE_FIELDS = {"balance": False, "condition_dropout": 0.0}


def run_data(config: dict[str, Any]) -> DataConfig:
    """The DataConfig of a run's config.json; keys it lacks (written before they existed) are read as
    those runs were trained (:data:`BEFORE_FIELDS`), not as today's defaults."""
    return from_dict(DataConfig, {**BEFORE_FIELDS, **config["data"]})


def resume_tune(out: str, model_overrides: dict[str, Any] | None = None,
                train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the tune run in ``out`` exactly where its last checkpoint stopped."""
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    data = run_data(config)
    vocab, kinds, _ = read_tune_vocab(out)
    meters, _ = read_meter_classes(out)
    _, _, _, parts, info = _prepare(data, vocab, kinds, meters)
    check = from_dict(FitCheck, config.get("select", {"samples": 0}))  # runs made before it: by valid loss
    draw = fit_drawer(check, vocab, kinds, meters, parts, info, data)
    task = tune_task(parts, vocab, kinds, meters, info, train, draw, bar_places(model_cfg), data)
    result = resume_run(out, config, train, build_model(model_cfg), task, changed_digest(info, config, data.data), stop_after)
    # Runs made before the choice: every kind at one scale, as they sampled.
    save_guidance(out, guidance_choice(config.get("guidance", {"samples": 0})), parts["train"], train.device)
    return result


# -- the predictor (tune_generator.TuneGenerator) ------------------------------------------
def load(run_dir: str, device: str = "cpu") -> TuneGenerator:
    """The kept weights of a tune run folder (its best ``valid_fit``, or lowest valid nats/char), for generation."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device)
    vocab, kinds, meters = read_tune_vocab(run_dir)
    classes, counts = read_meter_classes(run_dir)
    none = no_kind(run_data(config), kinds, classes)
    scales, temperature = read_guidance(run_dir, kinds) if none is not None else ({}, None)
    return TuneGenerator(model=model, vocab=vocab, kinds=kinds, meters=meters, config=config, step=step,
                         meter_classes=classes, meter_counts=counts, no_kind=none, kind_guidance=scales,
                         **({"default_temperature": temperature} if temperature is not None else {}))


def held_out(run_dir: str, split: str) -> list[Tune]:
    """The run's own train, valid or test tunes."""
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    data = run_data(config)
    return split_tunes(read_tunes(data.data), data)[split]
