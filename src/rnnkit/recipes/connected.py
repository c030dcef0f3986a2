"""Connected digits: a bidirectional LSTM reads an utterance of 1-7 spoken digits and emits them in
order, without being told when each was spoken (order-synchronous, time-asynchronous).

Training utterances are joined from single-digit recordings (:mod:`rnnkit.data.connected_digits`:
short pauses between digits, white noise at ``snr_db``), so every digit's span is known. Two
divergences (``--divergence``):

* ``aligned``: every frame's target is the digit being spoken, or a pause class between digits
  (output 0); decoded by merging repeated frames and dropping the pauses. Merging alone cannot
  tell "3 3" spoken without a pause from one long "3" (the lecture's problem; the pause class only
  helps where there is a pause to hear).
* ``ctc``: only the digit sequence is the target; output 0 is CTC's blank. Decoded greedily (best
  path, collapsed), by prefix beam search, or by dictionary-constrained search that accepts only
  the ten digit words.

Units (``--units``): the ten ``digits``, or the ``phonemes`` of their words (ARPAbet, CMU
Pronouncing Dictionary; CTC only: the phonemes' times within a word are not known). A phoneme
model's digits come from the dictionary-constrained search.

Frames: log-mels as in the digits recipe (normalised with the training frames' statistics,
saved in ``normalizer.json``), ``stack`` consecutive frames side by side so the network steps
every 30 ms. A recording to transcribe is trimmed of its leading and trailing silence as the
training recordings were; reported times are in the original file.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Sequence

import numpy as np
import torch

from ..configs import from_dict, to_dict
from ..data.audio import read_audio, trim_silence
from ..data.batching import Batch, SequenceBatches
from ..data.connected_digits import Utterance, build_utterances, frame_digits
from ..data.digit_units import digit_pronunciations, phoneme_units
from ..data.features import FeatureConfig, Normalizer, compute_features, stack_frames
from ..data.spoken_digits import find_recordings, split_recordings
from ..decoding.greedy import ctc_collapse
from ..decoding.scoring import edit_distance
from ..errors import RnnkitError
from ..losses.aligned import aligned_xent
from ..losses.base import LossResult
from ..losses.ctc import ctc_loss
from ..models.model import ModelConfig, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import load_run_model, new_run, resume_run
# The command line (options, evaluate, transcribe) and the predictor live beside this module.
from .connected_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .connected_cli import resume_from_args, train_from_args  # noqa: F401
from .transcriber import BLANK, Transcriber, frames_of, step_geometry

log = logging.getLogger(__name__)
TASK = "connected"
UNITS = ("digits", "phonemes")
DIVERGENCES = ("ctc", "aligned")


@dataclass(frozen=True)
class ConnectedConfig:
    """The recordings, how utterances are built from them, the units and the divergence."""

    data: str = ""
    units: str = "digits"  # or phonemes
    divergence: str = "ctc"  # or aligned
    features: str = "logmel"  # or mfcc
    stack: int = 3  # frames side by side: the network steps every stack * 10 ms
    trim_db: float = 40.0
    train_utterances: int = 8000
    dev_utterances: int = 400
    test_utterances: int = 1000
    max_digits: int = 7
    pause_min: float = 0.0  # seconds of pause before, between and after the digits (0: back to back)
    pause_max: float = 0.25
    snr_db: float | None = 30.0  # white noise this far below the speech (None: none)
    seed: int = 0  # utterances: train from seed, dev from seed + 1, test from seed + 2

    def validate(self) -> "ConnectedConfig":
        if self.units not in UNITS:
            raise RnnkitError(f"units must be one of {', '.join(UNITS)}, got {self.units!r}")
        if self.divergence not in DIVERGENCES:
            raise RnnkitError(f"divergence must be one of {', '.join(DIVERGENCES)}, got {self.divergence!r}")
        if self.divergence == "aligned" and self.units == "phonemes":
            raise RnnkitError("the aligned divergence needs digit units: the phonemes' times within a word are unknown")
        if self.stack < 1 or self.max_digits < 1 or min(self.train_utterances, self.dev_utterances) < 0:
            raise RnnkitError("stack, max digits and utterance counts must be positive")
        if not 0 <= self.pause_min <= self.pause_max:
            raise RnnkitError(f"pauses must be 0 <= min <= max seconds, got {self.pause_min} and {self.pause_max}")
        FeatureConfig(kind=self.features).validate()
        return self


# A 2x128 bidirectional LSTM over 3 stacked log-mel frames; Adam 3e-3 on batches of 32; the dev
# error rate (greedy) every 20 s, the best kept; at most 6,000 steps (the CLI's default stop is 300 s).
DEFAULT_MODEL = dict(cell="lstm", embedding_dim=128, hidden_size=128, num_layers=2, bidirectional=True, dropout=0.2)
DEFAULT_TRAIN = TrainConfig(batch_size=32, lr=3e-3, weight_decay=0.0, clip_norm=5.0, warmup_steps=100, max_steps=6000,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=20.0, checkpoint_interval=60.0,
                            select="valid_error_rate", select_mode="min", patience=10)


# -- units --------------------------------------------------------------------------------------
def output_symbols(cfg: ConnectedConfig, prons: dict[int, tuple[str, ...]] | None) -> tuple[str, ...]:
    """Names of the outputs: ``_`` (blank or pause), then the digits or the phonemes."""
    units = tuple(str(d) for d in range(10)) if cfg.units == "digits" else phoneme_units(prons)
    return ("_",) + units


def unit_targets(digits: Sequence[int], symbols: Sequence[str], prons: dict[int, tuple[str, ...]] | None) -> list[int]:
    """Output ids of a digit sequence: one per digit, or its word's phonemes."""
    index = {s: i for i, s in enumerate(symbols)}
    return [index[str(d)] for d in digits] if prons is None else [index[p] for d in digits for p in prons[d]]


