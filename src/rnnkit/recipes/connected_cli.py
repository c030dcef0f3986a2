"""The connected-digits recipe's command line: ``train connected`` options, ``evaluate``, ``transcribe``.

    rnnkit train connected --data ../shared/data/fsdd --out runs/cd [--units digits|phonemes] [--divergence ctc|aligned]
    rnnkit evaluate runs/cd [--decoders greedy,beam,lexicon] [--utterances 1000] [--pause MIN MAX] [--json]
    rnnkit transcribe runs/cd a.wav [b.wav ...] [--decoder greedy|beam|lexicon] [--json] [--plot out.png]

``evaluate`` builds test utterances from the test recordings only (index 0-4), seeded, so every
model of the same data is scored on the same utterances.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import RnnkitError
from . import options as opt

DATA_OPTIONS = ("data", "units", "divergence", "features", "stack", "trim_db", "train_utterances",
                "dev_utterances", "max_digits", "pause", "snr_db")
MODEL_OPTIONS: list[opt.Option] = [
    ("--cell", "cell", str, "lstm, gru, rnn_tanh or rnn_relu (default lstm)"),
    ("--embedding-dim", "embedding_dim", opt.positive_int, "size of the frames' linear projection (default 128)"),
    ("--hidden-size", "hidden_size", opt.positive_int, "units of each recurrent layer and direction (default 128)"),
    ("--num-layers", "num_layers", opt.positive_int, "stacked recurrent layers (default 2)"),
    ("--dropout", "dropout", opt.fraction, "dropout on the projection, between layers and before the head (default 0.2)"),
]


def train_options() -> list[opt.Option]:
    from .connected import DEFAULT_TRAIN

    return [("--batch-size", "batch_size", opt.positive_int, f"utterances per batch (default {DEFAULT_TRAIN.batch_size})"),
            ("--patience", "patience", opt.non_negative_int,
             f"stop after this many evaluations without a lower dev error rate (default {DEFAULT_TRAIN.patience}; 0: never)"),
            *opt.trainer_options(DEFAULT_TRAIN)]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train connected``."""
    from .connected import ConnectedConfig as C

    p.add_argument("--data", default=None, metavar="DIR", help="a folder of {digit}_{speaker}_{index}.wav recordings")
    p.add_argument("--units", choices=["digits", "phonemes"], default=None,
                   help="outputs: the ten digits, or the phonemes of their words (default digits)")
    p.add_argument("--divergence", choices=["ctc", "aligned"], default=None,
                   help="CTC over the unit sequence, or per-frame targets with a pause class (default ctc)")
    p.add_argument("--features", choices=["logmel", "mfcc"], default=None, help="40 log-mels or 13 MFCCs (default logmel)")
    p.add_argument("--stack", type=opt.positive_int, default=None, help=f"frames side by side per step (default {C.stack})")
    p.add_argument("--trim-db", type=opt.positive_float, default=None, help="silence: this many dB below the loudest (default 40)")
    p.add_argument("--train-utterances", type=opt.positive_int, default=None,
                   help=f"training utterances to build (default {C.train_utterances})")
    p.add_argument("--dev-utterances", type=opt.non_negative_int, default=None,
                   help=f"dev utterances, for model selection (default {C.dev_utterances})")
    p.add_argument("--max-digits", type=opt.positive_int, default=None, help=f"digits per utterance: 1 to this (default {C.max_digits})")
    p.add_argument("--pause", type=opt.non_negative, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help=f"seconds of pause around the digits (default {C.pause_min} {C.pause_max})")
    p.add_argument("--snr-db", type=opt.finite, default=None, help=f"white noise this many dB below the speech (default {C.snr_db:g})")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_options(p, train_options())


