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
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..configs import from_dict, to_dict
from ..data.corpus import read_corpus
from ..data.documents import END, join_documents, split_documents
from ..data.prepared import open_prepared
from ..data.vocab import Vocabulary
from ..decoding.sampling import sample as _sample, stream as _stream
from ..errors import RnnkitError
from ..models.model import ModelConfig, SequenceModel, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.runtime import Runtime, resolve_runtime
from ..training.streams import StreamTask, stream_loss
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run

from .charlm_cli import COMMANDS, add_evaluate_arguments, add_sample_arguments, add_train_arguments  # noqa: F401
from .charlm_cli import evaluate_from_args, print_samples, resume_from_args, train_from_args  # noqa: F401

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
    # A corpus of documents (data/documents.py): a line matching this pattern starts one; the
    # documents are split by a seeded shuffle (valid_fraction, test_fraction) instead of the tail.
    documents: str | None = None
    test_fraction: float = 0.0
    split_seed: int = 0
    # A folder written by `rnnkit prepare` (data/prepared.py): its parts, memory-mapped, instead of
    # reading `corpus` into memory; its vocabulary, and its split by file.
    prepared: str | None = None
    # Training reads shuffled blocks of this many BPTT segments (data/batching.BlockStreams) instead of
    # batch_size streams through the whole text; None: 64 with prepared data (a run reads a small share
    # of a corpus of gigabytes, and should read it from everywhere), 0 (whole streams) otherwise.
    block_segments: int | None = None

    @property
    def blocks(self) -> int:
        return self.block_segments if self.block_segments is not None else (64 if self.prepared else 0)


# Defaults tuned on Tiny Shakespeare for a 2-core CPU (see benchmarks/charlm_speed_quality.py).
# Dropout 0.2, which the trainer's schedule (TrainConfig.dropout_from/ramp) turns on only after 3
# passes over the training text: short runs are under-fitted and lose by it, long ones over-fit without it.
# Weight decay 0.3 and a moving average of the weights (0.999) were chosen on the validation half at
# 900 s: 1.2939 nats/char against 1.3328 for decay 0.01 without the average (README, Benchmarks).
DEFAULT_MODEL = dict(embedding_dim=128, hidden_size=512, num_layers=2, cell="lstm", dropout=0.2)
DEFAULT_TRAIN = TrainConfig(weight_decay=0.3, average=0.999)


class CharLMTask(StreamTask):
    """Next-character prediction over contiguous streams; validation in nats and bits per character."""

    unit = "char"

    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]:
        result = super().evaluate(model, runtime)
        if result:
            result["valid_bpc"] = result["valid_loss"] / math.log(2)
        return result


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def split_text(data: DataConfig, text: str) -> tuple[dict[str, str], dict[str, int]]:
    """The train, valid (and test) texts of a corpus: the tail of the text, or whole documents."""
    if not data.documents:
        if data.test_fraction:
            raise RnnkitError("--test-fraction needs --documents (a corpus split by document)")
        cut = int(len(text) * (1.0 - data.valid_fraction))
        return {"train": text[:cut], "valid": text[cut:], "test": ""}, {}
    parts = split_documents(text, data.documents, data.valid_fraction, data.test_fraction, data.split_seed)
    counts = {f"{k}_documents": len(parts[k]) for k in ("train", "valid", "test")}
    counts["chars_before_first_document"] = parts["dropped_chars"]
    return {k: join_documents(parts[k]) for k in ("train", "valid", "test")}, counts


def _open_prepared(data: DataConfig, vocab: Vocabulary | None) -> tuple[Vocabulary, np.ndarray, torch.Tensor, dict[str, Any]]:
    """The parts of prepared data: training ids memory-mapped, validation a spread sample in memory."""
    prepared = open_prepared(data.prepared)
    if vocab is not None and vocab != prepared.vocab:
        raise RnnkitError(f"the vocabulary of {data.prepared} is not this run's: it was prepared again")
    train_ids = prepared.ids("train")
    if len(train_ids) < 2:
        raise RnnkitError(f"prepared data {data.prepared} has no training text")
    valid_ids = torch.from_numpy(prepared.spread("valid", data.max_valid_chars))
    parts = prepared.manifest["parts"]
    info = {"train_chars": parts["train"]["chars"], "valid_chars": parts["valid"]["chars"],
            "test_chars": parts["test"]["chars"], "files": sum(parts[p]["files"] for p in parts),
            "train_files": parts["train"]["files"], "valid_files": parts["valid"]["files"],
            "test_files": parts["test"]["files"], "train_sha256": parts["train"]["sha256"][:16],
            "split": prepared.manifest["split"], "source": prepared.manifest["source"]}
    log.info("prepared data %s: %d train / %d validation / %d test files, %d train characters (memory-mapped), "
             "vocabulary %d", data.prepared, info["train_files"], info["valid_files"], info["test_files"],
             info["train_chars"], len(prepared.vocab))
    return prepared.vocab, train_ids, valid_ids, info


