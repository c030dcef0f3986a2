"""The tune recipe's command line: ``train tune`` options and ``evaluate``; ``sample`` is the
language models' shared command with ``--condition KIND``.

    rnnkit train tune --data ABC_FOLDER --out runs/tunes [--no-condition | --condition-meter] [--no-bar-position]
                      [--no-bar-count | --no-section-count] [--condition-dropout P] [--guidance-samples N]
    rnnkit evaluate runs/tunes [--split valid|test] [--samples 100] [--temperature T] [--guidance S] [--json]

``evaluate`` scores the run's held-out tunes (nats/char, each read from its own kind) and draws
``--samples`` tunes of every kind with at least ``--min-tunes`` training tunes, counting the
share whose meter is one of the kind's (its training tunes' meters, ``data.tunes.kind_meters``),
whose every bar adds up (``data.abc.check_tune``) and that end (the net writes the end mark). An
unconditioned run draws ``--samples`` tunes in all, and each kind's share counts those of them
that would pass for that kind.
"""
from __future__ import annotations

import argparse
import json

from . import options as opt
from .charlm_cli import add_sample_arguments, print_samples
from .tune_eval import generation_report, score_held_out

DATA_OPTIONS = ("data", "valid_fraction", "test_fraction", "split_seed")
MODEL_OPTIONS: list[opt.Option] = [
    ("--embedding-dim", "embedding_dim", opt.positive_int, "character embedding size (default 64)"),
    ("--hidden-size", "hidden_size", opt.positive_int, "units per layer (default 256)"),
    ("--num-layers", "num_layers", opt.positive_int, "LSTM layers (default 2)"),
    ("--dropout", "dropout", opt.fraction, "dropout on the input, between layers and before the head (default 0.3)"),
]


