"""The word-LM recipe's command line: ``train wordlm`` options, ``evaluate``, ``sample``, ``embeddings``.

    rnnkit train wordlm --train ptb.train.txt.gz --valid ptb.valid.txt.gz --model lstm|tdnn --out runs/ptb
    rnnkit evaluate runs/ptb --corpus ptb.test.txt.gz [--json]
    rnnkit sample runs/ptb --prime 'the company said' [--length 50] [--temperature 0.8]
    rnnkit embeddings runs/ptb [--export vectors.txt] [--neighbours WORD ...] [--plot words.png --words a,b,c]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from ..errors import RnnkitError
from . import options as opt
from .charlm_cli import add_sample_arguments, print_samples  # one sample command for every language model

DATA_OPTIONS = ("train", "valid", "max_vocab", "min_count")
MODEL_OPTIONS: list[opt.Option] = [
    ("--hidden-size", "hidden_size", opt.positive_int, "lstm: units per layer (default 650); tdnn: tanh units (512)"),
    ("--num-layers", "num_layers", opt.positive_int, "stacked layers (default lstm 2, tdnn 1)"),
    ("--embedding-dim", "embedding_dim", opt.positive_int,
     "size of the word projection (default: the hidden size, tied to the softmax; untied tdnn --direct 512)"),
    ("--window", "window", opt.positive_int, "tdnn: previous words each prediction sees (default 5)"),
    ("--dropout", "dropout", opt.fraction, "dropout on the projection, between layers and before the head "
                                           "(default lstm 0.4 but 0.25 between layers, tdnn 0.3)"),
]


def train_options() -> list[opt.Option]:
    from .wordlm import DEFAULT_TRAIN as D

    from .wordlm import DEFAULT_TRAINS

    T = DEFAULT_TRAINS["tdnn"]
    return [("--batch-size", "batch_size", opt.positive_int, f"streams per batch (default {D.batch_size}, tdnn {T.batch_size})"),
            ("--bptt", "bptt", opt.positive_int, f"steps per truncated-BPTT segment (default {D.bptt}, tdnn {T.bptt})"),
            ("--dropout-from", "dropout_from", opt.non_negative,
             f"passes over the text before dropout starts (default {D.dropout_from:g})"),
            ("--dropout-ramp", "dropout_ramp", opt.non_negative,
             f"passes over which dropout then rises to its rates (default {D.dropout_ramp:g})"),
            ("--patience", "patience", opt.non_negative_int,
             "stop after this many validations without a lower loss (default 0: never)"),
            *[(flag, dest, kind, f"peak learning rate of AdamW (default {D.lr:g}, tdnn {T.lr:g})" if dest == "lr" else help)
              for flag, dest, kind, help in opt.trainer_options(D)]]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train wordlm``."""
    p.add_argument("--train", default=None, metavar="FILE", help="training text: one sentence a line, plain or .gz")
    p.add_argument("--valid", default=None, metavar="FILE", help="validation text (for model selection)")
    p.add_argument("--max-vocab", type=opt.positive_int, default=None,
                   help="keep this many most frequent words, <unk> and <eos> included (default: all)")
    p.add_argument("--min-count", type=opt.positive_int, default=None, help="rarer training words read as <unk> (default 1)")
    p.add_argument("--model", choices=["lstm", "tdnn"], default=None, help="LSTM or Bengio's TDNN (default lstm)")
    p.add_argument("--direct", action="store_true", default=None,
                   help="tdnn: direct connections from the projected words to the softmax")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    opt.add_regulariser_arguments(p, " (default: on for lstm)", " (default: on, but off for tdnn --direct)")
    opt.add_options(p, train_options())


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    model = {**opt.given(args, MODEL_OPTIONS), **opt.regulariser_settings(args)}
    if args.direct:
        model["direct"] = True
    return model


