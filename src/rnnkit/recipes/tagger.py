"""Part-of-speech tagger: a bidirectional LSTM assigns a UPOS (and XPOS) tag to every word.

The lecture's time-synchronous case: one output per input, the divergence the sum over words of
Xent(tag_t, Y_t) (for each head). Trained on CoNLL-U with early stopping on the development set's
UPOS accuracy; the best weights are what ``rnnkit.load`` returns.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Sequence

import torch

from ..configs import from_dict, to_dict
from ..data.batching import Batch, SequenceBatches
from ..data.conllu import Sentence, read_conllu
from ..data.tagging import MISSING, TagVocab
from ..errors import RnnkitError
from ..losses.base import LossResult
from ..losses.timesync import time_synchronous_xent
from ..models.tagger import TaggerConfig, TaggerEnsemble, TaggerModel, build_tagger
from ..training.checkpoint import atomic_write_json, read_json
from ..training.tasks import SequenceTask
from ..training.trainer import TrainConfig, Trainer
from . import options as opt
from .runs import changed_digest, load_run_model, new_run, resume_run
# The command-line half of this recipe (options, evaluate, tag) lives in tagger_cli.
from .tagger_cli import COMMANDS, DATA_OPTIONS, MODEL_OPTIONS, add_evaluate_arguments, add_train_arguments  # noqa: F401
from .tagger_cli import NEW_RUN_MODEL
from .tagger_cli import evaluate_from_args, model_options, train_options  # noqa: F401

log = logging.getLogger(__name__)
TASK = "tagger"


@dataclass(frozen=True)
class DataConfig:
    """The CoNLL-U files (plain or .gz) and how words are encoded."""

    train: str = ""
    dev: str | None = None  # without it: no early stopping, the last weights are the model
    min_word_count: int = 2  # rarer training words share the unknown word's embedding
    max_word_chars: int = 20  # longer words keep their first and last 10 characters


# Defaults for UD English EWT (~200k training words) on 2 CPU cores in about 20 minutes: the model's
# are TaggerConfig's; Adam at 2e-3, constant dropout from the start (a tagger sees its data many
# times over), early stopping after 8 evaluations (8 minutes) without a better dev UPOS accuracy.
DEFAULT_TRAIN = TrainConfig(batch_size=32, lr=2e-3, weight_decay=0.0, clip_norm=5.0, warmup_steps=50,
                            dropout_from=0.0, dropout_ramp=0.0, eval_interval=60.0, checkpoint_interval=120.0,
                            select="valid_upos_accuracy", select_mode="max", patience=8)


# -- the task -----------------------------------------------------------------------------------
def tag_divergence(logits: torch.Tensor, batch: Batch, num_upos: int, num_xpos: int = 0,
                   char_loss: float = 0.0) -> LossResult:
    """Summed UPOS (and XPOS) cross-entropy; tags ``_`` or never seen in training are skipped; with
    ``char_loss``, plus that weight times the auxiliary character head's UPOS cross-entropy.

    logits [B, T, U + X (+ U)], or K taggers' side by side (an ensemble in training: the mean of
    their losses; each member's gradient is its own over K, a scale Adam's steps ignore);
    batch.targets [B, T, 2]. ``count`` is the scored UPOS tokens (the XPOS ones in a batch with
    no UPOS tags), so the mean is per word, the heads summed.
    """
    U, X = num_upos, num_xpos
    targets = batch.targets.masked_fill(batch.targets < 0, MISSING)
    total, count, members = 0.0, 0, logits.split(U + X + (U if char_loss > 0 else 0), dim=-1)
    for member in members:
        r = time_synchronous_xent(member[..., :U], targets[..., 0])
        total, count = total + r.total, r.count
        if X:
            x = time_synchronous_xent(member[..., U:U + X], targets[..., 1])
            total, count = total + x.total, count or x.count
        if char_loss > 0:
            total = total + char_loss * time_synchronous_xent(member[..., U + X:U + X + U], targets[..., 0]).total
    return LossResult(total / len(members), count)


def tag_accuracy(logits: torch.Tensor, batch: Batch, column: int, start: int, end: int) -> tuple[float, float]:
    """(correct, scored) for one head: tags ``_`` are not scored, unseen ones score as wrong."""
    gold = batch.targets[..., column]
    scored = gold != MISSING
    correct = (logits[..., start:end].argmax(-1) == gold) & scored
    return float(correct.sum()), float(scored.sum())


BUCKET = 50  # training batches are cut from runs of 50 batches' worth of sentences sorted by length


def make_task(vocab: TagVocab, train: list, dev: list | None, cfg: TrainConfig, char_loss: float = 0.0) -> SequenceTask:
    """The trainer's Task: shuffled sentence batches, the tag divergence, dev accuracies."""
    U = len(vocab.upos)
    metrics = {"valid_upos_accuracy": partial(tag_accuracy, column=0, start=0, end=U)}
    if vocab.xpos is not None:
        metrics["valid_xpos_accuracy"] = partial(tag_accuracy, column=1, start=U, end=U + len(vocab.xpos))
    # Batches of similar lengths: the encoders' work grows with the longest sentence of a batch.
    valid = SequenceBatches(sorted(dev, key=lambda e: len(e[0])), 64, shuffle=False) if dev else None
    return SequenceTask(SequenceBatches(train, cfg.batch_size, cfg.seed, bucket=BUCKET), valid,
                        partial(tag_divergence, num_upos=U, num_xpos=len(vocab.xpos) if vocab.xpos else 0,
                                char_loss=char_loss),
                        unit="token", metrics=metrics)


