"""The tagger recipe's command line: ``train tagger`` options, ``evaluate`` and ``tag``.

    rnnkit train tagger --train train.conllu.gz --dev dev.conllu.gz --out runs/ewt --time-budget 1200
    rnnkit evaluate runs/ewt --data test.conllu.gz --json
    rnnkit tag runs/ewt input.txt > output.conllu        # one sentence a line, tokens between whitespace
    rnnkit tag runs/ewt input.conllu --format conllu     # fills UPOS (and XPOS) of an existing file

Input handling for ``tag`` (raw text): TABs separate tokens like spaces; blank lines are skipped;
a missing final newline is fine; a control character is an error naming file and line. A
sentence longer than any seen in training is tagged like any other. Output is written only when
everything was tagged (``--output`` atomically), so an error leaves no partial file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from typing import Any

from ..data.conllu import format_conllu, read_conllu, sentences_from_text, sentences_from_tokens, with_tags
from ..errors import RnnkitError
from ..models.tagger import TaggerConfig
from ..training.checkpoint import atomic_write_bytes
from . import options as opt
from .tagger_eval import format_report, plot_confusion, score_tagger

DATA_OPTIONS = ("train", "dev", "min_word_count", "max_word_chars")

# A new run's model settings where they differ from TaggerConfig's defaults (which are what the
# config.json of a run from before the setting existed reads as): --misspell 0.1 scored about 1 point
# more EWT dev UPOS on unseen words, 83.09-83.81% in four runs against 82.33-82.66% in two (README).
NEW_RUN_MODEL = {"misspell": 0.1}


def _default(name: str) -> Any:
    return NEW_RUN_MODEL.get(name, next(f.default for f in fields(TaggerConfig) if f.name == name))


MODEL_OPTIONS: list[opt.Option] = [
    ("--word-dim", "word_dim", opt.positive_int, f"word embedding size (default {_default('word_dim')})"),
    ("--char-dim", "char_dim", opt.positive_int, f"character embedding size (default {_default('char_dim')})"),
    ("--char-hidden-size", "char_hidden_size", opt.positive_int,
     f"units per direction of the character BiLSTM (default {_default('char_hidden_size')})"),
    ("--hidden-size", "hidden_size", opt.positive_int,
     f"units per direction of the sentence BiLSTM (default {_default('hidden_size')})"),
    ("--num-layers", "num_layers", opt.positive_int, f"stacked sentence BiLSTM layers (default {_default('num_layers')})"),
    ("--dropout", "dropout", opt.fraction,
     f"dropout on the word features, between layers and before the heads (default {_default('dropout')})"),
    ("--word-dropout", "word_dropout", opt.fraction,
     f"fraction of training words read as the unknown word (default {_default('word_dropout')})"),
    ("--rare-word-dropout", "rare_word_dropout", opt.non_negative,
     "alpha: a training word seen c times is also read as the unknown word with probability alpha / (alpha + c) "
     f"(default {_default('rare_word_dropout')}: off)"),
    ("--char-loss", "char_loss", opt.non_negative,
     "weight of an auxiliary UPOS head on the character features alone, which trains the character "
     f"encoder for unseen words (default {_default('char_loss')}: none)"),
    ("--members", "members", opt.positive_int,
     "taggers trained side by side, tagging by their average probabilities (an ensemble; "
     f"default {_default('members')})"),
    ("--misspell", "misspell", opt.fraction,
     "probability a training word gets one typo: a character replaced, dropped or doubled "
     f"(default {_default('misspell')})"),
]


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model options the user set (``--unidirectional`` is bidirectional=False)."""
    return {**opt.given(args, MODEL_OPTIONS), **({"bidirectional": False} if args.unidirectional else {})}


