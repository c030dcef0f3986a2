"""Spoken digits: an LSTM reads the log-mel frames of a recording and names the digit (many-to-one).

The lecture's many-to-one case: one label for a whole sequence. Two divergences on the same
model (``--divergence``): ``last``, the cross-entropy of the output at the final frame only, and
``all``, the cross-entropy of every frame's output against the label, weighted 1/T (uniform w_t:
every frame is pushed to name the digit as soon as it can). Either way the prediction is the
output at the final frame, which has heard the whole recording.

Data: a folder of ``{digit}_{speaker}_{index}.wav`` recordings (:mod:`rnnkit.data.spoken_digits`
for the splits); each is read as 8 kHz mono, trimmed of silence, turned into features
(:mod:`rnnkit.data.features`) and normalised with the training frames' mean and deviation, which
are saved in the run folder (``normalizer.json``) and used the same way by ``classify``.
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
from ..data.batching import Batch, SequenceBatches, pad_sequences
from ..data.features import FeatureConfig, Normalizer, compute_features
from ..data.spoken_digits import Recording, find_recordings, split_recordings
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.many_to_one import last_step_logits, many_to_one_xent
from ..models.model import ModelConfig, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import load_run_model, new_run, resume_run
# The command-line half of this recipe (options, evaluate, classify) lives in digits_cli.
from .digits_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .digits_cli import resume_from_args, train_from_args  # noqa: F401

log = logging.getLogger(__name__)
TASK = "digits"
DIVERGENCES = {"last": "last", "all": "uniform"}  # --divergence -> many_to_one_xent's weights


@dataclass(frozen=True)
class DigitsConfig:
    """The recordings, how they become frames, and the divergence."""

    data: str = ""
    test_speaker: str | None = None  # leave this speaker out: train on the others, test on them
    features: str = "logmel"  # or mfcc
    trim_db: float = 40.0  # silence trimming: frames this far below the loudest are silence
    divergence: str = "last"  # or all

    def validate(self) -> "DigitsConfig":
        if self.divergence not in DIVERGENCES:
            raise RnnkitError(f"divergence must be one of {', '.join(DIVERGENCES)}, got {self.divergence!r}")
        FeatureConfig(kind=self.features).validate()
        return self


# One small LSTM over 40 log-mels; Adam 3e-3 on batches of 32; a dev evaluation every 10 s and
# the best dev accuracy kept; at most 3,000 steps (about 5 minutes on 2 CPU cores; from the command
# line a run without --max-steps or --time-budget also stops at 300 s, as every task does).
DEFAULT_MODEL = dict(cell="lstm", embedding_dim=64, hidden_size=128, num_layers=2, dropout=0.2)
DEFAULT_TRAIN = TrainConfig(batch_size=32, lr=3e-3, weight_decay=0.0, clip_norm=5.0, warmup_steps=50, max_steps=3000,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=10.0, checkpoint_interval=60.0,
                            select="valid_accuracy", select_mode="max", patience=12)


# -- features -----------------------------------------------------------------------------------
def utterance_features(samples: np.ndarray, features: FeatureConfig, trim_db: float, name: str) -> torch.Tensor:
    """Frames [T, F] of one recording: trimmed of silence, then features (not yet normalised)."""
    speech = trim_silence(samples, features.rate, trim_db, name=name)
    try:
        return compute_features(torch.from_numpy(np.ascontiguousarray(speech)), features)
    except RnnkitError as exc:
        raise RnnkitError(f"{name}: {exc}") from None


def recording_features(recs: Sequence[Recording], features: FeatureConfig, trim_db: float) -> list[torch.Tensor]:
    return [utterance_features(read_audio(r.path, features.rate), features, trim_db, r.path) for r in recs]


# -- the task -----------------------------------------------------------------------------------
def accuracy(logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
    """(correct, count) of the final frame's argmax."""
    return float((last_step_logits(logits, batch.lengths).argmax(-1) == batch.targets).sum()), float(len(batch.targets))


def divergence(logits: torch.Tensor, batch: Batch, weights: str) -> LossResult:
    return many_to_one_xent(logits, batch.targets, batch.lengths, weights)


def _examples(feats: list[torch.Tensor], recs: Sequence[Recording], norm: Normalizer) -> list:
    return [(norm(f), torch.tensor(r.digit)) for f, r in zip(feats, recs)]


def _prepare(cfg: DigitsConfig, features: FeatureConfig, norm: Normalizer | None):
    parts = split_recordings(find_recordings(cfg.data), cfg.test_speaker)
    if not parts["train"]:
        raise RnnkitError(f"{cfg.data}: no training recordings (index 10 and up, or other speakers')")
    train_feats = recording_features(parts["train"], features, cfg.trim_db)
    dev_feats = recording_features(parts["dev"], features, cfg.trim_db)
    norm = norm or Normalizer.fit(train_feats)
    info = {k: len(v) for k, v in parts.items()}
    log.info("%s: %d train, %d dev, %d test recordings; %d frames of %d %s features in training", cfg.data,
             info["train"], info["dev"], info["test"], sum(len(f) for f in train_feats), features.size, features.kind)
    return (_examples(train_feats, parts["train"], norm), _examples(dev_feats, parts["dev"], norm) or None,
            norm, info)


