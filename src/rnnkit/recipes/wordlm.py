"""Word-level language model: an LSTM or Bengio's TDNN predicts the next word of a text.

The lecture's language-modelling section: one-hot words projected by a learned matrix P (the
embedding), then either a recurrent LSTM or the fixed-window time-delay net of Bengio et al.
(2003: the projections of the N previous words concatenated, a tanh layer, a softmax), trained
on Xent = -sum_t log Y(t, w_{t+1}) over contiguous BPTT segments with carried state. Reported as
perplexity exp(mean NLL) on held-out text. The LSTM's defaults carry the regularisers of Merity
et al. (2017) that every recipe's model can use (see :class:`~rnnkit.models.model.ModelConfig`).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Iterator

import torch
from torch import nn

from ..configs import from_dict, to_dict
from ..data.vocab import Vocabulary
from ..data.words import EOS, read_words, build_word_vocab
from ..decoding.sampling import sample as _sample, stream as _stream
from ..errors import RnnkitError
from ..models.model import ModelConfig, SequenceModel, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.runtime import Runtime, resolve_runtime
from ..training.streams import StreamTask, stream_loss
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run
# The command-line half of this recipe (options, evaluate, sample, embeddings) lives in wordlm_cli.
from .wordlm_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .wordlm_cli import resume_from_args, train_from_args  # noqa: F401

log = logging.getLogger(__name__)
TASK = "wordlm"
EVAL_BATCH, EVAL_BPTT = 10, 70  # held-out text as 10 streams (pytorch/examples' eval batch size)


@dataclass(frozen=True)
class WordDataConfig:
    """The training and validation text (one sentence a line, plain or .gz) and the vocabulary."""

    train: str = ""
    valid: str | None = None  # without it: no validation, the last weights are the model
    max_vocab: int | None = None  # the most frequent words kept, <unk> and <eos> included
    min_count: int = 1  # rarer training words read as <unk>


# Defaults for Penn Treebank (929k training words) on 2 CPU cores within an hour
# (benchmarks/wordlm_ptb.py). LSTM: 2 x 650 with tied input/output embeddings and the AWD-LSTM
# regularisers at rates for a few passes over the text rather than hundreds.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "lstm": dict(cell="lstm", embedding_dim=650, hidden_size=650, num_layers=2, tie_weights=True, dropout=0.4,
                 between_dropout=0.25, locked_dropout=True, embedding_dropout=0.1, weight_drop=0.2, ar=2.0, tar=1.0),
    # Bengio et al. (2003): the projections of the previous `window` words, one tanh layer, a softmax.
    # Tied: the softmax weights are the projection P (so P is 512 wide, the tanh layer's size); on
    # 10-minute probes scored on ptb.valid, 147.4 against 180.2 untied with a 256-wide P (README).
    "tdnn": dict(cell="tdnn", embedding_dim=512, hidden_size=512, num_layers=1, window=5, dropout=0.3, tie_weights=True),
}
# Validation every 10 minutes (a pass over the 73k validation words takes a while); the weights of
# the best validation loss are the model. Dropout from the start after one pass of ramp. LSTM: Adam
# at 2e-3 (beta2 0.999) on 20 streams x 35 steps, chosen on 9-minute probes scored on the validation
# text (benchmarks/wordlm_ptb.py; README): an hour gives about 6,000 steps, where 32 x 70 at 1e-3
# gave 1,800 and under-fitted, and 32 x 70 at 3e-3 grew a cell state without bound (one validation
# stream at ppl 10^21). TDNN: the first defaults (32 x 70, Adam 1e-3), not tuned since.
DEFAULT_TRAIN = TrainConfig(batch_size=20, bptt=35, lr=2e-3, beta2=0.999, warmup_steps=100, clip_norm=0.5, dropout_from=0.0,
                            dropout_ramp=1.0, eval_interval=600.0, checkpoint_interval=300.0,
                            select="valid_loss", select_mode="min")
DEFAULT_TRAINS: dict[str, TrainConfig] = {"lstm": DEFAULT_TRAIN,
                                          "tdnn": replace(DEFAULT_TRAIN, batch_size=32, bptt=70, lr=1e-3)}


class WordLMTask(StreamTask):
    """Next-word prediction over contiguous streams; validation loss and perplexity."""

    unit = "word"

    def evaluate(self, model: nn.Module, runtime: Runtime) -> dict[str, float]:
        result = super().evaluate(model, runtime)
        if result:
            result["valid_ppl"] = math.exp(result["valid_loss"])
        return result


def _ids(vocab: Vocabulary, tokens: list[str]) -> tuple[torch.Tensor, int]:
    ids, unknown = vocab.encode_counting(tokens)
    return torch.from_numpy(ids), unknown


def _digest(tokens: list[str]) -> str:
    return hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()[:16]


def prepare(data: WordDataConfig, vocab: Vocabulary | None) -> tuple[Vocabulary, torch.Tensor, torch.Tensor, dict[str, Any]]:
    """(vocabulary, train ids, validation ids, what was read) of ``data``; ``vocab`` None builds it."""
    if not data.train:
        raise RnnkitError("give --train FILE, a text with one sentence a line (plain or .gz)")
    train = read_words(data.train)
    valid = read_words(data.valid) if data.valid else None
    vocab = vocab or build_word_vocab([train.tokens], data.max_vocab, data.min_count)
    train_ids, unk_train = _ids(vocab, train.tokens)
    valid_ids, unk_valid = _ids(vocab, valid.tokens) if valid else (torch.zeros(0, dtype=torch.long), 0)
    info = {"train_words": train.words, "train_lines": train.lines, "train_empty_lines": train.empty_lines,
            "valid_words": valid.words if valid else 0, "valid_empty_lines": valid.empty_lines if valid else 0,
            "unknown_train_words": unk_train, "unknown_valid_words": unk_valid, "train_sha256": _digest(train.tokens)}
    for corpus in (train, valid):
        if corpus is not None and corpus.empty_lines:
            log.warning("%s: %d empty line(s) skipped", corpus.path, corpus.empty_lines)
    log.info("words: %d train / %d valid tokens (with <eos>), vocabulary %d", len(train.tokens),
             len(valid.tokens) if valid else 0, len(vocab))
    return vocab, train_ids, valid_ids, info


def model_config(kind: str, vocab_size: int, overrides: dict[str, Any] | None = None) -> ModelConfig:
    """The model of ``kind`` (lstm, tdnn) for ``vocab_size`` words: its defaults, then ``overrides``."""
    if kind not in DEFAULT_MODELS:
        raise RnnkitError(f"unknown word model {kind!r}; choose one of {', '.join(DEFAULT_MODELS)}")
    overrides = overrides or {}
    settings = {**DEFAULT_MODELS[kind], **overrides}
    if settings.get("direct") and "tie_weights" not in overrides:  # the head reads more than the projection
        settings["tie_weights"] = False
    if settings.get("tie_weights") and "embedding_dim" not in overrides:  # tied: the projection is the head's size
        settings["embedding_dim"] = settings["hidden_size"]
    return ModelConfig(num_outputs=vocab_size, vocab_size=vocab_size, **settings).validate()


def _task(train_ids: torch.Tensor, valid_ids: torch.Tensor, train: TrainConfig) -> WordLMTask:
    return WordLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed, EVAL_BATCH, EVAL_BPTT)


def train_wordlm(out: str, data: WordDataConfig, kind: str = "lstm", model_overrides: dict[str, Any] | None = None,
                 train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new word LM (``kind`` lstm or tdnn) into the run folder ``out``; returns the final validation."""
    if not data.valid and train.select is not None:
        train = replace(train, select=None, patience=None)
    # Absolute paths, so --resume and evaluate find the text from any directory.
    data = replace(data, train=os.path.abspath(data.train) if data.train else data.train,
                   valid=os.path.abspath(data.valid) if data.valid else None)
    runtime = new_run(out, train)
    model_cfg = model_config(kind, 1, model_overrides)  # the shape checked before any reading
    vocab, train_ids, valid_ids, info = prepare(data, None)
    model_cfg = replace(model_cfg, num_outputs=len(vocab), vocab_size=len(vocab)).validate()
    model = build_model(model_cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "vocab.json"), vocab.to_json())
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "kind": kind, "model": to_dict(model_cfg), "train": to_dict(train), "data": to_dict(data),
        "corpus": info, "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("model: %s, %.2fM parameters, %s %s", model_cfg.cell, model.num_parameters() / 1e6, runtime.device,
             runtime.precision)
    return Trainer(model, _task(train_ids, valid_ids, train), train, runtime, out).run(stop_after=stop_after)