def _digest(sentences: Sequence[Sentence]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update("\n".join(s.lines).encode("utf-8", errors="surrogatepass") + b"\n\n")
    return h.hexdigest()[:16]


def _prepare(data: DataConfig, vocab: TagVocab | None) -> tuple[TagVocab, list, list | None, dict[str, Any]]:
    if not data.train:
        raise RnnkitError("give --train FILE.conllu (plain or .gz) to train a tagger")
    train = read_conllu(data.train)
    dev = read_conllu(data.dev) if data.dev else None
    vocab = vocab or TagVocab.build(train, data.min_word_count, data.max_word_chars)
    info = {"train_sentences": len(train), "train_tokens": sum(len(s.words) for s in train),
            "max_train_sentence_length": max(len(s.words) for s in train), "train_sha256": _digest(train),
            "dev_sentences": len(dev or []), "dev_tokens": sum(len(s.words) for s in dev or []),
            "words": len(vocab.words), "chars": len(vocab.chars), "upos": len(vocab.upos),
            "xpos": len(vocab.xpos) if vocab.xpos else 0}
    log.info("%s: %d sentences, %d tokens; dev %d tokens; %d words, %d characters, %d UPOS, %d XPOS tags",
             data.train, info["train_sentences"], info["train_tokens"], info["dev_tokens"], info["words"],
             info["chars"], info["upos"], info["xpos"])
    return vocab, vocab.examples(train), vocab.examples(dev) if dev else None, info


def train_tagger(out: str, data: DataConfig, model_overrides: dict[str, Any] | None = None,
                 train: TrainConfig = DEFAULT_TRAIN, stop_after: int | None = None) -> dict[str, float]:
    """Train a new tagger into the run folder ``out``; returns the final dev metrics."""
    if not data.dev and train.select is not None:  # nothing to select on: the last weights are the model
        train = replace(train, select=None, patience=None)
    runtime = new_run(out, train)
    vocab, train_examples, dev_examples, info = _prepare(data, None)
    model_cfg = TaggerConfig(num_words=len(vocab.words), num_chars=len(vocab.chars), num_upos=len(vocab.upos),
                             num_xpos=len(vocab.xpos) if vocab.xpos else 0,
                             **{**NEW_RUN_MODEL, **(model_overrides or {})}).validate()
    model = build_tagger(model_cfg)
    model.set_word_counts(word_counts(train_examples, len(vocab.words)))
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "vocab.json"), vocab.to_json())
    atomic_write_json(os.path.join(out, "config.json"), {
        "task": TASK, "model": to_dict(model_cfg), "train": to_dict(train), "data": to_dict(data), "corpus": info,
        "runtime": {"device": str(runtime.device), "precision": runtime.precision}})
    log.info("tagger: %.2fM parameters, %s %s", model.num_parameters() / 1e6, runtime.device, runtime.precision)
    task = make_task(vocab, train_examples, dev_examples, train, model_cfg.char_loss)
    return Trainer(model, task, train, runtime, out).run(stop_after=stop_after)


