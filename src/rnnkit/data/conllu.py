"""CoNLL-U reading and writing for part-of-speech tagging, byte for byte.

A sentence keeps every line it was read from, so writing it back unchanged reproduces the file
(https://universaldependencies.org/format.html). Only :func:`with_tags` edits it: columns 4 (UPOS)
and 5 (XPOS) of the syntactic word lines; comments, multiword-token ranges (``1-2``), empty nodes
(``3.1``) and every other column are left as they were.

Reading rules: UTF-8 (invalid bytes are an error naming file and line), plain or gzip (a path
ending in ``.gz``). A leading byte-order mark is dropped and CRLF line ends are read as LF; the
writer writes LF and exactly one blank line after each sentence, so a well-formed file round-trips
byte for byte. Several blank lines between sentences count as one; a missing final blank line or
final newline is accepted.

>>> text = "# sent_id = 1\\n1-2\\tDon't\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\n" + "".join(
...     f"{i}\\t{w}\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\n" for i, w in enumerate(["Do", "n't", "go"], 1))
>>> [s] = parse_conllu(text)
>>> s.tokens, s.comments
(['Do', "n't", 'go'], ('# sent_id = 1',))
>>> tagged = with_tags(s, ["AUX", "PART", "VERB"])
>>> tagged.upos, tagged.lines[1] == s.lines[1]
(['AUX', 'PART', 'VERB'], True)
>>> format_conllu([s]) == text + "\\n"
True
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, replace
from typing import IO, Iterable, Sequence, Union

from ..errors import RnnkitError

PathLike = Union[str, "os.PathLike[str]"]

NUM_COLUMNS = 10
UPOS_COLUMN, XPOS_COLUMN = 3, 4  # 0-based: the 4th and 5th of ID FORM LEMMA UPOS XPOS ...
_WORD_ID = re.compile(r"[0-9]+")
_RANGE_ID = re.compile(r"([0-9]+)-([0-9]+)")
_EMPTY_ID = re.compile(r"([0-9]+)\.([0-9]+)")
# C0 and C1 control characters except TAB (and LF, which never reaches a line).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Word:
    """A syntactic word (integer id): ``line`` is its index in :attr:`Sentence.lines`."""

    id: int
    form: str
    upos: str
    xpos: str
    line: int


@dataclass(frozen=True)
class Sentence:
    """One CoNLL-U sentence: its original ``lines`` (no newlines), the ``comments`` among them
    (``'# text = ...'``), and its syntactic ``words`` 1..n (no ranges, no empty nodes).

    ``source`` and ``line_number`` say where its first line was read (file, 1-based line).
    """

    lines: tuple[str, ...]
    comments: tuple[str, ...]
    words: tuple[Word, ...]
    source: str = "<tokens>"
    line_number: int = 1

    @property
    def tokens(self) -> list[str]:
        """The word forms, one per syntactic word: length n."""
        return [w.form for w in self.words]

    @property
    def upos(self) -> list[str]:
        return [w.upos for w in self.words]

    @property
    def xpos(self) -> list[str]:
        return [w.xpos for w in self.words]

    @property
    def sent_id(self) -> str | None:
        """The value of the ``# sent_id = ...`` comment, if any."""
        for c in self.comments:
            key, eq, value = c[1:].partition("=")
            if eq and key.strip() == "sent_id":
                return value.strip()
        return None


