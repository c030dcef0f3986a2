"""The ``rnnkit`` command: subcommands that parse arguments and call one public function each.

``train TASK`` and each task's own commands (``sample``, ``tag``) come from the recipe registry
(:mod:`rnnkit.recipes`); ``evaluate RUN`` asks the run's recipe for its options; ``diagnose
gradient-flow`` is :mod:`rnnkit.gradflow`, ``decode`` the decoders over saved log-probabilities.

Bad input ends with one line on stderr (``rnnkit: error: ...``) and exit status 2; Ctrl-C
during training saves a checkpoint and exits 130.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Sequence

from .errors import RnnkitError

log = logging.getLogger("rnnkit")
EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise RnnkitError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: ``train TASK`` and every recipe's own commands come from the registry."""
    from .gradflow import add_arguments as add_gradflow_arguments
    from .inspect import add_arguments as add_inspect_arguments
    from .recipes import RECIPES
    from .recipes.options import finite, positive_int

    parser = _Parser(prog="rnnkit", description="Recurrent sequence learning: train, evaluate, sample, tag, decode.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a model")
    tasks = train.add_subparsers(dest="task", required=True, metavar="task", parser_class=_Parser,
                                 help=f"what to train: {', '.join(RECIPES)}")
    for name, recipe in RECIPES.items():
        recipe.add_train_arguments(tasks.add_parser(name, help=(recipe.__doc__ or "").strip().splitlines()[0]))

    ev = sub.add_parser("evaluate", help="evaluate a run on held-out data (options: rnnkit evaluate RUN --help)")
    ev.add_argument("run", help="run folder")
    ev.add_argument("options", nargs=argparse.REMAINDER, help="the options of the run's task")

    commands: dict[str, tuple[str, Any, list[str]]] = {}  # one subcommand per name, for every task that has it
    for recipe in RECIPES.values():
        for name, (help_text, add_arguments, _) in recipe.COMMANDS.items():
            first = commands.setdefault(name, (help_text, add_arguments, []))
            if first[1] is not add_arguments:
                raise AssertionError(f"recipes share the command {name} but not its options")
            first[2].append(recipe.TASK)
    for name, (help_text, add_arguments, tasks) in commands.items():
        cmd = sub.add_parser(name, help=f"{help_text} ({', '.join(tasks)} runs)")
        cmd.add_argument("run", help="run folder")
        add_arguments(cmd)

    from .prepare import add_arguments as add_prepare_arguments

    add_prepare_arguments(sub.add_parser("prepare", help="encode a corpus of any size once into memory-mapped "
                                         "token files, split by file (train charlm --data)"))

    dg = sub.add_parser("diagnose", help="look inside recurrent nets: gradient-flow")
    what = dg.add_subparsers(dest="what", required=True, metavar="what", parser_class=_Parser, help="gradient-flow")
    add_gradflow_arguments(what.add_parser("gradient-flow", help="the norm of d(loss at the last step)/d(h_t) "
                                                                "against t, fresh and trained"))

    add_inspect_arguments(sub.add_parser("inspect", help="look inside a trained model on a local web page "
                                         "(training, sample, surprisal, cells, tags, speech)"))

    dc = sub.add_parser("decode", help="decode saved log-probabilities [B, T, C] (.npy, .npz, .safetensors)")
    dc.add_argument("file", help="log-probabilities: .npy, .npz or .safetensors (keys log_probs, lengths)")
    dc.add_argument("--lengths", default=None, help="comma-separated valid frames per utterance, or a .npy file")
    dc.add_argument("--method", default="ctc_beam", help="argmax, merge_repeats, ctc_greedy, ctc_beam or ctc_lexicon")
    dc.add_argument("--vocab", default=None, help="vocab.json (or a run folder) naming the output symbols")
    dc.add_argument("--blank", default=None, help="blank id (default: the vocabulary's blank)")
    dc.add_argument("--beam-size", type=positive_int, default=None)
    dc.add_argument("--nbest", type=positive_int, default=None)
    dc.add_argument("--lexicon", default=None, help="ctc_lexicon: word list, one 'word [unit ...]' a line")
    dc.add_argument("--word-separator", default=None, help="ctc_lexicon: the output symbol between words")
    dc.add_argument("--word-bonus", type=finite, default=None)
    dc.add_argument("--lm", default=None, help="ctc_beam: an n-gram LM (.json) or an rnnkit LM run folder; "
                    "ctc_lexicon: a word n-gram LM (.json)")
    dc.add_argument("--lm-weight", type=finite, default=None)
    dc.add_argument("--json", action="store_true", help="one JSON object per utterance")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import RECIPES

    recipe = RECIPES[args.task]
    if args.resume:
        if args.out and args.out != args.resume:
            raise RnnkitError("--resume continues a run in its own folder: drop --out")
        recipe.resume_from_args(args)
        return 0
    if not args.out:
        raise RnnkitError("give --out RUN_FOLDER for a new run (or --resume RUN_FOLDER)")
    recipe.train_from_args(args)
    if _rank() == 0:  # under torchrun, one process reports
        print(args.out)
    return 0


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise): only rank 0 reports."""
    return int(os.environ.get("RANK", "0") or 0)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``rnnkit evaluate RUN ...``: the run's task parses the options and evaluates."""
    from .recipes import recipe_of_run

    recipe = recipe_of_run(args.run)
    parser = _Parser(prog=f"rnnkit evaluate {args.run}", description=f"Evaluate a {recipe.TASK} run on held-out data.")
    recipe.add_evaluate_arguments(parser)
    recipe.evaluate_from_args(args.run, parser.parse_args(args.options))
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    """A recipe's own subcommand (``sample``, ``tag``): the run's recipe runs it, if it has it."""
    from .recipes import RECIPES, a_run, recipe_of_run

    recipe = recipe_of_run(args.run)
    if args.command not in recipe.COMMANDS:
        names = [name for name, r in RECIPES.items() if args.command in r.COMMANDS]
        tasks = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)
        raise RnnkitError(f"{args.run} is {a_run(recipe.TASK)}; this command needs {a_run(tasks)}")
    recipe.COMMANDS[args.command][2](args.run, args)
    return 0