def train_options() -> list[opt.Option]:
    from .tune import DEFAULT_TRAIN

    return [("--batch-size", "batch_size", opt.positive_int, f"tunes per batch (default {DEFAULT_TRAIN.batch_size})"),
            ("--patience", "patience", opt.non_negative_int, "stop after this many evaluations without a better "
                                                             "kept score (valid_fit, or valid loss; default: none)"),
            *opt.trainer_options(DEFAULT_TRAIN)]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train tune``."""
    p.add_argument("--data", default=None, metavar="PATH", help="an .abc file or a folder of them")
    p.add_argument("--valid-fraction", type=opt.fraction, default=None, help="share of tunes for validation (default 0.1)")
    p.add_argument("--test-fraction", type=opt.fraction, default=None, help="share of tunes for test (default 0.1)")
    p.add_argument("--split-seed", type=int, default=None, help="seed of the split by tune (default 0)")
    p.add_argument("--no-condition", action="store_true",
                   help="start every tune from a zero state (the unconditioned model, to compare with)")
    p.add_argument("--no-balance", action="store_true",
                   help="read every tune once a pass (default: the tunes of rare kinds more often, the square root "
                        "of how much rarer than the commonest kind)")
    p.add_argument("--balance", action="store_true", help="the default since 2026-12-06 (kept for old commands)")
    p.add_argument("--condition-meter", action="store_true",
                   help="the tune's meter (M:) is a condition too, beside the kind; generation draws it from the "
                        "kind's own meters, or takes sample --meter (default: the kind alone)")
    p.add_argument("--condition-dropout", type=opt.fraction, default=None, metavar="P",
                   help="read this share of training tunes as of no kind, so that sampling can guide each tune "
                        "towards its kind (sample --guidance; default 0.1; 0: no such reads, no guidance)")
    p.add_argument("--condition-at", choices=("state", "every-step"), default=None,
                   help="where the kind enters: the initial state only (the lecture's single input), "
                        "or that and every step's input (the default)")
    p.add_argument("--no-bar-position", action="store_true",
                   help="the net reads the characters alone, not with how full each one leaves the running bar "
                        "(default: with it)")
    p.add_argument("--no-bar-count", action="store_true",
                   help="the net reads each character's place in the bar but not how many bars the tune has "
                        "closed so far (default: both)")
    p.add_argument("--no-section-count", action="store_true",
                   help="the net reads the bars the tune has closed but not those its running part has "
                        "(default: both)")
    p.add_argument("--select-samples", type=opt.non_negative_int, default=None,
                   help="tunes drawn per kind at each evaluation; the run keeps the weights whose worst kind writes "
                        "the most new tunes that pass for it (default 0: keep the lowest valid loss)")
    p.add_argument("--select-temperature", type=opt.non_negative, default=None,
                   help="the temperature those tunes are drawn at (default 0.2)")
    p.add_argument("--guidance-samples", type=opt.non_negative_int, default=None, metavar="N",
                   help="once trained, draw N tunes of each kind with 30 or more training tunes at guidance 1, 1.5, "
                        "2 and 3 and temperature 0.2 and 0.3; keep for each kind the scale whose tunes pass most, "
                        "and the temperature whose worst kind passes most, for sample and evaluate "
                        "(default 50; 0: every kind at guidance 1.5, temperature 0.2)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_options(p, train_options())


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train tune --data PATH --out RUN ...``"""
    import os
    from dataclasses import replace

    from ..errors import RnnkitError
    from .tune import DEFAULT_TRAIN, DataConfig, train_tune
    from .tune_eval import FitCheck, GuidanceChoice

    given = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    if "data" in given:
        given["data"] = os.path.abspath(given["data"])  # --resume and evaluate find it from any folder
    if args.balance and args.no_balance:
        raise RnnkitError("--balance and --no-balance contradict each other: give one")
    data = DataConfig(**given, condition=not args.no_condition, balance=not args.no_balance,
                      meter=args.condition_meter, **({"condition_dropout": args.condition_dropout}
                                                     if args.condition_dropout is not None else {}))
    if args.no_condition and args.condition_dropout:
        raise RnnkitError("--condition-dropout drops the kind now and then: drop it with --no-condition")
    if args.no_condition and args.condition_at:
        raise RnnkitError("--condition-at says where the kind enters: drop it with --no-condition")
    if args.no_condition and args.condition_meter:
        raise RnnkitError("--condition-meter adds the meter to the kind: drop it with --no-condition")
    if args.no_condition and args.select_samples:
        raise RnnkitError("--select-samples draws tunes of each kind: drop it with --no-condition")
    if args.guidance_samples and (args.no_condition or args.condition_dropout == 0):
        raise RnnkitError("--guidance-samples chooses each kind's guidance scale: it needs a run trained with "
                          "--condition-dropout above 0")
    if args.select_temperature is not None and not args.select_samples:
        raise RnnkitError("--select-temperature is the temperature of --select-samples' draws: give --select-samples N")
    model = {**opt.given(args, MODEL_OPTIONS), **({"condition_input": args.condition_at == "every-step"}
                                                  if args.condition_at else {}),
             **({"step_classes": 0, "step_counts": 0, "step_sections": 0} if args.no_bar_position else {}),
             **({"step_counts": 0, "step_sections": 0} if args.no_bar_count else {}),
             **({"step_sections": 0} if args.no_section_count else {})}
    train = opt.train_settings(args, train_options(), new_run=True)
    check = FitCheck(**{k: v for k, v in (("samples", args.select_samples), ("temperature", args.select_temperature))
                        if v is not None})
    guide = GuidanceChoice(**({"samples": args.guidance_samples} if args.guidance_samples is not None else {}))
    train_tune(args.out, data, model, replace(DEFAULT_TRAIN, **opt.patience(train)), check=check, guide=guide)


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train tune --resume RUN ...``"""
    from ..errors import RnnkitError
    from .tune import resume_tune

    opt.refuse_data_on_resume(args, DATA_OPTIONS, "data")
    if (args.no_condition or args.condition_at or args.balance or args.no_balance or args.condition_meter
            or args.no_bar_position
            or args.no_bar_count or args.no_section_count
            or args.select_samples is not None or args.select_temperature is not None
            or args.condition_dropout is not None or args.guidance_samples is not None):
        raise RnnkitError("--resume reads the run's own settings; drop --no-condition, --condition-meter, "
                          "--condition-at, --condition-dropout, --balance, --no-balance, --no-bar-position, --no-bar-count, "
                          "--no-section-count, --select-samples, --select-temperature and --guidance-samples")
    resume_tune(args.resume, opt.given(args, MODEL_OPTIONS),
                opt.patience(opt.train_settings(args, train_options(), new_run=False)))


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit evaluate RUN`` for a tune run."""
    p.add_argument("--split", choices=["valid", "test"], default="test", help="held-out tunes to score (default test)")
    p.add_argument("--samples", type=opt.non_negative_int, default=100,
                   help="tunes to generate per kind (unconditioned: in all); 0: none (default 100)")
    p.add_argument("--min-tunes", type=opt.positive_int, default=30,
                   help="generate for the kinds with at least this many training tunes (default 30)")
    p.add_argument("--temperature", type=opt.non_negative, default=None,
                   help="sampling temperature (default: as sample draws tunes, the run's, chosen after training, "
                        "else 0.2)")
    p.add_argument("--guidance", type=opt.non_negative, default=None,
                   help="classifier-free guidance scale for runs trained with --condition-dropout (1: none; "
                        "default: each kind's, chosen after training), on each tune's header")
    p.add_argument("--guide-body", action="store_true",
                   help="guide every character of the tunes, not only their headers")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Held-out nats/char and the generated tunes' meters and bars."""
    from ..data.tunes import music_of
    from .tune import held_out, load

    gen = load(run, args.device)
    guidance = gen.guidance_scale(args.guidance, args.guide_body)  # refused before the held-out tunes are read
    if args.guidance is None and not args.guide_body and gen.kind_guidance:
        guidance = None  # each kind's own (generation_report says which)
    temperature = gen.default_temperature if args.temperature is None else args.temperature
    known = frozenset(music_of(t.text) for t in held_out(run, "train")) if args.samples else frozenset()
    result = {"split": args.split, "step": gen.step, "conditioned": gen.conditioned,
              **score_held_out(gen, held_out(run, args.split)), "temperature": temperature, "guidance": guidance,
              "guide_body": args.guide_body,
              "generated": generation_report(gen, args.samples, args.min_tunes, temperature, args.seed, known,
                                             guidance, args.guide_body)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.split}: {result['tunes']} tunes, {result['nats_per_char']:.4f} nats/char "
          f"({result['bits_per_char']:.4f} bits/char)")
    if result["generated"]:
        where = " on every character" if args.guide_body else " on the headers"
        said = "each kind's guidance on the headers" if guidance is None else (
            f"guidance {guidance:g}{where}" if guidance != 1 else "")
        print(f"generated at temperature {temperature:g}" + (f", {said}" if said else ""))
    for kind, r in result["generated"].items():
        print(f"{kind:>12}: {r['samples']} generated" + (f" at guidance {r['guidance']:g}" if guidance is None else "")
              + f", meter {'/'.join(r['meters'])} {100 * r['meter_fits']:.0f}%, "
              f"bars add up {100 * r['bars_add_up']:.0f}%, ended {100 * r['ended']:.0f}%, "
              f"all three {100 * r['both']:.0f}%; "
              f"distinct {100 * r['distinct']:.0f}%, copies of training tunes {100 * r['copied']:.0f}%")


def sample_from_args(run: str, args: argparse.Namespace) -> None:
    """``rnnkit sample RUN --condition KIND``: whole tunes."""
    from .tune import load

    print_samples(load, run, args, lambda text: text, lambda pieces: pieces)


# The language models' shared command (its options include --condition).
COMMANDS = {"sample": ("generate text from a language model", add_sample_arguments, sample_from_args)}
