"""The digits recipe's command line: ``train digits`` options, ``evaluate`` and ``classify``.

    rnnkit train digits --data ../shared/data/fsdd --out runs/digits [--divergence last|all]
    rnnkit evaluate runs/digits [--split test|dev|train] [--json]
    rnnkit classify runs/digits a.wav [b.wav ...] [--json]

A file that cannot be read (not audio, truncated, silence only, shorter than one frame) is a
one-line ``rnnkit: error:`` naming it; ``classify`` prints nothing unless every file was read.
"""
from __future__ import annotations

import argparse
import json
import time

from ..errors import RnnkitError
from . import options as opt

DATA_OPTIONS = ("data", "test_speaker", "features", "trim_db", "divergence")
MODEL_OPTIONS: list[opt.Option] = [
    ("--cell", "cell", str, "lstm, gru, rnn_tanh or rnn_relu (default lstm)"),
    ("--embedding-dim", "embedding_dim", opt.positive_int, "size of the frames' linear projection (default 64)"),
    ("--hidden-size", "hidden_size", opt.positive_int, "units of each recurrent layer (default 128)"),
    ("--num-layers", "num_layers", opt.positive_int, "stacked recurrent layers (default 2)"),
    ("--dropout", "dropout", opt.fraction, "dropout on the projection, between layers and before the head (default 0.2)"),
]


def train_options() -> list[opt.Option]:
    from .digits import DEFAULT_TRAIN

    return [("--batch-size", "batch_size", opt.positive_int, f"recordings per batch (default {DEFAULT_TRAIN.batch_size})"),
            ("--patience", "patience", opt.non_negative_int,
             f"stop after this many evaluations without a better dev accuracy (default {DEFAULT_TRAIN.patience}; 0: never)"),
            *opt.trainer_options(DEFAULT_TRAIN)]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train digits``."""
    p.add_argument("--data", default=None, metavar="DIR", help="a folder of {digit}_{speaker}_{index}.wav recordings")
    p.add_argument("--test-speaker", default=None, metavar="NAME",
                   help="leave this speaker out: train and choose on the others, test on all of theirs")
    p.add_argument("--features", choices=["logmel", "mfcc"], default=None, help="40 log-mels or 13 MFCCs (default logmel)")
    p.add_argument("--trim-db", type=opt.positive_float, default=None,
                   help="silence: frames this many dB below the loudest (default 40)")
    p.add_argument("--divergence", choices=["last", "all"], default=None,
                   help="cross-entropy at the last frame, or at every frame weighted 1/T (default last)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_options(p, train_options())


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train digits --data DIR --out RUN ...``"""
    from dataclasses import replace

    from .digits import DEFAULT_TRAIN, DigitsConfig, train_digits

    if not args.data:
        raise RnnkitError("give --data DIR, a folder of {digit}_{speaker}_{index}.wav recordings")
    cfg = DigitsConfig(**{k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None})
    train = opt.train_settings(args, train_options(), new_run=True)
    train_digits(args.out, cfg, opt.given(args, MODEL_OPTIONS), replace(DEFAULT_TRAIN, **opt.patience(train)))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train digits --resume RUN ...``"""
    from .digits import resume_digits

    opt.refuse_data_on_resume(args, DATA_OPTIONS, "data")
    resume_digits(args.resume, opt.given(args, MODEL_OPTIONS),
                  opt.patience(opt.train_settings(args, train_options(), new_run=False)))


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="DIR", help="recordings to split (default: the run's own --data)")
    p.add_argument("--split", choices=["test", "dev", "train"], default="test", help="which split (default test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Accuracy, per-digit accuracy and confusions on a split of the recordings; utterances/s."""
    from ..data.spoken_digits import find_recordings, split_recordings
    from .digits import load

    clf = load(run, args.device)
    digits = clf.config["digits"]
    recs = split_recordings(find_recordings(args.data or digits["data"]), digits.get("test_speaker"))[args.split]
    if not recs:
        raise RnnkitError(f"the {args.split} split has no recordings")
    start = time.perf_counter()
    guesses = [d for i in range(0, len(recs), 64) for d, _ in clf.classify([r.path for r in recs[i:i + 64]])]
    seconds = time.perf_counter() - start
    confusion = [[0] * 10 for _ in range(10)]
    for r, g in zip(recs, guesses):
        confusion[r.digit][g] += 1
    result = {"split": args.split, "recordings": len(recs), "accuracy": sum(r.digit == g for r, g in zip(recs, guesses)) / len(recs),
              "per_digit": {str(d): confusion[d][d] / max(sum(confusion[d]), 1) for d in range(10)},
              "confusion": confusion, "utterances_per_s": len(recs) / seconds}
    if args.json:
        print(json.dumps(result))
        return
    print(f"accuracy {100 * result['accuracy']:.2f}% on {len(recs)} {args.split} recordings "
          f"({result['utterances_per_s']:.0f} recordings/s, reading and features included)")
    print("digit  " + " ".join(f"{d:>4}" for d in range(10)) + "   accuracy")
    for d in range(10):
        print(f"{d:>5}  " + " ".join(f"{n:>4}" for n in confusion[d]) + f"   {100 * result['per_digit'][str(d)]:.1f}%")


def add_classify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="WAV", help="recordings (any rate; mono or mixed down)")
    p.add_argument("--json", action="store_true", help="one JSON object per file: file, digit, probability")
    p.add_argument("--device", default="cpu")


def classify_from_args(run: str, args: argparse.Namespace) -> None:
    from .digits import load

    results = load(run, args.device).classify(args.files)
    for path, (digit, p) in zip(args.files, results):
        print(json.dumps({"file": path, "digit": digit, "probability": round(p, 6)}) if args.json
              else f"{path}\t{digit}\t{p:.4f}")


COMMANDS = {"classify": ("name the digit spoken in each recording", add_classify_arguments, classify_from_args)}