def train_options() -> list[opt.Option]:
    """The training options, with the recipe's defaults in their help."""
    from .tagger import DEFAULT_TRAIN

    return [
        ("--batch-size", "batch_size", opt.positive_int, f"sentences per batch (default {DEFAULT_TRAIN.batch_size})"),
        ("--patience", "patience", opt.non_negative_int,
         f"stop after this many evaluations without a better dev UPOS accuracy (default {DEFAULT_TRAIN.patience}; 0: never)"),
        *opt.trainer_options(DEFAULT_TRAIN),
    ]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit train tagger``."""
    p.add_argument("--train", default=None, metavar="FILE", help="training data, CoNLL-U (plain or .gz)")
    p.add_argument("--dev", default=None, metavar="FILE",
                   help="development data for early stopping and model selection (CoNLL-U)")
    p.add_argument("--min-word-count", type=opt.positive_int, default=None,
                   help="rarer training words share the unknown word's embedding (default 2)")
    p.add_argument("--max-word-chars", type=opt.positive_int, default=None,
                   help="characters of a word the character encoder reads: first and last halves (default 20)")
    opt.add_run_arguments(p)
    opt.add_options(p, MODEL_OPTIONS)
    p.add_argument("--unidirectional", action="store_true",
                   help="the sentence LSTM reads forward only (an ablation: what the backward net buys)")
    opt.add_options(p, train_options())


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit evaluate RUN`` for a tagger run."""
    p.add_argument("--data", required=True, metavar="FILE", help="gold CoNLL-U (plain or .gz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--confusion", default=None, metavar="PNG",
                   help="where to draw the UPOS confusion matrix (default RUN/confusion-upos.png)")
    p.add_argument("--batch-size", type=opt.positive_int, default=256, help="sentences per batch (default 256)")
    p.add_argument("--device", default="cpu")


def evaluate_from_args(run: str, args: argparse.Namespace) -> None:
    """UPOS/XPOS accuracy, unseen words, per-tag P/R/F1, speed; the confusion matrix as a PNG."""
    from .tagger import load

    sentences = read_conllu(args.data)
    result = score_tagger(load(run, args.device), sentences, args.batch_size)
    png = args.confusion or os.path.join(run, "confusion-upos.png")
    plot_confusion(result["confusion"]["labels"], result["confusion"]["counts"], png,
                   f"UPOS confusions on {os.path.basename(args.data)}")
    result["confusion_png"] = png
    print(json.dumps(result) if args.json else format_report(result))


def add_tag_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rnnkit tag RUN INPUT``."""
    p.add_argument("input", help="text (one sentence a line, tokens separated by whitespace) or CoNLL-U")
    p.add_argument("--format", choices=["txt", "conllu"], default=None,
                   help="of the input (default: conllu for *.conllu and *.conllu.gz, else txt)")
    p.add_argument("--output", "-o", default=None, help="write CoNLL-U here (default: standard output)")
    p.add_argument("--batch-size", type=opt.positive_int, default=256, help="sentences per batch (default 256)")
    p.add_argument("--device", default="cpu")


def tag_from_args(run: str, args: argparse.Namespace) -> None:
    """Tag a text or CoNLL-U file; write CoNLL-U with UPOS (and XPOS) filled in."""
    from .tagger import load

    fmt = args.format or ("conllu" if args.input.endswith((".conllu", ".conllu.gz")) else "txt")
    if fmt == "conllu":
        sentences = read_conllu(args.input)
    else:
        sentences = sentences_from_tokens([tokens for _, tokens in sentences_from_text(args.input)])
    tagger = load(run, args.device)
    taggings = tagger.predict([s.tokens for s in sentences], batch_size=args.batch_size)
    text = format_conllu(with_tags(s, t.upos, t.xpos) for s, t in zip(sentences, taggings))
    if args.output is None:
        sys.stdout.write(text)
        return
    data = text.encode("utf-8")
    if args.output.endswith(".gz"):
        import gzip

        data = gzip.compress(data, mtime=0)
    try:
        atomic_write_bytes(args.output, data)
    except OSError as exc:
        raise RnnkitError(f"{args.output}: cannot write ({exc.strerror or exc})") from None


# Subcommands of this task beyond train and evaluate: name -> (help, add_arguments, run).
COMMANDS = {"tag": ("tag words with parts of speech, writing CoNLL-U", add_tag_arguments, tag_from_args)}
