"""Command-line options every recipe shares: checked argparse types and the trainer's settings.

A recipe declares its own options as ``(flag, dest, type, help)`` rows; :func:`add_options`
puts them on a parser with ``None`` defaults ("not given: the recipe's default") and
:func:`given` reads back the ones the user set.

>>> positive_int("3"), fraction("0.5")
(3, 0.5)
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a positive integer, got '0'
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import replace
from typing import Any, Callable

from ..configs import from_dict
from ..errors import RnnkitError
from ..training.checkpoint import read_json
from ..training.trainer import TrainConfig

Option = tuple[str, str, Any, str]  # (flag, dest, type, help)


def checked(kind: type, ok: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    """An argparse type: parse ``text`` as ``kind`` and require ``ok(value)``, else say ``what`` was expected."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (kind is float and not math.isfinite(value)) or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


positive_int = checked(int, lambda v: v > 0, "a positive integer")
positive_float = checked(float, lambda v: v > 0, "a positive number")
non_negative = checked(float, lambda v: v >= 0, "a number >= 0")
fraction = checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
non_negative_int = checked(int, lambda v: v >= 0, "an integer >= 0")
finite = checked(float, lambda v: True, "a finite number")
probability = checked(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def trainer_options(d: TrainConfig) -> list[Option]:
    """The options of the shared trainer, their help naming the recipe's defaults ``d``."""
    return [
        ("--lr", "lr", positive_float, f"peak learning rate of AdamW (default {d.lr:g})"),
        ("--warmup-steps", "warmup_steps", non_negative_int, f"linear warmup steps (default {d.warmup_steps})"),
        ("--weight-decay", "weight_decay", non_negative, f"AdamW weight decay on matrices (default {d.weight_decay:g})"),
        ("--clip-norm", "clip_norm", positive_float, f"gradient-norm clipping threshold (default {d.clip_norm:g})"),
        ("--average", "average", fraction, "evaluate and keep a moving average of the weights with this decay, e.g. "
                                           f"0.999; 0: off (default {d.average:g}{': off' if not d.average else ''})"),
        ("--max-steps", "max_steps", positive_int, "stop after this many steps in total"),
        ("--time-budget", "time_budget", positive_float, "stop after this many seconds of training in total"),
        ("--eval-interval", "eval_interval", non_negative,
         f"seconds between validations (default {d.eval_interval:g}; 0: only at the end)"),
        ("--checkpoint-interval", "checkpoint_interval", positive_float,
         f"seconds between checkpoints (default {d.checkpoint_interval:g})"),
        ("--log-interval", "log_interval", positive_int, f"steps between metrics.jsonl records (default {d.log_interval})"),
        ("--seed", "seed", int, f"random seed (default {d.seed})"),
        ("--device", "device", str, "auto, cpu or cuda (default auto)"),
        ("--precision", "precision", str, "auto, fp32 or bf16 autocast (default auto: bf16 where the hardware has it)"),
    ]


# The regularisers of ModelConfig (Merity et al. 2017), the same options for every recipe whose model
# is a SequenceModel; None defaults mean "the recipe's default".
REGULARISER_OPTIONS: list[Option] = [
    ("--input-dropout", "input_dropout", fraction, "dropout on the input projection (default: --dropout)"),
    ("--between-dropout", "between_dropout", fraction, "dropout between stacked layers (default: --dropout)"),
    ("--output-dropout", "output_dropout", fraction, "dropout before the output head (default: --dropout)"),
    ("--embedding-dropout", "embedding_dropout", fraction, "drop whole symbols from the embedding with this probability"),
    ("--weight-drop", "weight_drop", fraction, "DropConnect on the recurrent matrices (lstm, gru, rnn)"),
    ("--ar", "ar", non_negative, "activation regularisation: weight of mean(output ** 2)"),
    ("--tar", "tar", non_negative, "temporal activation regularisation: weight of mean((h_t - h_{t-1}) ** 2)"),
]


def add_regulariser_arguments(parser: argparse.ArgumentParser, defaults: str = "", tie_defaults: str | None = None) -> None:
    """The regulariser options, ``--locked-dropout/--no-locked-dropout`` and ``--tie-weights/--no-tie-weights``;
    ``defaults`` ends both helps (``tie_defaults``, when given, the second's)."""
    add_options(parser, REGULARISER_OPTIONS)
    parser.add_argument("--locked-dropout", action=argparse.BooleanOptionalAction, default=None,
                        help="one dropout mask per sequence for a whole segment, the same at every step" + defaults)
    parser.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=None,
                        help="share the embedding and output matrices"
                             + (defaults if tie_defaults is None else tie_defaults))


