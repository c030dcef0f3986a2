"""The addition recipe's command line: ``train addition`` options, ``evaluate`` and ``add``.

    rnnkit train addition --bits 8 --examples 1000 --out runs/add [--hidden-size 16 --cell rnn_tanh]
    rnnkit evaluate runs/add --bits 8,9,16,64,256,1024 [--pairs 1000] [--json]
    rnnkit add runs/add 1011 110            # binary in, binary out: 10001
"""
from __future__ import annotations

import argparse
import json
import sys

from . import options as opt

DATA_OPTIONS = ("bits", "examples", "dev")
MODEL_OPTIONS: list[opt.Option] = [
    ("--cell", "cell", str, "rnn_tanh (the Elman net, default), rnn_relu, gru or lstm"),
    ("--hidden-size", "hidden_size", opt.positive_int, "recurrent units (default 16)"),
    ("--embedding-dim", "embedding_dim", opt.positive_int, "size of the input bits' linear projection (default 8)"),
    ("--num-layers", "num_layers", opt.positive_int, "stacked recurrent layers (default 1)"),
]


def train_options() -> list[opt.Option]:
    from .addition import DEFAULT_TRAIN

    return [("--batch-size", "batch_size", opt.positive_int, f"pairs per batch (default {DEFAULT_TRAIN.batch_size})"),
            *opt.trainer_options(DEFAULT_TRAIN)]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train addition``."""
    p.add_argument("--bits", type=opt.positive_int, default=None, help="length of the numbers to train on (default 8)")
    p.add_argument("--examples", type=opt.positive_int, default=None,
                   help="different random pairs to train on (default 1000)")
    p.add_argument("--dev", type=opt.positive_int, default=None,
                   help="more pairs of the same length that choose the kept weights (default 500)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_options(p, train_options())


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train addition --out RUN ...``"""
    from dataclasses import replace

    from .addition import DEFAULT_TRAIN, AdditionConfig, train_addition

    cfg = AdditionConfig(**{k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None})
    train = opt.train_settings(args, train_options(), new_run=True)
    train_addition(args.out, cfg, opt.given(args, MODEL_OPTIONS), replace(DEFAULT_TRAIN, **train))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train addition --resume RUN ...``"""
    from .addition import resume_addition

    opt.refuse_data_on_resume(args, DATA_OPTIONS, "data")
    resume_addition(args.resume, opt.given(args, MODEL_OPTIONS), opt.train_settings(args, train_options(), new_run=False))


def bit_lengths(text: str) -> list[int]:
    """``--bits 8,9,16`` as [8, 9, 16]."""
    try:
        lengths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bit lengths like 8,16,1024, got {text!r}") from None
    if not lengths or min(lengths) <= 0:
        raise argparse.ArgumentTypeError(f"bit lengths must be positive, got {text!r}")
    return lengths


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bits", type=bit_lengths, default=[8, 9, 16, 64, 256, 1024],
                   help="lengths to test, comma-separated (default 8,9,16,64,256,1024)")
    p.add_argument("--pairs", type=opt.positive_int, default=1000, help="fresh random pairs per length (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Exact-match accuracy (every bit of the sum right) per length, on fresh random pairs."""
    from .addition import load

    adder = load(run, args.device)
    rows = [adder.accuracy(bits, args.pairs) for bits in args.bits]
    if args.json:
        print(json.dumps({"trained_bits": adder.config["addition"]["bits"], "lengths": rows}))
        return
    print(f"trained on {adder.config['addition']['examples']} pairs of {adder.config['addition']['bits']}-bit numbers")
    print(f"{'bits':>6} {'pairs':>6} {'exact':>8} {'bits right':>11}")
    for r in rows:
        print(f"{r['bits']:>6} {r['pairs']:>6} {100 * r['exact']:>7.2f}% {100 * r['bit_accuracy']:>10.4f}%")


def add_add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("numbers", nargs=2, metavar="BINARY", help="two numbers in binary, e.g. 1011 110")
    p.add_argument("--device", default="cpu")


def add_from_args(run: str, args: argparse.Namespace) -> None:
    from ..data.addition import parse_binary
    from .addition import load

    a, b = (parse_binary(n) for n in args.numbers)
    total = load(run, args.device).add(a, b)
    print(f"{total:b}")
    if total != a + b:
        print(f"rnnkit: note: the network is wrong here: {args.numbers[0]} + {args.numbers[1]} = {a + b:b}",
              file=sys.stderr)


COMMANDS = {"add": ("add two binary numbers with a trained addition run", add_add_arguments, add_from_args)}
