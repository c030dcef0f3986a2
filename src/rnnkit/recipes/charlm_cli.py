"""The charlm recipe's command line: ``train charlm`` options, ``evaluate`` and ``sample``.

    rnnkit train charlm --corpus input.txt --out runs/shakespeare [--time-budget 900]
    rnnkit train charlm --corpus tunes/ --documents '^X:' --test-fraction 0.1 --out runs/tunes
    rnnkit evaluate runs/shakespeare --corpus held_out.txt [--json]
    rnnkit evaluate runs/tunes --split test
    rnnkit sample runs/tunes --prime 'X:' --stop --num-samples 100

``sample`` serves every language model (charlm and wordlm share it).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from typing import Any, Callable, Iterator

from ..configs import from_dict
from ..data.corpus import read_corpus
from ..data.documents import END, join_documents, split_documents
from ..decoding.sampling import check_sampling_args
from ..errors import RnnkitError
from . import options as opt

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


def train_options() -> list[opt.Option]:
    from .charlm import DEFAULT_TRAIN as D

    return [("--batch-size", "batch_size", opt.positive_int, f"streams per batch (default {D.batch_size})"),
            ("--bptt", "bptt", opt.positive_int, f"steps per truncated-BPTT segment (default {D.bptt})"),
            ("--dropout-from", "dropout_from", opt.non_negative,
             f"passes over the training text before dropout starts (default {D.dropout_from:g}; 0: from the start)"),
            ("--dropout-ramp", "dropout_ramp", opt.non_negative,
             f"passes over which dropout then rises to --dropout (default {D.dropout_ramp:g})"),
            *opt.trainer_options(D)]
DATA_OPTIONS = ("corpus", "include", "max_chars", "valid_fraction", "max_valid_chars", "documents", "test_fraction",
                "split_seed", "prepared", "block_segments")
# What `rnnkit prepare` fixed for prepared data (--data): given beside it, an error.
PREPARED_FIXES = ("corpus", "include", "max_chars", "valid_fraction", "documents", "test_fraction", "split_seed")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train charlm``."""
    p.add_argument("--corpus", default=None, help="python (default), linux, or a file, directory or tar archive")
    p.add_argument("--data", dest="prepared", default=None, metavar="DIR",
                   help="a corpus prepared with 'rnnkit prepare' (any size: memory-mapped, split by file) "
                        "instead of --corpus")
    p.add_argument("--block-segments", type=opt.non_negative_int, default=None,
                   help="train on shuffled blocks of this many BPTT segments, each row's state carried within its "
                        "block (default 64 with --data, whose runs read a share of a big corpus; 0 with --corpus: "
                        "--batch-size streams through the whole text)")
    p.add_argument("--include", default=None, help="comma-separated globs of files to read from a directory or archive")
    p.add_argument("--max-chars", type=opt.positive_int, default=None, help="read at most this many characters (default 20M)")
    p.add_argument("--valid-fraction", type=opt.fraction, default=None, help="last fraction of the text for validation (default 0.1)")
    p.add_argument("--max-valid-chars", type=opt.positive_int, default=None,
                   help="score at most this many validation characters at each evaluation (default 250,000)")
    p.add_argument("--documents", default=None, metavar="REGEX",
                   help="the corpus is documents, each starting at a line that matches this, e.g. '^X:' for ABC "
                        "tunes: split by document (a seeded shuffle) instead of the last --valid-fraction of the text")
    p.add_argument("--test-fraction", type=opt.fraction, default=None,
                   help="with --documents: documents held out for testing (default 0)")
    p.add_argument("--split-seed", type=int, default=None, help="with --documents: the shuffle's seed (default 0)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_regulariser_arguments(p, " (default off)")
    opt.add_options(p, train_options())


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    return {**opt.given(args, MODEL_OPTIONS), **opt.regulariser_settings(args)}


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train charlm --out RUN ...``"""
    from .charlm import DEFAULT_TRAIN, DataConfig, train_charlm

    data = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    if args.prepared is not None:
        fixed = [k for k in PREPARED_FIXES if k in data]
        if fixed:
            raise RnnkitError(f"--data is prepared data: its corpus and split were fixed by rnnkit prepare "
                              f"(drop --{fixed[0].replace('_', '-')})")
    train = opt.train_settings(args, train_options(), new_run=True)
    train_charlm(args.out, from_dict(DataConfig, data), _model_args(args), replace(DEFAULT_TRAIN, **train))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train charlm --resume RUN ...``"""
    from .charlm import resume_charlm

    if args.prepared is not None:
        raise RnnkitError("--resume reads the run's own corpus or data settings; drop --data")
    opt.refuse_data_on_resume(args, DATA_OPTIONS, "corpus or data")
    resume_charlm(args.resume, _model_args(args), opt.train_settings(args, train_options(), new_run=False))


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit evaluate RUN`` for a charlm run."""
    p.add_argument("--corpus", default=None, help="file, directory, archive, or a named corpus")
    p.add_argument("--data", dest="prepared", default=None, metavar="DIR",
                   help="prepared data (rnnkit prepare): score its --split part (default test)")
    p.add_argument("--include", default=None, help="comma-separated globs")
    p.add_argument("--max-chars", type=opt.positive_int, default=None,
                   help="score at most this many characters (with --data: evenly spaced windows of the part)")
    p.add_argument("--split", choices=["valid", "test"], default=None,
                   help="a run trained with --documents: score its own held-out documents instead of --corpus; "
                        "with --data: the prepared part to score")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def held_out_documents(lm: Any, split: str) -> list[str]:
    """The run's own ``split`` documents (its corpus split again, with its settings)."""
    from .charlm import DataConfig

    data = from_dict(DataConfig, lm.config["data"])
    if not data.documents:
        raise RnnkitError("--split reads the held-out documents of a run trained with --documents; give --corpus")
    parts = split_documents(read_corpus(data.corpus, data.include, data.max_chars).text, data.documents,
                            data.valid_fraction, data.test_fraction, data.split_seed)
    if not parts[split]:
        raise RnnkitError(f"this run holds out no {split} documents (--{split}-fraction 0)")
    return parts[split]


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Cross-entropy of the run's model on a text: nats and bits per character."""
    from .charlm import load

    lm = load(run)
    if args.prepared is not None:
        result = _score_prepared(lm, args)
    elif (args.corpus is None) == (args.split is None):
        raise RnnkitError("give --corpus (a text to score) or --split valid|test (a document run's own), not both "
                          "(or --data: prepared data)")
    elif args.split:
        docs = held_out_documents(lm, args.split)
        result = {**lm.score(END + join_documents(docs)), "documents": len(docs), "split": args.split}
    else:
        corpus = read_corpus(args.corpus, args.include, args.max_chars)
        result = lm.score(corpus.text)
        result["replaced_invalid_utf8"] = corpus.stats.replaced_chars
        result["skipped_binary_files"] = corpus.stats.skipped_binary
    if args.json:
        print(json.dumps(result))
    else:
        unknown = f" ({result['unknown_chars']} outside the vocabulary)" if "unknown_chars" in result else ""
        print(f"{result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char over "
              f"{result['chars']} characters{unknown}")


def _score_prepared(lm: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate RUN --data DIR``: the run's model on a part of prepared data (files it never saw)."""
    from ..data.prepared import open_prepared

    if args.corpus is not None or args.include is not None:
        raise RnnkitError("give --data (prepared) or --corpus, not both")
    prepared = open_prepared(args.prepared)
    if prepared.vocab != lm.vocab:
        raise RnnkitError(f"{args.prepared} was prepared with another vocabulary than this run's: "
                          "score it with a run trained on it, or give --corpus")
    part = args.split or "test"
    total = int(prepared.manifest["parts"][part]["chars"])
    ids = prepared.spread(part, args.max_chars or total)
    return {**lm.score_ids(ids, precision="auto"), "part": part, "files": prepared.manifest["parts"][part]["files"],
            "part_chars": total}


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit sample RUN``."""
    p.add_argument("--prime", default="", help="text to start from (default: a newline)")
    p.add_argument("--length", type=opt.non_negative_int, default=None,
                   help="symbols to generate (default 500; tune runs: up to 3000, ending with the tune)")
    p.add_argument("--temperature", type=opt.non_negative, default=None,
                   help="0 is greedy (default 1.0; tune runs 0.2, where their kinds were measured)")
    p.add_argument("--top-k", type=opt.positive_int, default=None)
    p.add_argument("--top-p", type=opt.probability, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", nargs="?", const="", default=None, metavar="STRING",
                   help="stop right after writing this string; --stop alone: where the model ends the document "
                        "(runs trained with --documents)")
    p.add_argument("--midi", default=None, metavar="FILE.mid",
                   help="ABC samples: also write each as a MIDI file (with --num-samples N: FILE-1.mid ... FILE-N.mid)")
    p.add_argument("--condition", default=None, metavar="KIND",
                   help="tune runs: the kind of tune to generate (jig, reel, waltz, ...: the run's kinds)")
    p.add_argument("--meter", default=None, metavar="M",
                   help="tune runs conditioned on the meter: write in this one (6/8, 3/4, ...; default: one of the "
                        "kind's meters, drawn as often as its training tunes have it)")
    p.add_argument("--guidance", type=opt.non_negative, default=None, metavar="S",
                   help="tune runs trained with --condition-dropout: the classifier-free guidance scale "
                        "(1: none; default: the kind's own, chosen by the run once trained), on each tune's header")
    p.add_argument("--guide-body", action="store_true",
                   help="tune runs: guide every character of the tune, not only its header")
    p.add_argument("--num-samples", type=opt.positive_int, default=1, help="streams drawn as one batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                   help="how the recurrent matrices are kept while sampling: fp32 (exact), bf16, or int8 "
                        "(weight-only, per-row scales); default auto: the fastest measured for this many streams "
                        "on this kind of CPU (int8 for few streams, then bf16 where the CPU has it natively, "
                        "else fp32; see README)")


def print_samples(load_lm: Callable[[str, str], Any], run: str, args: argparse.Namespace,
                  show: Callable[[str], str], show_stream: Callable[[Iterator[str]], Iterator[str]] | None = None) -> None:
    """The ``sample`` command of any language model: ``--num-samples`` continuations of ``--prime``
    from the model ``load_lm(run, device)``, each printed as ``show(continuation)``. One sample
    (without ``--midi``) is written as it is drawn instead: ``show_stream`` of the model's
    ``stream`` pieces, the same text."""
    lm = load_lm(run, args.device)
    length = args.length if args.length is not None else getattr(lm, "default_length", 500)
    temperature = args.temperature if args.temperature is not None else getattr(lm, "default_temperature", 1.0)
    check_sampling_args(length, temperature, args.top_k, args.top_p, args.num_samples)
    options = dict(temperature=temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                   stop=args.stop or None, precision=args.precision)
    if args.condition is not None:
        if not hasattr(lm, "kinds"):
            raise RnnkitError("--condition picks the kind of tune: it needs a tune run")
        options["condition"] = args.condition
    if args.meter is not None:
        if not hasattr(lm, "kinds"):
            raise RnnkitError("--meter picks the meter of a tune: it needs a tune run")
        options["meter"] = args.meter
    if args.guidance is not None:
        if not hasattr(lm, "kinds"):
            raise RnnkitError("--guidance strengthens a tune's kind: it needs a tune run")
        options["guidance"] = args.guidance
    if args.guide_body:
        if not hasattr(lm, "kinds"):
            raise RnnkitError("--guide-body says where a tune's guidance applies: it needs a tune run")
        options["guide_body"] = True
    if args.stop == "":  # --stop alone
        if not getattr(lm, "documents", False):
            raise RnnkitError("--stop alone stops where the model ends a document: it needs a charlm run trained "
                              "with --documents (or give --stop STRING)")
        options["end_of_document"] = True
    if args.num_samples == 1 and args.midi is None and show_stream is not None:
        for piece in show_stream(lm.stream(args.prime, length, **options)):
            sys.stdout.write(piece)
            sys.stdout.flush()  # a reader sees each symbol as it is drawn (| head ends it at once)
        sys.stdout.write("\n")
        return
    texts = lm.sample_many(args.num_samples, args.prime, length, **options)
    for i, text in enumerate(texts):
        if args.num_samples > 1:
            print(f"--- sample {i + 1}")
        sys.stdout.write(show(text) + "\n")
    if args.midi is not None:
        write_midis([show(text) for text in texts], args.midi)


def write_midis(tunes: list[str], path: str) -> None:
    """Each sampled ABC tune as a MIDI file (``path``, or ``path``-1.mid ... for several); a tune
    that is not ABC rnnkit can read is named on stderr, and if none is, that is an error."""
    from ..data.midi import write_tune_midi

    stem = path[:-4] if path.lower().endswith(".mid") else path
    failed = []
    for i, tune in enumerate(tunes, 1):
        out = path if len(tunes) == 1 else f"{stem}-{i}.mid"
        try:
            write_tune_midi(tune, out)
        except RnnkitError as exc:
            failed.append(f"sample {i}: {exc}")
            if len(failed) < len(tunes):
                print(f"rnnkit: {out} not written: {exc}", file=sys.stderr)
    if failed and len(failed) == len(tunes):
        raise RnnkitError(f"no sample could be written as MIDI ({failed[0]})")


def sample_from_args(run: str, args: argparse.Namespace) -> None:
    """Print ``--num-samples`` continuations of ``--prime``, each after the prime."""
    from .charlm import load

    print_samples(load, run, args, lambda text: args.prime + text, lambda pieces: itertools.chain([args.prime], pieces))


# Subcommands of this task beyond train and evaluate: name -> (help, add_arguments, run).
COMMANDS = {"sample": ("generate text from a language model", add_sample_arguments, sample_from_args)}