def resume_wordlm(out: str, model_overrides: dict[str, Any] | None = None, train_overrides: dict[str, Any] | None = None,
                  stop_after: int | None = None) -> dict[str, float]:
    """Continue the run in ``out`` exactly where its last checkpoint stopped (same text, same shape)."""
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    data = from_dict(WordDataConfig, config["data"])
    vocab = Vocabulary.from_json(read_json(os.path.join(out, "vocab.json"), "vocabulary"))
    _, train_ids, valid_ids, info = prepare(data, vocab)
    return resume_run(out, config, train, build_model(model_cfg), _task(train_ids, valid_ids, train),
                      changed_digest(info, config, data.train), stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass
class WordLanguageModel:
    """A trained word-level language model with its vocabulary (what ``rnnkit.load`` returns for a wordlm run)."""

    model: SequenceModel
    vocab: Vocabulary
    config: dict[str, Any]
    step: int

    def score(self, tokens: list[str]) -> dict[str, float]:
        """Perplexity of ``tokens`` (``<eos>`` included where sentences end): exp of the mean
        next-word NLL, read as 10 streams; words outside the vocabulary are scored as ``<unk>`` and counted."""
        ids, unknown = _ids(self.vocab, tokens)
        if ids.numel() < 2:
            raise RnnkitError("need at least 2 words to score")
        runtime = resolve_runtime(next(self.model.parameters()).device.type, "fp32")
        self.model.eval()
        r = stream_loss(self.model, ids, runtime, EVAL_BATCH, EVAL_BPTT)
        nats = float(r.total) / int(r.count)
        return {"perplexity": math.exp(nats), "nats_per_word": nats, "words": int(r.count), "unknown_words": unknown}

    def sample(self, prime: str = "", length: int = 50, **kwargs: Any) -> str:
        """One continuation of ``prime`` (words separated by spaces, ``<eos>`` as a line break); see
        :func:`rnnkit.decoding.sampling.sample` for the keyword arguments."""
        return self.sample_many(1, prime, length, **kwargs)[0]

    def sample_many(self, num_samples: int, prime: str = "", length: int = 50, **kwargs: Any) -> list[str]:
        """``num_samples`` continuations drawn as one batch."""
        texts = _sample(self.model, self.vocab, prime, length, num_samples=num_samples, **kwargs)
        return [re.sub(f" ?{EOS} ?", "\n", t) for t in texts]

    def stream(self, prime: str = "", length: int = 50, **kwargs: Any) -> Iterator[str]:
        """One continuation of ``prime`` as it is drawn: each word with the space before it (none
        at the start or after a line break), ``<eos>`` as a line break; joined, the text of
        :meth:`sample` with the same options."""
        previous = None
        for word in _stream(self.model, self.vocab, prime, length, **kwargs):
            yield "\n" if word == EOS else (" " if previous not in (None, EOS) else "") + word
            previous = word

    @property
    def embeddings(self) -> torch.Tensor:
        """The learned projection P [V, D]: row i is the vector of ``vocab.tokens[i]``."""
        return self.model.input.weight.detach()


def load(run_dir: str, device: str = "cpu") -> WordLanguageModel:
    """The best (else the latest) weights of a wordlm run folder, for inference (fp32, on ``device``)."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device)
    vocab = Vocabulary.from_json(read_json(os.path.join(run_dir, "vocab.json"), "vocabulary"))
    return WordLanguageModel(model=model, vocab=vocab, config=config, step=step)
