"""The ``rnnkit`` command: subcommands that parse arguments and call one public function each.

Bad input ends with one line on stderr (``rnnkit: error: ...``) and exit status 2; Ctrl-C
during training saves a checkpoint and exits 130.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Any, Sequence

from .errors import RnnkitError

log = logging.getLogger("rnnkit")
EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise RnnkitError(f"{self.prog}: {message} (see --help)")


def _checked(kind: type, ok, what: str):
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


_positive_int = _checked(int, lambda v: v > 0, "a positive integer")
_positive_float = _checked(float, lambda v: v > 0, "a positive number")
_non_negative = _checked(float, lambda v: v >= 0, "a number >= 0")
_fraction = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_non_negative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
_finite = _checked(float, lambda v: True, "a finite number")
_probability = _checked(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


# (flag, dest, type, help) of the model options; None defaults mean "the recipe's default".
MODEL_OPTIONS = [
    ("--cell", "cell", str, "lstm, gru, rnn_tanh, rnn_relu, tdnn, mingru or minlstm (default lstm)"),
    ("--hidden-size", "hidden_size", _positive_int, "units per recurrent layer (default 512)"),
    ("--num-layers", "num_layers", _positive_int, "stacked recurrent layers (default 2)"),
    ("--embedding-dim", "embedding_dim", _positive_int, "size of the learned input projection (default 128)"),
    ("--dropout", "dropout", _fraction, "dropout on the input, between layers and before the head (default 0.2; "
                                        "see --dropout-from)"),
    ("--window", "window", _positive_int, "tdnn: inputs each output sees (default 5)"),
]
TRAIN_OPTIONS = [
    ("--batch-size", "batch_size", _positive_int, "streams per batch (default 64)"),
    ("--bptt", "bptt", _positive_int, "steps per truncated-BPTT segment (default 64)"),
    ("--lr", "lr", _positive_float, "peak learning rate of AdamW (default 5e-3)"),
    ("--warmup-steps", "warmup_steps", _non_negative_int, "linear warmup steps (default 50)"),
    ("--weight-decay", "weight_decay", _non_negative, "AdamW weight decay on matrices (default 0.01)"),
    ("--clip-norm", "clip_norm", _positive_float, "gradient-norm clipping threshold (default 1.0)"),
    ("--dropout-from", "dropout_from", _non_negative,
     "passes over the training text before dropout starts (default 3; 0: from the start)"),
    ("--dropout-ramp", "dropout_ramp", _non_negative, "passes over which dropout then rises to --dropout (default 2)"),
    ("--max-steps", "max_steps", _positive_int, "stop after this many steps in total"),
    ("--time-budget", "time_budget", _positive_float, "stop after this many seconds of training in total"),
    ("--eval-interval", "eval_interval", _non_negative, "seconds between validations (default 60; 0: only at the end)"),
    ("--checkpoint-interval", "checkpoint_interval", _positive_float, "seconds between checkpoints (default 120)"),
    ("--log-interval", "log_interval", _positive_int, "steps between metrics.jsonl records (default 20)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--device", "device", str, "auto, cpu or cuda (default auto)"),
    ("--precision", "precision", str, "auto, fp32 or bf16 autocast (default auto: bf16 where the hardware has it)"),
]


DATA_OPTIONS = ("corpus", "include", "max_chars", "valid_fraction", "max_valid_chars")


def _add_options(parser: argparse.ArgumentParser, options: list[tuple[str, str, Any, str]]) -> None:
    for flag, dest, typ, help_text in options:
        parser.add_argument(flag, dest=dest, type=typ, default=None, help=help_text)


def _given(args: argparse.Namespace, options: list[tuple[str, str, Any, str]]) -> dict[str, Any]:
    return {dest: getattr(args, dest) for _, dest, _, _ in options if getattr(args, dest) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description="Recurrent sequence learning: train, evaluate, sample, decode.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a model")
    train.add_argument("task", choices=["charlm"], help="what to train")
    train.add_argument("--corpus", default=None, help="python (default), linux, or a file, directory or tar archive")
    train.add_argument("--include", default=None, help="comma-separated globs of files to read from a directory or archive")
    train.add_argument("--max-chars", type=_positive_int, default=None, help="read at most this many characters (default 20M)")
    train.add_argument("--valid-fraction", type=_fraction, default=None, help="last fraction of the text for validation (default 0.1)")
    train.add_argument("--max-valid-chars", type=_positive_int, default=None,
                       help="score at most this many validation characters at each evaluation (default 250,000)")
    train.add_argument("--out", default=None, help="run folder to create")
    train.add_argument("--resume", default=None, metavar="RUN", help="continue the run in this folder")
    train.add_argument("--no-progress", action="store_true", help="no progress display")
    _add_options(train, MODEL_OPTIONS)
    train.add_argument("--tie-weights", action="store_true", default=None, help="share the embedding and output matrices")
    _add_options(train, TRAIN_OPTIONS)

    ev = sub.add_parser("evaluate", help="cross-entropy of a language model on a text")
    ev.add_argument("run", help="run folder")
    ev.add_argument("--corpus", required=True, help="file, directory, archive, or a named corpus")
    ev.add_argument("--include", default=None, help="comma-separated globs")
    ev.add_argument("--max-chars", type=_positive_int, default=None)
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    sm = sub.add_parser("sample", help="generate text from a language model")
    sm.add_argument("run", help="run folder")
    sm.add_argument("--prime", default="", help="text to start from (default: a newline)")
    sm.add_argument("--length", type=_non_negative_int, default=500, help="symbols to generate (default 500)")
    sm.add_argument("--temperature", type=_non_negative, default=1.0, help="0 is greedy (default 1.0)")
    sm.add_argument("--top-k", type=_positive_int, default=None)
    sm.add_argument("--top-p", type=_probability, default=None)
    sm.add_argument("--seed", type=int, default=None)
    sm.add_argument("--stop", default=None, help="stop right after writing this string")
    sm.add_argument("--num-samples", type=_positive_int, default=1, help="streams drawn as one batch")
    sm.add_argument("--device", default="cpu")
    sm.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                    help="how the recurrent matrices are kept while sampling: fp32 (exact), bf16, or int8 "
                         "(weight-only, per-row scales); default auto: int8 for up to 8 streams on an "
                         "AVX2/AVX-512 CPU, else bf16 where the CPU has it, else fp32")

    dc = sub.add_parser("decode", help="decode saved log-probabilities [B, T, C] (.npy, .npz, .safetensors)")
    dc.add_argument("file", help="log-probabilities: .npy, .npz or .safetensors (keys log_probs, lengths)")
    dc.add_argument("--lengths", default=None, help="comma-separated valid frames per utterance, or a .npy file")
    dc.add_argument("--method", default="ctc_beam", help="argmax, merge_repeats, ctc_greedy, ctc_beam or ctc_lexicon")
    dc.add_argument("--vocab", default=None, help="vocab.json (or a run folder) naming the output symbols")
    dc.add_argument("--blank", default=None, help="blank id (default: the vocabulary's blank)")
    dc.add_argument("--beam-size", type=_positive_int, default=None)
    dc.add_argument("--nbest", type=_positive_int, default=None)
    dc.add_argument("--lexicon", default=None, help="ctc_lexicon: word list, one 'word [unit ...]' a line")
    dc.add_argument("--word-separator", default=None, help="ctc_lexicon: the output symbol between words")
    dc.add_argument("--word-bonus", type=_finite, default=None)
    dc.add_argument("--lm", default=None, help="ctc_beam: an n-gram LM (.json) or an rnnkit LM run folder")
    dc.add_argument("--lm-weight", type=_finite, default=None)
    dc.add_argument("--json", action="store_true", help="one JSON object per utterance")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import charlm
    from .training.trainer import TrainConfig

    model = _given(args, MODEL_OPTIONS)
    if args.tie_weights:
        model["tie_weights"] = True
    train = _given(args, TRAIN_OPTIONS)
    if args.no_progress:
        train["progress"] = False
    if args.resume:
        if args.out and args.out != args.resume:
            raise RnnkitError("--resume continues a run in its own folder: drop --out")
        data_given = [f for f in DATA_OPTIONS if getattr(args, f) is not None]
        if data_given:
            raise RnnkitError(f"--resume reads the run's own corpus settings; drop --{data_given[0].replace('_', '-')}")
        charlm.resume_charlm(args.resume, model, train)
        return 0
    if not args.out:
        raise RnnkitError("give --out RUN_FOLDER for a new run (or --resume RUN_FOLDER)")
    if "max_steps" not in train and "time_budget" not in train:
        train["time_budget"] = 300.0
    data = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    from .configs import from_dict

    charlm.train_charlm(args.out, from_dict(charlm.DataConfig, data), model, from_dict(TrainConfig, train))
    print(args.out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .api import load
    from .data.corpus import read_corpus

    lm = load(args.run)
    corpus = read_corpus(args.corpus, args.include, args.max_chars)
    result = lm.score(corpus.text)
    result["replaced_invalid_utf8"] = corpus.stats.replaced_chars
    result["skipped_binary_files"] = corpus.stats.skipped_binary
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char over "
              f"{result['chars']} characters ({result['unknown_chars']} outside the vocabulary)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .api import load
    from .decoding.sampling import check_sampling_args

    check_sampling_args(args.length, args.temperature, args.top_k, args.top_p, args.num_samples)
    lm = load(args.run, device=args.device)
    texts = lm.sample_many(args.num_samples, args.prime, args.length, temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=args.stop,
                           precision=args.precision)
    for i, text in enumerate(texts):
        if args.num_samples > 1:
            print(f"--- sample {i + 1}")
        sys.stdout.write(args.prime + text + "\n")
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


def cmd_decode(args: argparse.Namespace) -> int:
    import os

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
        if vocab is None:
            raise RnnkitError("--lm needs --vocab to map output symbols to the LM's")
        if os.path.isdir(args.lm):
            from .api import load
            from .decoding.rnnlm import RecurrentLMScorer

            lm = load(args.lm)
            options["lm"] = RecurrentLMScorer(lm.model, lm.vocab, vocab)
        else:
            from .decoding.ngram import NgramLM

            options["lm"] = NgramLM.load(args.lm)
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


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "decode": cmd_decode}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script; returns the exit status."""
    from .training.trainer import TrainingInterrupted

    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="rnnkit: %(message)s")
        return COMMANDS[args.command](args)
    except TrainingInterrupted as exc:
        print(f"rnnkit: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, MemoryError) as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