def regulariser_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The regulariser settings the user gave, by ModelConfig field."""
    out = given(args, REGULARISER_OPTIONS)
    for name in ("locked_dropout", "tie_weights"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    return out


def add_options(parser: argparse.ArgumentParser, options: list[Option]) -> None:
    for flag, dest, typ, help_text in options:
        parser.add_argument(flag, dest=dest, type=typ, default=None, help=help_text)


def given(args: argparse.Namespace, options: list[Option]) -> dict[str, Any]:
    """The options of ``options`` the user set, by dest."""
    return {dest: getattr(args, dest) for _, dest, _, _ in options if getattr(args, dest) is not None}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--out, --resume and --no-progress: where a run goes, and how it reports."""
    parser.add_argument("--out", default=None, help="run folder to create")
    parser.add_argument("--resume", default=None, metavar="RUN", help="continue the run in this folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def train_settings(args: argparse.Namespace, options: list[Option], new_run: bool) -> dict[str, Any]:
    """The trainer settings given on the command line; a new run with no stop trains 300 s."""
    train = given(args, options)
    if args.no_progress:
        train["progress"] = False
    if new_run and "max_steps" not in train and "time_budget" not in train:
        train["time_budget"] = 300.0
    return train


def patience(train: dict[str, Any]) -> dict[str, Any]:
    """Trainer settings with ``--patience 0`` read as "no early stopping" (None).

    >>> patience({"patience": 0}), patience({"patience": 5}), patience({})
    ({'patience': None}, {'patience': 5}, {})
    """
    return {**train, "patience": train["patience"] or None} if "patience" in train else train


def refuse_data_on_resume(args: argparse.Namespace, data_dests: tuple[str, ...], what: str = "data") -> None:
    """A resumed run reads its own data settings: giving any is an error naming the first."""
    data_given = [f for f in data_dests if getattr(args, f) is not None]
    if data_given:
        raise RnnkitError(f"--resume reads the run's own {what} settings; drop --{data_given[0].replace('_', '-')}")


# What a resumed run may set anew, for every task: when to stop, how to report, where to run.
RESUME_MAY_CHANGE = {"time_budget", "max_steps", "eval_interval", "checkpoint_interval", "log_interval",
                     "progress", "device", "precision"}


def resume_settings(out: str, task: str, model_config: type, model_overrides: dict[str, Any] | None,
                    train_overrides: dict[str, Any] | None) -> tuple[dict[str, Any], Any, TrainConfig]:
    """The run's config.json, its model config and its training config with the allowed overrides
    (:data:`RESUME_MAY_CHANGE`); a missing run, another task, a changed model shape or any other
    training change is an error."""
    config = read_json(os.path.join(out, "config.json"), "run configuration") if os.path.isdir(out) else None
    if config is None:
        raise RnnkitError(f"run folder not found: {out}")
    if config.get("task") != task:
        raise RnnkitError(f"{out} is a {config.get('task')!r} run, not a {task} run")
    model_cfg = from_dict(model_config, config["model"])
    changed = {k: v for k, v in (model_overrides or {}).items() if v is not None and getattr(model_cfg, k) != v}
    if changed:
        k, v = next(iter(changed.items()))
        raise RnnkitError(f"--resume cannot change the model shape: the run has {k}={getattr(model_cfg, k)}, {v} was given")
    fixed = sorted(set(train_overrides or {}) - RESUME_MAY_CHANGE)
    if fixed:
        raise RnnkitError(f"--resume cannot change {fixed[0].replace('_', '-')}: it would not continue the same run")
    train = replace(from_dict(TrainConfig, config["train"]), **(train_overrides or {})).validate()
    return config, model_cfg, train
