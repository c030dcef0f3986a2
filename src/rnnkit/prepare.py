"""``rnnkit prepare``: encode a corpus of any size once, for training from memory-mapped files.

    rnnkit prepare --corpus /usr/src/linux-source-6.1.tar.xz --include '*.c,*.h' --out data/linux
    rnnkit train charlm --data data/linux --out runs/linux --time-budget 900
    rnnkit evaluate runs/linux --data data/linux --split test

See :mod:`rnnkit.data.prepared` for the folder it writes and how it splits.
"""
from __future__ import annotations

import argparse
import json
import sys

from .data.prepared import PrepareConfig, prepare
from .recipes.options import fraction, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="python, linux, or a file, directory or tar archive")
    p.add_argument("--include", default=None, help="comma-separated globs of files to read (default: the named "
                                                   "corpus's, else every file)")
    p.add_argument("--out", required=True, help="the folder to write (replaced only once the new one is complete)")
    p.add_argument("--valid-fraction", type=fraction, default=0.01, help="share of files held out for validation "
                                                                          "(default 0.01)")
    p.add_argument("--test-fraction", type=fraction, default=0.01, help="share of files held out for testing "
                                                                         "(default 0.01)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the split by file (default 0)")
    p.add_argument("--max-vocab", type=positive_int, default=256,
                   help="characters kept, the most frequent in the training files (default 256: one byte per id)")
    p.add_argument("--json", action="store_true", help="print the manifest as one JSON object")


def run_from_args(args: argparse.Namespace) -> None:
    cfg = PrepareConfig(corpus=args.corpus, include=args.include, valid_fraction=args.valid_fraction,
                        test_fraction=args.test_fraction, split_seed=args.split_seed, max_vocab=args.max_vocab)
    manifest = prepare(cfg, args.out, progress=lambda message: print(f"rnnkit: {message}", file=sys.stderr))
    if args.json:
        print(json.dumps(manifest))
        return
    for part, info in manifest["parts"].items():
        print(f"{part}: {info['files']} files, {info['chars']} characters ({info['dtype']})")
    print(f"vocabulary {manifest['vocab_size']}; {manifest['seconds']:.0f} s; written to {args.out}")
