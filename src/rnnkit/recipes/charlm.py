"""Character-level language model: read a corpus, train an LSTM on next-character prediction.

The divergence is the lecture's Xent = -sum_t log Y(t, w_{t+1}) over contiguous BPTT segments
with carried state; evaluation reports nats and bits per character on held-out text.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..configs import from_dict, to_dict
from ..data.batching import Batch, EpochStreams, StreamBatcher
from ..data.corpus import read_corpus
from ..data.vocab import Vocabulary
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from ..models.model import ModelConfig, build_model
from ..training.checkpoint import atomic_write_json, load_checkpoint, read_json
from ..training.runtime import Runtime, resolve_runtime, seed_everything
from ..training.trainer import TrainConfig, Trainer

log = logging.getLogger(__name__)
TASK = "charlm"


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split."""

    corpus: str = "python"
    include: str | None = None
    max_chars: int | None = None
    valid_fraction: float = 0.1
    max_vocab: int | None = 256
    max_valid_chars: int = 250_000  # validation scores the first this-many characters of the held-out part


# Defaults tuned on Tiny Shakespeare for a 2-core CPU (see benchmarks/charlm_speed_quality.py).
# Dropout 0.2, which the trainer's schedule (TrainConfig.dropout_from/ramp) turns on only after 3
# passes over the training text: short runs are under-fitted and lose by it, long ones over-fit without it.
DEFAULT_MODEL = dict(embedding_dim=128, hidden_size=512, num_layers=2, cell="lstm", dropout=0.2)
DEFAULT_TRAIN = TrainConfig()
# What a resumed run may set anew: when to stop, how to report, where to run.
RESUME_MAY_CHANGE = {"time_budget", "max_steps", "eval_interval", "checkpoint_interval", "log_interval",
                     "progress", "device", "precision"}