def word_counts(examples: list, num_words: int) -> torch.Tensor:
    """How often each word id occurs in the (inputs, targets) ``examples`` (column 0 of the inputs)."""
    return torch.bincount(torch.cat([x[:, 0] for x, _ in examples]), minlength=num_words).float()


def resume_tagger(out: str, model_overrides: dict[str, Any] | None = None,
                  train_overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> dict[str, float]:
    """Continue the tagger run in ``out`` exactly where its last checkpoint stopped."""
    config, model_cfg, train = opt.resume_settings(out, TASK, TaggerConfig, model_overrides, train_overrides)
    data = from_dict(DataConfig, config["data"])
    vocab = TagVocab.from_json(read_json(os.path.join(out, "vocab.json"), "vocabulary"))
    _, train_examples, dev_examples, info = _prepare(data, vocab)
    task = make_task(vocab, train_examples, dev_examples, train, model_cfg.char_loss)
    model = build_tagger(model_cfg)
    model.set_word_counts(word_counts(train_examples, len(vocab.words)))
    return resume_run(out, config, train, model, task, changed_digest(info, config, data.train), stop_after)


# -- the predictor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tagging:
    """The tags of one sentence, with the probability the model gave each (``xpos`` None without an XPOS head)."""

    tokens: list[str]
    upos: list[str]
    upos_prob: list[float]
    xpos: list[str] | None = None
    xpos_prob: list[float] | None = None


def _check_tokens(sentences: Sequence[Sequence[str]]) -> None:
    for n, tokens in enumerate(sentences, 1):
        if isinstance(tokens, str) or not tokens:
            raise RnnkitError(f"sentence {n}: expected a non-empty list of tokens, got {tokens!r}")
        bad = next((t for t in tokens if not isinstance(t, str) or not t), None)
        if bad is not None:  # (a space inside a token is fine: some treebanks' word forms have one)
            raise RnnkitError(f"sentence {n}: bad token {bad!r} (a token is a non-empty string)")


class SpellingCache:
    """The character features of every spelling tagged so far: a word's depend on its spelling
    alone, so each is computed once (most words of new text have been seen before). Holds at most
    ``limit`` spellings, then starts afresh; valid while the model's weights stay as they are."""

    def __init__(self, limit: int = 50_000):
        self.limit, self.index, self.features = limit, {}, None

    def lookup(self, model: TaggerModel | TaggerEnsemble, vocab: TagVocab, forms: Sequence[str]) -> torch.Tensor:
        """The features [N, C] of each form, computing those of spellings not seen yet."""
        spellings = [vocab.spelling(f) for f in forms]
        new = list(dict.fromkeys(s for s in spellings if s not in self.index))
        if len(self.index) + len(new) > self.limit:
            self.index, self.features, new = {}, None, list(dict.fromkeys(spellings))
        if new:
            device = next(model.parameters()).device
            with torch.no_grad():
                feats = model.chars(vocab.encode_spellings(new).to(device))
            self.index.update({s: len(self.index) + i for i, s in enumerate(new)})
            self.features = feats if self.features is None else torch.cat([self.features, feats])
        return self.features[torch.tensor([self.index[s] for s in spellings], device=self.features.device)]


@dataclass
class Tagger:
    """A trained tagger with its vocabularies (what ``rnnkit.load`` returns for a tagger run)."""

    model: TaggerModel | TaggerEnsemble
    vocab: TagVocab
    config: dict[str, Any]
    step: int
    spellings: SpellingCache = field(default_factory=SpellingCache, repr=False)

    def tag(self, tokens: Sequence[str], probabilities: bool = False) -> list[str] | list[tuple[str, float]]:
        """UPOS tags of one sentence; with ``probabilities``, (tag, probability) pairs.

        Any length is fine, also longer than every training sentence: the LSTM has no limit.
        """
        [t] = self.predict([tokens])
        return list(zip(t.upos, t.upos_prob)) if probabilities else t.upos

    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 256) -> list[Tagging]:
        """UPOS (and XPOS) tags of each sentence, batched by length; in the order given."""
        _check_tokens(sentences)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        result: list[Tagging | None] = [None] * len(sentences)
        self.model.eval()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, tagging in zip(chunk, self._tag_batch([sentences[i] for i in chunk])):
                result[i] = tagging
        return result  # type: ignore[return-value]

    def batch_logits(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """The model's logits [B, T, U + X] for one batch of token lists (row b's first len(b) steps
        are its words; UPOS in the first U columns, XPOS in the next X, any auxiliary head after):
        what ``predict`` reads. The model should be in eval mode, as ``predict`` sets it."""
        device = next(self.model.parameters()).device
        lengths = torch.tensor([len(s) for s in sentences])
        real = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]  # [B, T], row-major = the tokens in order
        forms = [t for s in sentences for t in s]
        feats = self.spellings.lookup(self.model, self.vocab, forms)
        words = torch.zeros(real.shape, dtype=torch.long).masked_scatter_(real, self.vocab.encode_words(forms))
        char_feats = feats.new_zeros(*real.shape, feats.shape[-1])
        char_feats[real.to(device)] = feats
        with torch.no_grad():
            return self.model.tag_logits(words.to(device), char_feats, lengths)

    def _tag_batch(self, sentences: list[Sequence[str]]) -> list[Tagging]:
        logits = self.batch_logits(sentences)
        U = len(self.vocab.upos)
        up, ui = logits[..., :U].float().softmax(-1).max(-1)  # [B, T]
        if self.vocab.xpos is not None:
            xp, xi = logits[..., U:U + len(self.vocab.xpos)].float().softmax(-1).max(-1)
        out = []
        for row, tokens in enumerate(sentences):
            n = len(tokens)
            upos = [self.vocab.upos.tokens[k] for k in ui[row, :n].tolist()]
            xpos = xprob = None
            if self.vocab.xpos is not None:
                xpos, xprob = [self.vocab.xpos.tokens[k] for k in xi[row, :n].tolist()], xp[row, :n].tolist()
            out.append(Tagging(list(tokens), upos, up[row, :n].tolist(), xpos, xprob))
        return out


def load(run_dir: str, device: str = "cpu") -> Tagger:
    """A tagger run folder for inference (fp32, on ``device``): the weights early stopping kept
    (the best dev UPOS accuracy), or the latest ones when the run kept none."""
    model, config, step = load_run_model(run_dir, TaggerConfig, build_tagger, device)
    vocab = TagVocab.from_json(read_json(os.path.join(run_dir, "vocab.json"), "vocabulary"))
    return Tagger(model=model, vocab=vocab, config=config, step=step)


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train tagger --train FILE --out RUN ...``"""
    data = DataConfig(**{k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None})
    train = opt.train_settings(args, train_options(), new_run=True)
    train_tagger(args.out, data, model_options(args), replace(DEFAULT_TRAIN, **opt.patience(train)))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train tagger --resume RUN ...``"""
    opt.refuse_data_on_resume(args, DATA_OPTIONS, "data")
    resume_tagger(args.resume, model_options(args),
                  opt.patience(opt.train_settings(args, train_options(), new_run=False)))