def _load_vocab(path: str):
    import os

    from .data.vocab import Vocabulary
    from .training.checkpoint import read_json

    if os.path.isdir(path):
        path = os.path.join(path, "vocab.json")
    return Vocabulary.from_json(read_json(path, "vocabulary"))


def _blank_id(text: str, vocab) -> int:
    """``--blank``: a symbol of the vocabulary, or a non-negative integer id."""
    if vocab is not None and text in vocab:
        return vocab.index(text)
    if text.isdigit():
        return int(text)
    known = " or a symbol of the vocabulary" if vocab is not None else " (or give --vocab to name it by symbol)"
    raise RnnkitError(f"--blank must be a non-negative integer id{known}, got {text!r}")


def _decode_lm(path: str, vocab, lexicon) -> dict[str, Any]:
    """``--lm``: a character LM for ctc_beam (n-gram .json or a charlm run folder), or a word
    n-gram for ctc_lexicon, whose words are the lexicon's (by spelling; unknown ones as its unk)."""
    import os

    if vocab is None:
        raise RnnkitError("--lm needs --vocab to map output symbols to the LM's")
    if os.path.isdir(path):
        if lexicon is not None:
            raise RnnkitError("ctc_lexicon fuses a word n-gram LM (.json), not a run folder")
        from .api import load
        from .decoding.rnnlm import RecurrentLMScorer

        lm = load(path)
        return {"lm": RecurrentLMScorer(lm.model, lm.vocab, vocab)}
    from .decoding.ngram import NgramLM

    lm = NgramLM.load(path)
    if lexicon is None:
        return {"lm": lm}
    ids = []
    for word in lexicon.words:
        if word not in lm.vocab and lm.vocab.unk is None:
            raise RnnkitError(f"lexicon word {word!r} is not in the LM's vocabulary, which has no unknown-word symbol")
        ids.append(lm.vocab.index(word) if word in lm.vocab else lm.vocab.index(lm.vocab.unk))
    return {"lm": lm, "lm_ids": ids}


def cmd_decode(args: argparse.Namespace) -> int:
    from .decoding.decode import decode_file

    vocab = _load_vocab(args.vocab) if args.vocab else None
    options: dict[str, Any] = {}
    if args.method not in ("argmax", "merge_repeats"):
        if args.blank is not None:
            options["blank"] = _blank_id(args.blank, vocab)
        elif vocab is not None and vocab.blank is not None:
            options["blank"] = vocab.index(vocab.blank)
        else:
            raise RnnkitError(f"method {args.method} needs --blank, or a --vocab with a blank symbol")
    for name in ("beam_size", "nbest", "word_bonus", "lm_weight"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.lexicon or args.word_separator is not None:
        if vocab is None:
            raise RnnkitError("--lexicon and --word-separator need --vocab")
        from .decoding.lexicon import Lexicon

        if args.lexicon:
            options["lexicon"] = Lexicon.from_file(args.lexicon, vocab)
        if args.word_separator is not None:
            options["word_separator"] = vocab.index(args.word_separator) if args.word_separator in vocab else None
            if options["word_separator"] is None:
                raise RnnkitError(f"word separator {args.word_separator!r} is not an output symbol")
    if args.lm:
        options.update(_decode_lm(args.lm, vocab, options.get("lexicon")))
    lengths: Any = args.lengths
    if lengths and not lengths.endswith(".npy"):
        try:
            lengths = [int(n) for n in lengths.split(",")]
        except ValueError:
            raise RnnkitError(f"--lengths must be comma-separated integers or a .npy file, got {args.lengths!r}") from None
    results = decode_file(args.file, args.method, lengths=lengths, **options)
    for i, nbest in enumerate(results):
        if args.json:
            hyps = [{**h.to_dict(), **({"text": h.text(vocab)} if vocab else {})} for h in nbest]
            print(json.dumps({"utterance": i, "hypotheses": hyps}))
        else:
            for h in nbest:
                text = h.text(vocab) if vocab else " ".join(map(str, h.tokens))
                print(f"{i}\t{h.score:.4f}\t{text}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from .gradflow import run_from_args

    run_from_args(args)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import run_from_args

    run_from_args(args)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import run_from_args

    run_from_args(args)
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "decode": cmd_decode, "diagnose": cmd_diagnose,
            "inspect": cmd_inspect, "prepare": cmd_prepare}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script; returns the exit status."""
    from .training.trainer import TrainingInterrupted

    try:
        args = build_parser().parse_args(argv)
        level = logging.DEBUG if args.verbose else logging.INFO if _rank() == 0 else logging.WARNING
        logging.basicConfig(level=level, format="rnnkit: %(message)s")
        return COMMANDS.get(args.command, cmd_recipe)(args)
    except TrainingInterrupted as exc:
        print(f"rnnkit: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (rnnkit sample ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 0
    except (OSError, MemoryError) as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
