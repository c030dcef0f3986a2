"""Word corpora for word-level language models: whitespace-separated tokens, one sentence a line.

Each line's words are followed by ``<eos>`` (the next-word prediction then also learns where
sentences end, as in Mikolov's Penn Treebank setup). Empty lines carry no sentence: they are
skipped and counted, never turned into a lone ``<eos>``. Files may be gzip-compressed
(``.gz``); they are read line by line, never whole.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "t.txt")
>>> _ = open(path, "w").write("the cat sat\\n\\n the dog  \\n")
>>> c = read_words(path)
>>> c.tokens, c.lines, c.empty_lines
(['the', 'cat', 'sat', '<eos>', 'the', 'dog', '<eos>'], 2, 1)
>>> v = build_word_vocab([c.tokens], max_size=4)
>>> v.tokens
('<unk>', '<eos>', 'the', 'cat')
"""
from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import RnnkitError
from .vocab import Vocabulary

EOS, UNK_WORD = "<eos>", "<unk>"


@dataclass
class WordCorpus:
    """The tokens of a file, ``<eos>`` after each sentence; counts of what was read."""

    path: str
    tokens: list[str]
    lines: int  # sentences (non-empty lines)
    empty_lines: int

    @property
    def words(self) -> int:
        """Tokens other than ``<eos>``."""
        return len(self.tokens) - self.lines


def _lines(path: str) -> Iterator[str]:
    if not os.path.isfile(path):
        raise RnnkitError(f"file not found: {path}")
    try:
        raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
        with raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as f:
            yield from f
    except (OSError, EOFError) as exc:  # unreadable, or a .gz that is not gzip data
        raise RnnkitError(f"cannot read {path}: {exc}") from None


def read_words(path: str) -> WordCorpus:
    """The whitespace-separated words of ``path`` with ``<eos>`` at each line's end; empty lines skipped.

    A file with no words is an error naming it.
    """
    tokens: list[str] = []
    lines = empty = 0
    for line in _lines(path):
        words = line.split()
        if not words:
            empty += 1
            continue
        tokens.extend(words)
        tokens.append(EOS)
        lines += 1
    if not tokens:
        raise RnnkitError(f"{path} has no words")
    return WordCorpus(path, tokens, lines, empty)


def build_word_vocab(corpora: Sequence[Sequence[str]], max_size: int | None = None, min_count: int = 1) -> Vocabulary:
    """``<unk>`` and ``<eos>`` first, then words by frequency (ties alphabetical), at most ``max_size``
    in all, each seen at least ``min_count`` times; the rest read as ``<unk>``."""
    if max_size is not None and max_size < 3:
        raise RnnkitError(f"the vocabulary needs room for <unk>, <eos> and a word: max size {max_size} is too small")
    if min_count < 1:
        raise RnnkitError(f"min count must be positive, got {min_count}")
    vocab = Vocabulary.build_tokens(corpora, specials=(EOS,), unk=UNK_WORD, min_count=min_count)
    if max_size is not None and len(vocab) > max_size:
        vocab = Vocabulary(tokens=vocab.tokens[:max_size], unk=UNK_WORD, kind="token")
    return vocab