# -- features and examples ----------------------------------------------------------------------
def example(utt: Utterance, feats: torch.Tensor, cfg: ConnectedConfig, features: FeatureConfig,
            symbols: Sequence[str], prons) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets): frame labels for ``aligned`` (digit + 1, pause 0), unit ids for ``ctc``."""
    if cfg.divergence == "aligned":
        hop, window = step_geometry(features, cfg.stack)
        return feats, torch.from_numpy(frame_digits(utt, hop, window, len(feats)) + 1)
    return feats, torch.tensor(unit_targets(utt.digits, symbols, prons), dtype=torch.long)


def trimmed_recordings(cfg: ConnectedConfig, features: FeatureConfig) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Each split's recordings, read at the feature rate and trimmed of silence, with their digits."""
    parts = split_recordings(find_recordings(cfg.data))
    return {split: [(trim_silence(read_audio(r.path, features.rate), features.rate, cfg.trim_db, name=r.path), r.digit)
                    for r in recs] for split, recs in parts.items()}


def utterances(recordings: list, count: int, seed: int, cfg: ConnectedConfig, rate: int,
               pause: tuple[float, float] | None = None) -> list[Utterance]:
    return build_utterances(recordings, count, seed, rate, digits=(1, cfg.max_digits),
                            pause=pause or (cfg.pause_min, cfg.pause_max), snr_db=cfg.snr_db)


def _prepare(cfg: ConnectedConfig, features: FeatureConfig, norm: Normalizer | None, symbols, prons):
    recs = trimmed_recordings(cfg, features)
    if not recs["train"]:
        raise RnnkitError(f"{cfg.data}: no training recordings (index 10 and up)")
    train = utterances(recs["train"], cfg.train_utterances, cfg.seed, cfg, features.rate)
    dev = utterances(recs["dev"], cfg.dev_utterances, cfg.seed + 1, cfg, features.rate) if recs["dev"] else []
    raw = [compute_features(torch.from_numpy(u.samples), features) for u in train]
    norm = norm or Normalizer.fit(raw)
    train_ex = [example(u, stack_frames(norm(f), cfg.stack), cfg, features, symbols, prons) for u, f in zip(train, raw)]
    dev_ex = [(*example(u, frames_of(u.samples, features, norm, cfg.stack), cfg, features, symbols, prons),
               unit_targets(u.digits, symbols, prons)) for u in dev]      # with the true units: the reference
    info = {"recordings": {k: len(v) for k, v in recs.items()}, "train_digits": sum(len(u.spans) for u in train)}
    log.info("%s: %d train utterances (%d digits) from %d recordings, %d dev", cfg.data, len(train),
             info["train_digits"], len(recs["train"]), len(dev))
    return train_ex, dev_ex or None, norm, info