def make_task(train: list, dev: list | None, cfg: DigitsConfig, tcfg: TrainConfig) -> SequenceTask:
    valid = SequenceBatches(dev, 64, shuffle=False) if dev else None
    return SequenceTask(SequenceBatches(train, tcfg.batch_size, tcfg.seed), valid,
                        partial(divergence, weights=DIVERGENCES[cfg.divergence]), unit="utterance",
                        metrics={"valid_accuracy": accuracy})


def train_digits(out: str, cfg: DigitsConfig, model_overrides: dict[str, Any] | None = None,
                 train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new digit classifier into the run folder ``out``; returns the final dev metrics."""
    cfg = replace(cfg.validate(), data=os.path.abspath(cfg.data))  # evaluate and resume work from any folder
    runtime = new_run(out, train)
    features = FeatureConfig(kind=cfg.features).validate()
    train_examples, dev_examples, norm, info = _prepare(cfg, features, None)
    if dev_examples is None:
        train = replace(train, select=None, patience=None)
    model_cfg = ModelConfig(num_outputs=10, input_size=features.size,
                            **{**DEFAULT_MODEL, **(model_overrides or {})}).validate()
    model = build_model(model_cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "normalizer.json"), norm.to_json())
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(model_cfg), "train": to_dict(train), "digits": to_dict(cfg),
        "features": to_dict(features), "recordings": info,
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    task = make_task(train_examples, dev_examples, cfg, train)
    return Trainer(model, task, train, runtime, out).run(stop_after=stop_after)


def resume_digits(out: str, model_overrides: dict[str, Any] | None = None,
                  train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped."""
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    cfg = from_dict(DigitsConfig, config["digits"])
    norm = Normalizer.from_json(read_json(os.path.join(out, "normalizer.json"), "feature statistics"))
    train_examples, dev_examples, _, info = _prepare(cfg, from_dict(FeatureConfig, config["features"]), norm)
    changed = None if info == config["recordings"] else (
        f"the recordings under {cfg.data} changed since the run began ({config['recordings']} then, {info} now)")
    task = make_task(train_examples, dev_examples, cfg, train)
    return resume_run(out, config, train, build_model(model_cfg), task, changed, stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass
class DigitClassifier:
    """A trained spoken-digit classifier (what ``rnnkit.load`` returns for a digits run)."""

    model: torch.nn.Module
    features: FeatureConfig
    normalizer: Normalizer
    trim_db: float
    config: dict[str, Any]
    step: int

    def frames(self, audio: str | np.ndarray, name: str = "recording") -> torch.Tensor:
        """Normalised frames [T, F] of a file (any rate, mono or not) or of samples at the model's rate."""
        if isinstance(audio, str):
            name, audio = audio, read_audio(audio, self.features.rate)
        return self.normalizer(utterance_features(np.asarray(audio, dtype=np.float32), self.features,
                                                  self.trim_db, name))

    def probabilities(self, recordings: Sequence[str | np.ndarray]) -> torch.Tensor:
        """[N, 10]: each recording's digit probabilities, from the output at its final frame."""
        device = next(self.model.parameters()).device
        inputs, lengths = pad_sequences([self.frames(r, f"recording {i + 1}") for i, r in enumerate(recordings)])
        self.model.eval()
        with torch.no_grad():
            logits, _ = self.model(inputs.to(device), lengths)
        return last_step_logits(logits, lengths.to(device)).float().softmax(-1).cpu()

    def classify(self, recordings: Sequence[str | np.ndarray]) -> list[tuple[int, float]]:
        """(digit, probability) of each recording: a path, or float samples at 8 kHz."""
        if isinstance(recordings, (str, np.ndarray)):
            raise RnnkitError("classify takes a list of recordings (paths or sample arrays)")
        if not recordings:
            return []
        p, k = self.probabilities(recordings).max(-1)
        return list(zip(k.tolist(), p.tolist()))


def load(run_dir: str, device: str = "cpu") -> DigitClassifier:
    """A digits run folder for inference: the weights with the best dev accuracy (or the latest)."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device)
    norm = Normalizer.from_json(read_json(os.path.join(run_dir, "normalizer.json"), "feature statistics"))
    cfg = from_dict(DigitsConfig, config["digits"])
    return DigitClassifier(model, from_dict(FeatureConfig, config["features"]), norm, cfg.trim_db, config, step)