def data_settings(args: argparse.Namespace) -> dict[str, Any]:
    out = {k: getattr(args, k) for k in DATA_OPTIONS if k != "pause" and getattr(args, k) is not None}
    if args.pause is not None:
        out["pause_min"], out["pause_max"] = args.pause
    return out


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train connected --data DIR --out RUN ...``"""
    from dataclasses import replace

    from .connected import DEFAULT_TRAIN, ConnectedConfig, train_connected

    if not args.data:
        raise RnnkitError("give --data DIR, a folder of {digit}_{speaker}_{index}.wav recordings")
    train = opt.train_settings(args, train_options(), new_run=True)
    train_connected(args.out, ConnectedConfig(**data_settings(args)), opt.given(args, MODEL_OPTIONS),
                    replace(DEFAULT_TRAIN, **opt.patience(train)))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train connected --resume RUN ...``"""
    from .connected import resume_connected

    opt.refuse_data_on_resume(args, DATA_OPTIONS, "data")
    resume_connected(args.resume, opt.given(args, MODEL_OPTIONS),
                     opt.patience(opt.train_settings(args, train_options(), new_run=False)))


# -- evaluate -----------------------------------------------------------------------------------
def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="DIR", help="recordings (default: the run's own --data)")
    p.add_argument("--decoders", default=None, help="comma-separated: greedy, beam, lexicon (default: all the model has)")
    p.add_argument("--utterances", type=opt.positive_int, default=None, help="test utterances to build (default 1000)")
    p.add_argument("--pause", type=opt.non_negative, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="seconds of pause around the test digits (default: as in training)")
    p.add_argument("--beam-size", type=opt.positive_int, default=16, help="beam of the searches (default 16)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Digit (and phoneme) error rates of each decoder on test utterances; utterances/s."""
    from .connected_eval import evaluate_run

    result = evaluate_run(run, args.data, args.decoders, args.utterances, args.pause, args.beam_size, args.device)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['utterances']} test utterances, {result['digits']} digits "
          f"({result['repeat_utterances']} utterances with a digit repeated back to back)")
    print(f"{'decoder':<8} {'DER':>7} {'repeats':>8} {'others':>7} {'PER':>7} {'utt/s':>7}")
    for name, r in result["decoders"].items():
        cell = lambda k: "-" if r.get(k) is None else f"{100 * r[k]:.2f}%"  # noqa: E731
        print(f"{name:<8} {cell('der'):>7} {cell('der_repeats'):>8} {cell('der_other'):>7} {cell('per'):>7} "
              f"{r['utterances_per_s']:>7.0f}")


# -- transcribe ---------------------------------------------------------------------------------
def add_transcribe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="WAV", help="recordings (any rate; mono or mixed down)")
    p.add_argument("--decoder", choices=["greedy", "beam", "lexicon"], default="greedy",
                   help="greedy (best path), beam (CTC prefix beam search) or lexicon (digit words only)")
    p.add_argument("--beam-size", type=opt.positive_int, default=16, help="beam of the searches (default 16)")
    p.add_argument("--json", action="store_true", help="one JSON object per file: file, digits, units, segments")
    p.add_argument("--plot", default=None, metavar="PNG", help="draw the posteriorgram and segments (one file only)")
    p.add_argument("--device", default="cpu")


def transcribe_from_args(run: str, args: argparse.Namespace) -> None:
    from .connected import load

    if args.plot and len(args.files) > 1:
        raise RnnkitError("--plot draws one recording: give one file")
    model = load(run, args.device)
    model.beam_size = args.beam_size
    transcripts = model.transcribe(args.files, args.decoder)
    if args.plot:
        from .connected_eval import plot_posteriorgram

        plot_posteriorgram(model, args.files[0], transcripts[0], args.plot)
    for path, t in zip(args.files, transcripts):
        if args.json:
            print(json.dumps({"file": path, **t.to_dict()}))
            continue
        said = " ".join(map(str, t.digits)) if t.digits is not None else " ".join(t.units)
        print(f"{path}\t{said}")
        for s in t.segments:
            print(f"  {s.symbol}\t{s.start:.2f}\t{s.end:.2f}")


COMMANDS = {"transcribe": ("the digits spoken in each recording, with their times", add_transcribe_arguments,
                           transcribe_from_args)}
