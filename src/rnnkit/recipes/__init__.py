"""Recipes: one small module per task, and the one registry that names them.

A recipe module composes library parts into a task and owns its defaults. The CLI and
``rnnkit.load`` know recipes only through this interface::

    TASK                                    the name in config.json and on the command line
    add_train_arguments(parser)             options of ``rnnkit train TASK``
    train_from_args(args)                   a new run into ``args.out``
    resume_from_args(args)                  continue ``args.resume``
    add_evaluate_arguments(parser)          options of ``rnnkit evaluate RUN`` for a run of this task
    evaluate_from_args(run_dir, args)       print the evaluation
    load(run_dir, device) -> predictor      what ``rnnkit.load`` returns (LanguageModel, Tagger, ...)
    COMMANDS                                {name: (help, add_arguments, run(run_dir, args))}: its own
                                            subcommands (``sample``, ``tag``); recipes may share one
                                            (charlm and wordlm: ``sample``) with the same add_arguments

Adding a task is a new module here and one line in :data:`RECIPES`.
"""
from __future__ import annotations

import os
from types import ModuleType

from ..errors import RnnkitError
from ..training.checkpoint import read_json
from . import addition, charlm, connected, digits, g2p, tagger, tune, wordlm

RECIPES: dict[str, ModuleType] = {"charlm": charlm, "wordlm": wordlm, "tagger": tagger, "digits": digits,
                                  "connected": connected, "addition": addition, "g2p": g2p, "tune": tune}


def task_of(run_dir: str) -> str:
    """The task of a run folder, from its config.json."""
    if not os.path.isdir(run_dir):
        raise RnnkitError(f"run folder not found: {run_dir}")
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(task, str) or task not in RECIPES:
        raise RnnkitError(f"{run_dir}/config.json names no known task ({task!r}; known: {', '.join(RECIPES)})")
    return task


def a_run(task: str) -> str:
    """'a charlm run', 'an addition run'.

    >>> a_run("addition"), a_run("tagger")
    ('an addition run', 'a tagger run')
    """
    return f"{'an' if task[:1] in 'aeiou' else 'a'} {task} run"


def recipe_of_run(run_dir: str, needs: str | None = None) -> ModuleType:
    """The recipe that made ``run_dir``; with ``needs`` (a task name) any other task is an error."""
    task = task_of(run_dir)
    if needs is not None and task != needs:
        raise RnnkitError(f"{run_dir} is {a_run(task)}; this command needs {a_run(needs)}")
    return RECIPES[task]