def train_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train wordlm --train FILE --out RUN ...``"""
    from ..configs import from_dict
    from .wordlm import DEFAULT_TRAINS, WordDataConfig, train_wordlm

    if not args.train:
        raise RnnkitError("give --train FILE, a text with one sentence a line (plain or .gz)")
    data = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    train = opt.patience(opt.train_settings(args, train_options(), new_run=True))
    train_wordlm(args.out, from_dict(WordDataConfig, data), args.model or "lstm", _model_args(args),
                 replace(DEFAULT_TRAINS[args.model or "lstm"], **train))


def resume_from_args(args: argparse.Namespace) -> None:
    """``rnnkit train wordlm --resume RUN ...``"""
    from .wordlm import resume_wordlm

    opt.refuse_data_on_resume(args, DATA_OPTIONS + ("model",), "data and model")
    resume_wordlm(args.resume, _model_args(args), opt.patience(opt.train_settings(args, train_options(), new_run=False)))


# -- evaluate -----------------------------------------------------------------------------------
def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, metavar="FILE", help="held-out text, one sentence a line (plain or .gz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """Perplexity and nats per word of the run's model on a text."""
    from ..data.words import read_words
    from .wordlm import load

    corpus = read_words(args.corpus)
    lm = load(run, device=args.device)
    result = lm.score(corpus.tokens)
    result["empty_lines"] = corpus.empty_lines
    if args.json:
        print(json.dumps(result))
    else:
        print(f"perplexity {result['perplexity']:.2f} ({result['nats_per_word']:.4f} nats/word) over "
              f"{result['words']} words with <eos> ({result['unknown_words']} outside the vocabulary, read as <unk>)")


# -- sample -------------------------------------------------------------------------------------
def sample_from_args(run: str, args: argparse.Namespace) -> None:
    """Print ``--num-samples`` continuations of ``--prime``, a sentence a line."""
    from .wordlm import load

    head = " ".join(args.prime.split())

    def show_stream(pieces):
        """The prime, then the words; line breaks held back until a word follows (none at the end)."""
        yield head
        first, held = True, ""
        for piece in pieces:
            if piece == "\n":
                held += piece
                continue
            yield held + (" " if first and head and not held else "") + piece
            first, held = False, ""

    print_samples(load, run, args, lambda text: (head + (" " if head and not text.startswith("\n") else "")
                                                 + text).rstrip("\n"), show_stream)


# -- embeddings ---------------------------------------------------------------------------------
def add_embeddings_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--export", default=None, metavar="FILE", help="write every word's vector (word2vec text format)")
    p.add_argument("--neighbours", nargs="+", default=None, metavar="WORD", help="print each word's nearest neighbours")
    p.add_argument("--count", type=opt.positive_int, default=10, help="neighbours per word (default 10)")
    p.add_argument("--plot", default=None, metavar="PNG", help="draw --words at their 2-D PCA positions")
    p.add_argument("--words", default=None, help="comma-separated words for --plot")


def embeddings_from_args(run: str, args: argparse.Namespace) -> None:
    """Export, neighbours, plot: what the run's learned projection P holds."""
    from ..embeddings import neighbours, plot_words, write_word2vec
    from .wordlm import load

    if not (args.export or args.neighbours or args.plot):
        raise RnnkitError("give --export FILE, --neighbours WORD ... or --plot PNG --words a,b,c")
    if args.plot and not args.words:
        raise RnnkitError("--plot needs --words a,b,c (the words to draw)")
    lm = load(run)
    words, matrix = list(lm.vocab.tokens), lm.embeddings
    chosen = [w for w in (args.words or "").split(",") if w]
    for word in args.neighbours or ():  # every check before anything is written
        neighbours(matrix, words, word, 1)
    if args.plot:
        plot_words(args.plot, matrix, words, chosen)
        print(f"wrote {args.plot} ({len(chosen)} words)")
    if args.export:
        write_word2vec(args.export, words, matrix)
        print(f"wrote {args.export} ({len(words)} words x {matrix.shape[1]})")
    for word in args.neighbours or ():
        near = neighbours(matrix, words, word, args.count)
        print(f"{word}: " + ", ".join(f"{w} {s:.3f}" for w, s in near))


COMMANDS = {
    "sample": ("generate text from a language model", add_sample_arguments, sample_from_args),
    "embeddings": ("export, compare and plot a word model's learned projection", add_embeddings_arguments,
                   embeddings_from_args),
}