def stream_loss(model: nn.Module, ids: torch.Tensor, runtime: Runtime, batch_size: int = 16,
                bptt: int = 256) -> LossResult:
    """Summed next-symbol cross-entropy of ``ids`` read as ``batch_size`` contiguous streams.

    Each stream starts from zero state, so its first characters lack context: with few long
    streams that costs little. The model must be in eval mode (the caller's choice).
    """
    batch_size = max(1, min(batch_size, (ids.numel() - 1) // max(bptt, 1) or 1))
    batcher = StreamBatcher(ids, batch_size, bptt)
    total, count, state = torch.zeros((), dtype=torch.float64), 0, None
    with torch.no_grad():
        for batch in batcher:
            batch = batch.to(runtime.device)
            with runtime.autocast():
                logits, state = model(batch.inputs, None, state)
            r = time_synchronous_xent(logits, batch.targets)
            total += r.total.double().cpu()
            count += int(r.count)
    return LossResult(total, count)


class CharLMTask:
    """Next-character prediction over contiguous streams (the trainer's Task protocol)."""

    unit = "char"

    def __init__(self, train_ids: torch.Tensor, valid_ids: torch.Tensor, batch_size: int, bptt: int, seed: int):
        self.streams = EpochStreams(train_ids, batch_size, bptt, seed)
        self.valid_ids = valid_ids

    def next_batch(self) -> Batch:
        return self.streams.next_batch()

    def position(self) -> dict[str, int]:
        return self.streams.position()

    def seek(self, position: dict[str, int]) -> None:
        self.streams.seek(position)

    def passes(self) -> float:
        return self.streams.passes()

    def divergence(self, logits: torch.Tensor, batch: Batch) -> LossResult:
        return time_synchronous_xent(logits, batch.targets)

    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]:
        if self.valid_ids.numel() < 2:
            return {}
        r = stream_loss(model, self.valid_ids, runtime)
        nats = float(r.total) / max(int(r.count), 1)
        return {"valid_loss": nats, "valid_bpc": nats / math.log(2)}


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def _prepare(data: DataConfig, vocab: Vocabulary | None) -> tuple[Vocabulary, torch.Tensor, torch.Tensor, dict[str, Any]]:
    corpus = read_corpus(data.corpus, data.include, data.max_chars)
    train_text, valid_text = corpus.split(data.valid_fraction)
    if len(train_text) < 2:
        raise RnnkitError(f"corpus {data.corpus} is too short to train on ({len(corpus.text)} characters)")
    vocab = vocab or Vocabulary.build_chars(train_text, max_size=data.max_vocab)
    train_ids, unk_train = vocab.encode_counting(train_text)
    valid_ids, unk_valid = vocab.encode_counting(valid_text[: data.max_valid_chars])
    s = corpus.stats
    info = {"train_chars": len(train_text), "valid_chars": len(valid_text), "files": s.files,
            "skipped_binary": s.skipped_binary, "replaced_invalid_utf8": s.replaced_chars,
            "unknown_train_chars": unk_train, "unknown_valid_chars": unk_valid,
            "truncated": s.truncated, "train_sha256": _text_digest(train_text)}
    log.info("corpus %s: %d files, %d train / %d validation characters, vocabulary %d",
             data.corpus, s.files, len(train_text), len(valid_text), len(vocab))
    return vocab, torch.from_numpy(train_ids), torch.from_numpy(valid_ids), info


def train_charlm(out: str, data: DataConfig = DataConfig(), model_overrides: dict[str, Any] | None = None,
                 train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new character LM into the run folder ``out``; returns the final validation metrics."""
    train.validate()
    if os.path.exists(os.path.join(out, "checkpoint.json")):
        raise RnnkitError(f"{out} already holds a run: continue it with --resume {out}, or pick another --out")
    runtime = resolve_runtime(train.device, train.precision)
    seed_everything(train.seed)
    vocab, train_ids, valid_ids, info = _prepare(data, None)
    model_cfg = ModelConfig(num_outputs=len(vocab), vocab_size=len(vocab),
                            **{**DEFAULT_MODEL, **(model_overrides or {})}).validate()
    model = build_model(model_cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "vocab.json"), vocab.to_json())
    atomic_write_json(os.path.join(out, "config.json"), {"task": TASK, "model": to_dict(model_cfg), "train": to_dict(train),
                                                         "data": to_dict(data), "corpus": info,
                                                         "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("model: %s, %.2fM parameters, %s %s", model_cfg.cell, model.num_parameters() / 1e6, runtime.device, runtime.precision)
    task = CharLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed)
    return Trainer(model, task, train, runtime, out).run(stop_after=stop_after)


def resume_charlm(out: str, model_overrides: dict[str, Any] | None = None, train_overrides: dict[str, Any] | None = None,
                  stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped.

    ``train_overrides`` may change when to stop (``time_budget``, ``max_steps``, totals for the
    whole run) and reporting; the model shape may not change.
    """
    config = read_json(os.path.join(out, "config.json"), "run configuration") if os.path.isdir(out) else None
    if config is None:
        raise RnnkitError(f"run folder not found: {out}")
    if config.get("task") != TASK:
        raise RnnkitError(f"{out} is a {config.get('task')!r} run, not a {TASK} run")
    model_cfg = from_dict(ModelConfig, config["model"])
    changed = {k: v for k, v in (model_overrides or {}).items() if v is not None and getattr(model_cfg, k) != v}
    if changed:
        k, v = next(iter(changed.items()))
        raise RnnkitError(f"--resume cannot change the model shape: the run has {k}={getattr(model_cfg, k)}, {v} was given")
    fixed = sorted(set(train_overrides or {}) - RESUME_MAY_CHANGE)
    if fixed:
        raise RnnkitError(f"--resume cannot change {fixed[0].replace('_', '-')}: it would not continue the same run")
    train = replace(from_dict(TrainConfig, config["train"]), **(train_overrides or {})).validate()
    data = from_dict(DataConfig, config["data"])
    vocab = Vocabulary.from_json(read_json(os.path.join(out, "vocab.json"), "vocabulary"))
    ckpt = load_checkpoint(out)
    runtime = resolve_runtime(train.device, train.precision)
    _, train_ids, valid_ids, info = _prepare(data, vocab)
    if info["train_sha256"] != config.get("corpus", {}).get("train_sha256"):
        raise RnnkitError(f"the corpus {data.corpus} changed since this run started; resume needs the same text")
    config["train"] = to_dict(train)
    atomic_write_json(os.path.join(out, "config.json"), config)
    model = build_model(model_cfg)
    task = CharLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed)
    return Trainer(model, task, train, runtime, out, resume=ckpt).run(stop_after=stop_after)