# -- the task -----------------------------------------------------------------------------------
def divergence(logits: torch.Tensor, batch: Batch, kind: str) -> LossResult:
    if kind == "aligned":
        return aligned_xent(logits, batch.targets, batch.lengths)
    return ctc_loss(logits, batch.targets, batch.lengths, batch.target_lengths, blank=BLANK, count_by="targets")


def greedy_error_rate(logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
    """(edit errors, reference units) of greedy decoding (argmax, repeats merged, output 0 dropped)
    against each example's true unit sequence (``batch.references``)."""
    best = logits.argmax(-1).cpu()
    errors = sum(edit_distance(ref, ctc_collapse(best[b, :n].tolist(), BLANK))
                 for b, (ref, n) in enumerate(zip(batch.references, batch.lengths.tolist())))
    return float(errors), float(sum(map(len, batch.references)))


def make_task(train: list, dev: list | None, cfg: ConnectedConfig, tcfg: TrainConfig) -> SequenceTask:
    """Dev examples carry their unit sequences, the reference of the dev error rate."""
    valid = SequenceBatches(dev, 64, shuffle=False) if dev else None
    return SequenceTask(SequenceBatches(train, tcfg.batch_size, tcfg.seed, bucket=20), valid,
                        partial(divergence, kind=cfg.divergence), unit="utterance",
                        metrics={"valid_error_rate": greedy_error_rate})


def _pronunciations(cfg: ConnectedConfig) -> dict[int, tuple[str, ...]] | None:
    return digit_pronunciations() if cfg.units == "phonemes" else None


def train_connected(out: str, cfg: ConnectedConfig, model_overrides: dict[str, Any] | None = None,
                    train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new connected-digit recogniser into the run folder ``out``; returns the final dev metrics."""
    cfg = replace(cfg.validate(), data=os.path.abspath(cfg.data))  # evaluate and resume work from any folder
    runtime = new_run(out, train)
    features = FeatureConfig(kind=cfg.features).validate()
    prons = _pronunciations(cfg)
    symbols = output_symbols(cfg, prons)
    train_ex, dev_ex, norm, info = _prepare(cfg, features, None, symbols, prons)
    if dev_ex is None:
        train = replace(train, select=None, patience=None)
    model_cfg = ModelConfig(num_outputs=len(symbols), input_size=features.size * cfg.stack,
                            **{**DEFAULT_MODEL, **(model_overrides or {})}).validate()
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "normalizer.json"), norm.to_json())
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(model_cfg), "train": to_dict(train), "connected": to_dict(cfg),
        "features": to_dict(features), "symbols": list(symbols),
        "pronunciations": {str(d): list(p) for d, p in (prons or {}).items()}, "data": info,
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    task = make_task(train_ex, dev_ex, cfg, train)
    return Trainer(build_model(model_cfg), task, train, runtime, out).run(stop_after=stop_after)


def resume_connected(out: str, model_overrides: dict[str, Any] | None = None,
                     train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped (same utterances)."""
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    cfg = from_dict(ConnectedConfig, config["connected"])
    norm = Normalizer.from_json(read_json(os.path.join(out, "normalizer.json"), "feature statistics"))
    prons = {int(d): tuple(p) for d, p in config["pronunciations"].items()} or None
    features = from_dict(FeatureConfig, config["features"])
    train_ex, dev_ex, _, info = _prepare(cfg, features, norm, tuple(config["symbols"]), prons)
    changed = None if info == config["data"] else (
        f"the recordings under {cfg.data} changed since the run began ({config['data']} then, {info} now)")
    task = make_task(train_ex, dev_ex, cfg, train)
    return resume_run(out, config, train, build_model(model_cfg), task, changed, stop_after)


def load(run_dir: str, device: str = "cpu") -> Transcriber:
    """A connected-digits run folder for inference: the weights with the best dev error rate."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device)
    norm = Normalizer.from_json(read_json(os.path.join(run_dir, "normalizer.json"), "feature statistics"))
    cfg = from_dict(ConnectedConfig, config["connected"])
    prons = {int(d): tuple(p) for d, p in config["pronunciations"].items()} or None
    return Transcriber(model, from_dict(FeatureConfig, config["features"]), norm, cfg.stack, cfg.trim_db,
                       cfg.divergence, tuple(config["symbols"]), prons, config, step)