def _read_text(path: PathLike) -> str:
    """The decoded text of a plain or ``.gz`` file, or an RnnkitError saying what is wrong."""
    source = os.fspath(path)
    try:
        if source.endswith(".gz"):
            with gzip.open(source, "rb") as f:
                data = f.read()
        else:
            with open(source, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise RnnkitError(f"{source}: file not found") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise RnnkitError(f"{source}: not a valid gzip file ({exc})") from None
    except OSError as exc:
        raise RnnkitError(f"{source}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = " (the file looks gzip-compressed: name it *.gz)" if data[:2] == b"\x1f\x8b" else ""
        raise RnnkitError(f"{source}:{line}: invalid UTF-8 (byte {data[exc.start]:#04x}){hint}") from None
    return text[1:] if text.startswith("\ufeff") else text


def _lines(text: str) -> list[str]:
    """Lines without their LF or CRLF end; a final line without a newline is kept."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ended with a newline (or was empty)
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _word_lines(block: list[tuple[int, str]], source: str) -> Iterable[tuple[int, int, str, list[str]]]:
    """(index in block, kind, id, columns) of each non-comment line; kind 0 word, 1 range, 2 empty."""
    for index, (number, line) in enumerate(block):
        if line.startswith("#"):
            continue
        where = f"{source}:{number}"
        if not line.strip():
            raise RnnkitError(f"{where}: line holds only whitespace (a sentence break is an empty line)")
        cols = line.split("\t")
        if len(cols) != NUM_COLUMNS:
            raise RnnkitError(f"{where}: found {len(cols)} tab-separated columns, expected {NUM_COLUMNS}")
        ident = cols[0]
        kind = next((k for k, rx in enumerate((_WORD_ID, _RANGE_ID, _EMPTY_ID)) if rx.fullmatch(ident)), None)
        if kind is None:
            raise RnnkitError(f"{where}: bad id {ident!r} (expected an integer, a range N-M or a decimal N.K)")
        yield index, kind, ident, cols


def _parse_block(block: list[tuple[int, str]], source: str) -> Sentence:
    """One sentence from its (line number, line) pairs, checking ids as the format requires."""
    words: list[Word] = []
    pending: tuple[str, int, int] | None = None  # (id, last word, line number) of an open range
    for index, kind, ident, cols in _word_lines(block, source):
        where = f"{source}:{block[index][0]}"
        expected = len(words) + 1
        if kind == 0:
            if int(ident) != expected:
                raise RnnkitError(f"{where}: word id {ident}, expected {expected} "
                                  "(word ids start at 1 and increase by one)")
            words.append(Word(expected, cols[1], cols[UPOS_COLUMN], cols[XPOS_COLUMN], index))
            if pending is not None and pending[1] == expected:
                pending = None
        elif kind == 1:
            first, last = map(int, _RANGE_ID.fullmatch(ident).groups())
            if first >= last:
                raise RnnkitError(f"{where}: range {ident} must have N < M")
            if pending is not None:
                raise RnnkitError(f"{where}: range {ident} overlaps range {pending[0]}")
            if first != expected:
                raise RnnkitError(f"{where}: range {ident} does not match the next word id {expected}")
            pending = (ident, last, block[index][0])
        else:
            whole, sub = map(int, _EMPTY_ID.fullmatch(ident).groups())
            if whole != len(words) or sub < 1:
                raise RnnkitError(f"{where}: empty node {ident} must be {len(words)}.K with K >= 1 "
                                  f"(it follows word {len(words)})")
    if pending is not None:
        raise RnnkitError(f"{source}:{pending[2]}: range {pending[0]} covers words up to {pending[1]}, "
                          f"but the sentence ends at word {len(words)}")
    if not words:
        raise RnnkitError(f"{source}:{block[0][0]}: sentence has no words")
    lines = tuple(line for _, line in block)
    comments = tuple(line for line in lines if line.startswith("#"))
    return Sentence(lines, comments, tuple(words), source, block[0][0])


def parse_conllu(text: str, source: str = "<string>") -> list[Sentence]:
    """Sentences of CoNLL-U ``text``; errors name ``source`` and the 1-based line."""
    sentences: list[Sentence] = []
    block: list[tuple[int, str]] = []
    for number, line in enumerate(_lines(text), 1):
        if line:
            block.append((number, line))
        elif block:
            sentences.append(_parse_block(block, source))
            block = []
    if block:
        sentences.append(_parse_block(block, source))
    if not sentences:
        raise RnnkitError(f"{source}: no sentences")
    return sentences


def read_conllu(path: PathLike) -> list[Sentence]:
    """Sentences of a CoNLL-U file (plain, or gzip when the name ends in ``.gz``).

    Malformed input raises :class:`RnnkitError` as ``"<path>:<line>: <what is wrong>"``.
    """
    return parse_conllu(_read_text(path), os.fspath(path))


def with_tags(sentence: Sentence, upos: Sequence[str], xpos: Sequence[str] | None = None) -> Sentence:
    """A copy of ``sentence`` whose word lines carry ``upos`` (and ``xpos`` when given).

    ``upos``/``xpos``: one tag per syntactic word (length n). Nothing else changes: not the ranges,
    empty nodes or comments, nor any other column.
    """
    n = len(sentence.words)
    for name, tags in (("UPOS", upos), ("XPOS", xpos)):
        if tags is None:
            continue
        if len(tags) != n:
            raise RnnkitError(f"{len(tags)} {name} tags for a sentence of {n} words")
        bad = next((t for t in tags if not isinstance(t, str) or not t or any(c.isspace() for c in t)), None)
        if bad is not None:
            raise RnnkitError(f"bad {name} tag {bad!r}: a tag is a non-empty string without whitespace")
    lines = list(sentence.lines)
    words = []
    for i, word in enumerate(sentence.words):
        cols = lines[word.line].split("\t")
        cols[UPOS_COLUMN] = upos[i]
        if xpos is not None:
            cols[XPOS_COLUMN] = xpos[i]
        lines[word.line] = "\t".join(cols)
        words.append(replace(word, upos=cols[UPOS_COLUMN], xpos=cols[XPOS_COLUMN]))
    return replace(sentence, lines=tuple(lines), words=tuple(words))


def format_conllu(sentences: Iterable[Sentence]) -> str:
    """CoNLL-U text: each sentence's lines, LF-terminated, then one blank line."""
    return "".join("".join(line + "\n" for line in s.lines) + "\n" for s in sentences)


def write_conllu(sentences: Iterable[Sentence], file_or_path: PathLike | IO[str]) -> None:
    """Write ``sentences`` to a text file object, or to a path (gzip if it ends in ``.gz``)."""
    text = format_conllu(sentences)
    if hasattr(file_or_path, "write"):
        file_or_path.write(text)
        return
    path = os.fspath(file_or_path)
    data = text.encode("utf-8")
    try:
        with open(path, "wb") as f:
            # mtime=0: the same sentences give the same .gz bytes.
            f.write(gzip.compress(data, mtime=0) if path.endswith(".gz") else data)
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot write ({exc.strerror or exc})") from None


def sentences_from_text(path: PathLike) -> list[tuple[int, list[str]]]:
    """Raw text to tag: one sentence per line, tokens split on whitespace (spaces, TABs).

    Returns ``(line number, tokens)`` for each non-blank line; blank or whitespace-only lines are
    skipped (their numbers are not reused). Plain or ``.gz``, UTF-8, LF or CRLF, final newline
    optional. A control character other than TAB is an error naming file and line.
    """
    source = os.fspath(path)
    sentences = []
    for number, line in enumerate(_lines(_read_text(path)), 1):
        bad = _CONTROL.search(line)
        if bad:
            raise RnnkitError(f"{source}:{number}: control character {bad.group()!r} at column {bad.start() + 1}")
        tokens = line.split()
        if tokens:
            sentences.append((number, tokens))
    if not sentences:
        raise RnnkitError(f"{source}: no sentences")
    return sentences


def sentences_from_tokens(token_lists: Iterable[Sequence[str]]) -> list[Sentence]:
    """Minimal CoNLL-U sentences (ID and FORM, ``_`` elsewhere) with ``# sent_id = N`` (from 1)
    and ``# text = ...`` comments, ready for :func:`with_tags` and :func:`write_conllu`.

    >>> [s] = sentences_from_tokens([["Hi", "there"]])
    >>> text = format_conllu([with_tags(s, ["INTJ", "ADV"])])
    >>> print(text.replace("\\t", " "), end="")  # TABs shown as spaces
    # sent_id = 1
    # text = Hi there
    1 Hi _ INTJ _ _ _ _ _ _
    2 there _ ADV _ _ _ _ _ _
    <BLANKLINE>
    """
    sentences = []
    for n, tokens in enumerate(token_lists, 1):
        if not tokens:
            raise RnnkitError(f"sentence {n} has no tokens")
        for t in tokens:
            if not isinstance(t, str) or not t or any(c.isspace() for c in t) or _CONTROL.search(t):
                raise RnnkitError(f"sentence {n}: bad token {t!r} (a token is non-empty, "
                                  "without whitespace or control characters)")
        lines = [f"# sent_id = {n}", f"# text = {' '.join(tokens)}"]
        lines += [f"{i}\t{t}" + "\t_" * (NUM_COLUMNS - 2) for i, t in enumerate(tokens, 1)]
        sentences.append(_parse_block(list(enumerate(lines, 1)), "<tokens>"))
    return sentences