def _prepare(data: DataConfig, vocab: Vocabulary | None) -> tuple[Vocabulary, Any, torch.Tensor, dict[str, Any]]:
    if data.prepared:
        return _open_prepared(data, vocab)
    corpus = read_corpus(data.corpus, data.include, data.max_chars)
    texts, doc_counts = split_text(data, corpus.text)
    train_text, valid_text = texts["train"], texts["valid"]
    if len(train_text) < 2:
        raise RnnkitError(f"corpus {data.corpus} is too short to train on ({len(corpus.text)} characters)")
    vocab = vocab or Vocabulary.build_chars(train_text, max_size=data.max_vocab)
    train_ids, unk_train = vocab.encode_counting(train_text)
    valid_ids, unk_valid = vocab.encode_counting(valid_text[: data.max_valid_chars])
    s = corpus.stats
    info = {"train_chars": len(train_text), "valid_chars": len(valid_text), "files": s.files,
            "skipped_binary": s.skipped_binary, "replaced_invalid_utf8": s.replaced_chars,
            "unknown_train_chars": unk_train, "unknown_valid_chars": unk_valid,
            "truncated": s.truncated, "train_sha256": _text_digest(train_text), **doc_counts}
    log.info("corpus %s: %d files, %d train / %d validation characters, vocabulary %d",
             data.corpus, s.files, len(train_text), len(valid_text), len(vocab))
    if doc_counts:
        log.info("documents (lines matching %r): %d train, %d validation, %d test (seed %d)", data.documents,
                 doc_counts["train_documents"], doc_counts["valid_documents"], doc_counts["test_documents"],
                 data.split_seed)
    return vocab, torch.from_numpy(train_ids), torch.from_numpy(valid_ids), info


def train_charlm(out: str, data: DataConfig = DataConfig(), model_overrides: dict[str, Any] | None = None,
                 train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new character LM into the run folder ``out``; returns the final validation metrics."""
    runtime = new_run(out, train)
    if os.path.exists(data.corpus):  # a path (not a named corpus): absolute, so resume and --split work anywhere
        data = replace(data, corpus=os.path.abspath(data.corpus))
    if data.prepared:
        data = replace(data, prepared=os.path.abspath(data.prepared))
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
    task = CharLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed, block_segments=data.blocks)
    return Trainer(model, task, train, runtime, out).run(stop_after=stop_after)


def resume_charlm(out: str, model_overrides: dict[str, Any] | None = None, train_overrides: dict[str, Any] | None = None,
                  stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped.

    ``train_overrides`` may change when to stop (``time_budget``, ``max_steps``, totals for the
    whole run) and reporting; the model shape may not change.
    """
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    data = from_dict(DataConfig, config["data"])
    vocab = Vocabulary.from_json(read_json(os.path.join(out, "vocab.json"), "vocabulary"))
    _, train_ids, valid_ids, info = _prepare(data, vocab)
    task = CharLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed, block_segments=data.blocks)
    return resume_run(out, config, train, build_model(model_cfg), task,
                      changed_digest(info, config, data.prepared or data.corpus),
                      stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass
class LanguageModel:
    """A trained symbol-level language model with its vocabulary (what ``rnnkit.load`` returns for a charlm run)."""

    model: SequenceModel
    vocab: Vocabulary
    config: dict[str, Any]
    step: int

    @property
    def documents(self) -> bool:
        """Whether the model was trained on documents, each ended by :data:`~rnnkit.data.documents.END`."""
        return bool(self.config.get("data", {}).get("documents"))

    def sample(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, stop: str | None = None,
               precision: str = "auto", end_of_document: bool = False) -> str:
        """One continuation of ``prime`` (see :meth:`sample_many`)."""
        return self.sample_many(1, prime, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                                stop=stop, precision=precision, end_of_document=end_of_document)[0]

    def sample_many(self, num_samples: int, prime: str = "", length: int = 500, end_of_document: bool = False,
                    **kwargs: Any) -> list[str]:
        """``num_samples`` continuations drawn as one batch (see :func:`rnnkit.decoding.sampling.sample`).

        A model trained on documents reads ``prime`` as the start of a new document (after an end
        mark); ``end_of_document`` stops each sample where the model ends its document (the mark
        itself is not returned).
        """
        if end_of_document:
            if not self.documents:
                raise RnnkitError("stopping at the end of a document needs a run trained with --documents")
            kwargs["stop"] = END
        texts = _sample(self.model, self.vocab, (END + prime) if self.documents else prime, length,
                        num_samples=num_samples, **kwargs)
        return [t[:-1] if end_of_document and t.endswith(END) else t for t in texts]

    def stream(self, prime: str = "", length: int = 500, end_of_document: bool = False, **kwargs: Any) -> Iterator[str]:
        """One continuation of ``prime``, character by character as it is drawn (the text of
        :meth:`sample` with the same options)."""
        if end_of_document:
            if not self.documents:
                raise RnnkitError("stopping at the end of a document needs a run trained with --documents")
            kwargs["stop"] = END
        for symbol in _stream(self.model, self.vocab, (END + prime) if self.documents else prime, length, **kwargs):
            if end_of_document and symbol == END:
                return
            yield symbol

    def score(self, text: str) -> dict[str, float]:
        """Cross-entropy of ``text`` under the model: nats and bits per character.

        Characters outside the vocabulary are scored as the unknown symbol and counted.
        """
        ids, unknown = self.vocab.encode_counting(text)
        return {**self.score_ids(ids), "unknown_chars": unknown}

    def score_ids(self, ids: np.ndarray, precision: str = "fp32") -> dict[str, float]:
        """Cross-entropy of text already encoded with this model's vocabulary (prepared data)."""
        if len(ids) < 2:
            raise RnnkitError("need at least 2 characters of text to score")
        runtime = resolve_runtime(next(self.model.parameters()).device.type, precision)
        self.model.eval()
        r = stream_loss(self.model, torch.as_tensor(np.asarray(ids, dtype=np.int64)), runtime)
        nats = float(r.total) / int(r.count)
        return {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": int(r.count),
                **({"precision": runtime.precision} if precision != "fp32" else {})}


def load(run_dir: str, device: str = "cpu") -> LanguageModel:
    """The latest checkpoint of a charlm run folder, for inference (fp32, on ``device``)."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device, best=False)
    vocab = Vocabulary.from_json(read_json(os.path.join(run_dir, "vocab.json"), "vocabulary"))
    return LanguageModel(model=model, vocab=vocab, config=config, step=step)
