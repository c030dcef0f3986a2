"""Character-level language model: read a corpus, train an LSTM on next-character prediction.

The divergence is the lecture's Xent = -sum_t log Y(t, w_{t+1}) over contiguous BPTT segments
with carried state; evaluation reports nats and bits per character on held-out text.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..configs import from_dict, to_dict
from ..data.corpus import read_corpus
from ..data.vocab import Vocabulary
from ..decoding.sampling import check_sampling_args
from ..decoding.sampling import sample as _sample
from ..errors import RnnkitError
from ..models.model import ModelConfig, SequenceModel, build_model
from ..training.checkpoint import atomic_write_json, read_json
from ..training.runtime import Runtime, resolve_runtime
from ..training.streams import StreamTask, stream_loss
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run

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
    runtime = new_run(out, train)
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
    config, model_cfg, train = opt.resume_settings(out, TASK, ModelConfig, model_overrides, train_overrides)
    data = from_dict(DataConfig, config["data"])
    vocab = Vocabulary.from_json(read_json(os.path.join(out, "vocab.json"), "vocabulary"))
    _, train_ids, valid_ids, info = _prepare(data, vocab)
    task = CharLMTask(train_ids, valid_ids, train.batch_size, train.bptt, train.seed)
    return resume_run(out, config, train, build_model(model_cfg), task, changed_digest(info, config, data.corpus),
                      stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass
class LanguageModel:
    """A trained symbol-level language model with its vocabulary (what ``rnnkit.load`` returns for a charlm run)."""

    model: SequenceModel
    vocab: Vocabulary
    config: dict[str, Any]
    step: int

    def sample(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, stop: str | None = None,
               precision: str = "auto") -> str:
        """One continuation of ``prime`` (see :func:`rnnkit.decoding.sampling.sample`)."""
        return _sample(self.model, self.vocab, prime, length, temperature, top_k, top_p, seed, stop,
                       precision=precision)[0]

    def sample_many(self, num_samples: int, prime: str = "", length: int = 500, **kwargs: Any) -> list[str]:
        """``num_samples`` continuations drawn as one batch."""
        return _sample(self.model, self.vocab, prime, length, num_samples=num_samples, **kwargs)

    def score(self, text: str) -> dict[str, float]:
        """Cross-entropy of ``text`` under the model: nats and bits per character.

        Characters outside the vocabulary are scored as the unknown symbol and counted.
        """
        ids, unknown = self.vocab.encode_counting(text)
        if len(ids) < 2:
            raise RnnkitError("need at least 2 characters of text to score")
        runtime = resolve_runtime(next(self.model.parameters()).device.type, "fp32")
        self.model.eval()
        r = stream_loss(self.model, torch.from_numpy(ids), runtime)
        nats = float(r.total) / int(r.count)
        return {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": int(r.count), "unknown_chars": unknown}


def load(run_dir: str, device: str = "cpu") -> LanguageModel:
    """The latest checkpoint of a charlm run folder, for inference (fp32, on ``device``)."""
    model, config, step = load_run_model(run_dir, ModelConfig, build_model, device, best=False)
    vocab = Vocabulary.from_json(read_json(os.path.join(run_dir, "vocab.json"), "vocabulary"))
    return LanguageModel(model=model, vocab=vocab, config=config, step=step)


# -- command line -------------------------------------------------------------------------------
# None defaults mean "the recipe's default" (DEFAULT_MODEL, DEFAULT_TRAIN, DataConfig).
MODEL_OPTIONS: list[opt.Option] = [
    ("--cell", "cell", str, "lstm, gru, rnn_tanh, rnn_relu, tdnn, mingru or minlstm (default lstm)"),
    ("--hidden-size", "hidden_size", opt.positive_int, "units per recurrent layer (default 512)"),
    ("--num-layers", "num_layers", opt.positive_int, "stacked recurrent layers (default 2)"),
    ("--embedding-dim", "embedding_dim", opt.positive_int, "size of the learned input projection (default 128)"),
    ("--dropout", "dropout", opt.fraction, "dropout on the input, between layers and before the head (default 0.2; "
                                           "see --dropout-from)"),
    ("--window", "window", opt.positive_int, "tdnn: inputs each output sees (default 5)"),
]
TRAIN_OPTIONS: list[opt.Option] = [
    ("--batch-size", "batch_size", opt.positive_int, "streams per batch (default 64)"),
    ("--bptt", "bptt", opt.positive_int, "steps per truncated-BPTT segment (default 64)"),
    ("--dropout-from", "dropout_from", opt.non_negative,
     "passes over the training text before dropout starts (default 3; 0: from the start)"),
    ("--dropout-ramp", "dropout_ramp", opt.non_negative, "passes over which dropout then rises to --dropout (default 2)"),
    *opt.trainer_options(DEFAULT_TRAIN),
]
DATA_OPTIONS = ("corpus", "include", "max_chars", "valid_fraction", "max_valid_chars")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train charlm``."""
    p.add_argument("--corpus", default=None, help="python (default), linux, or a file, directory or tar archive")
    p.add_argument("--include", default=None, help="comma-separated globs of files to read from a directory or archive")
    p.add_argument("--max-chars", type=opt.positive_int, default=None, help="read at most this many characters (default 20M)")
    p.add_argument("--valid-fraction", type=opt.fraction, default=None, help="last fraction of the text for validation (default 0.1)")
    p.add_argument("--max-valid-chars", type=opt.positive_int, default=None,
                   help="score at most this many validation characters at each evaluation (default 250,000)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_regulariser_arguments(p, " (default off)")
    opt.add_options(p, TRAIN_OPTIONS)


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    return {**opt.given(args, MODEL_OPTIONS), **opt.regulariser_settings(args)}


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train charlm --out RUN ...``"""
    data = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    train = opt.train_settings(args, TRAIN_OPTIONS, new_run=True)
    train_charlm(args.out, from_dict(DataConfig, data), _model_args(args), from_dict(TrainConfig, train))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train charlm --resume RUN ...``"""
    opt.refuse_data_on_resume(args, DATA_OPTIONS, "corpus")
    resume_charlm(args.resume, _model_args(args), opt.train_settings(args, TRAIN_OPTIONS, new_run=False))


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit evaluate RUN`` for a charlm run."""
    p.add_argument("--corpus", required=True, help="file, directory, archive, or a named corpus")
    p.add_argument("--include", default=None, help="comma-separated globs")
    p.add_argument("--max-chars", type=opt.positive_int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Cross-entropy of the run's model on a text: nats and bits per character."""
    lm = load(run)
    corpus = read_corpus(args.corpus, args.include, args.max_chars)
    result = lm.score(corpus.text)
    result["replaced_invalid_utf8"] = corpus.stats.replaced_chars
    result["skipped_binary_files"] = corpus.stats.skipped_binary
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char over "
              f"{result['chars']} characters ({result['unknown_chars']} outside the vocabulary)")


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit sample RUN``."""
    p.add_argument("--prime", default="", help="text to start from (default: a newline)")
    p.add_argument("--length", type=opt.non_negative_int, default=500, help="symbols to generate (default 500)")
    p.add_argument("--temperature", type=opt.non_negative, default=1.0, help="0 is greedy (default 1.0)")
    p.add_argument("--top-k", type=opt.positive_int, default=None)
    p.add_argument("--top-p", type=opt.probability, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", default=None, help="stop right after writing this string")
    p.add_argument("--num-samples", type=opt.positive_int, default=1, help="streams drawn as one batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                   help="how the recurrent matrices are kept while sampling: fp32 (exact), bf16, or int8 "
                        "(weight-only, per-row scales); default auto: the fastest measured for this many streams "
                        "on this kind of CPU (int8 for few streams, then bf16 where the CPU has it natively, "
                        "else fp32; see README)")


def print_samples(load_lm: Callable[[str, str], Any], run: str, args: argparse.Namespace,
                  show: Callable[[str], str]) -> None:
    """The ``sample`` command of any language model: ``--num-samples`` continuations of ``--prime``
    from the model ``load_lm(run, device)``, each printed as ``show(continuation)``."""
    check_sampling_args(args.length, args.temperature, args.top_k, args.top_p, args.num_samples)
    lm = load_lm(run, args.device)
    texts = lm.sample_many(args.num_samples, args.prime, args.length, temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=args.stop,
                           precision=args.precision)
    for i, text in enumerate(texts):
        if args.num_samples > 1:
            print(f"--- sample {i + 1}")
        sys.stdout.write(show(text) + "\n")


def sample_from_args(run: str, args: argparse.Namespace) -> None:
    """Print ``--num-samples`` continuations of ``--prime``, each after the prime."""
    print_samples(load, run, args, lambda text: args.prime + text)


# Subcommands of this task beyond train and evaluate: name -> (help, add_arguments, run).
COMMANDS = {"sample": ("generate text from a language model", add_sample_arguments, sample_from_args)}
