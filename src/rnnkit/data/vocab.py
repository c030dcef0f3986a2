"""Vocabulary: the symbols a model reads and writes, saved with every model as JSON.

Unknown symbols: a character vocabulary always holds ``UNK`` (U+FFFD, the same character that
replaces invalid UTF-8 when a corpus is read). At evaluation, characters the training text never
had map to it and are counted; a sampling prime with such characters is an error, since a model
cannot be primed with text it has no symbol for.

>>> v = Vocabulary.build_chars("hello world")
>>> v.decode(v.encode("hello"))
'hello'
>>> ids, unknown = v.encode_counting("hex")
>>> v.decode(ids), unknown
('he\ufffd', 1)
>>> Vocabulary.from_json(v.to_json()) == v
True
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import RnnkitError

UNK = "\ufffd"


@dataclass(frozen=True)
class Vocabulary:
    """An ordered list of symbols; the id of a symbol is its index.

    ``unk`` is the symbol unknown input maps to (None: unknown input is an error);
    ``blank`` is the CTC blank symbol when the vocabulary serves a CTC model.
    """

    tokens: tuple[str, ...]
    unk: str | None = UNK
    blank: str | None = None
    kind: str = "char"  # "char": text is a string of 1-char symbols; "token": a list of strings
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise RnnkitError("vocabulary has duplicate symbols")
        if not self.tokens:
            raise RnnkitError("vocabulary is empty")
        index = {t: i for i, t in enumerate(self.tokens)}
        for special, name in ((self.unk, "unk"), (self.blank, "blank")):
            if special is not None and special not in index:
                raise RnnkitError(f"{name} symbol {special!r} is not in the vocabulary")
        if self.kind == "char" and any(len(t) != 1 for t in self.tokens):
            raise RnnkitError("a character vocabulary holds single characters only")
        object.__setattr__(self, "_index", index)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build_chars(cls, text: str, max_size: int | None = None, min_count: int = 1) -> "Vocabulary":
        """Characters of ``text`` ordered by code point, plus ``UNK``; rarer ones dropped past ``max_size``."""
        if not text:
            raise RnnkitError("cannot build a vocabulary from empty text")
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return cls.from_char_counts(np.bincount(codes), max_size, min_count)

    @classmethod
    def from_char_counts(cls, counts: np.ndarray, max_size: int | None = None, min_count: int = 1) -> "Vocabulary":
        """:meth:`build_chars` from ``counts[code point]`` (a corpus counted piece by piece)."""
        values = np.flatnonzero(counts)
        keep = [(int(counts[v]), int(v)) for v in values if counts[v] >= min_count and chr(int(v)) != UNK]
        if max_size is not None:
            if max_size < 2:
                raise RnnkitError(f"max vocabulary size must be at least 2, got {max_size}")
            keep = sorted(keep, key=lambda cv: -cv[0])[: max_size - 1]
        chars = sorted(chr(v) for _, v in keep)
        return cls(tokens=(UNK, *chars), unk=UNK, kind="char")

    @classmethod
    def build_tokens(cls, sequences: Iterable[Sequence[str]], specials: Sequence[str] = (), unk: str | None = "<unk>",
                     blank: str | None = None, min_count: int = 1) -> "Vocabulary":
        """A token vocabulary (words, tags, phonemes): specials first, then tokens by frequency."""
        counts = Counter(t for seq in sequences for t in seq)
        head = [s for s in (blank, unk, *specials) if s is not None]
        head = list(dict.fromkeys(head))
        rest = sorted((t for t, c in counts.items() if c >= min_count and t not in head), key=lambda t: (-counts[t], t))
        return cls(tokens=tuple(head + rest), unk=unk, blank=blank, kind="token")

    # -- encoding -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    def index(self, token: str) -> int:
        """The id of ``token`` (KeyError if absent)."""
        return self._index[token]

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def encode_counting(self, seq: str | Sequence[str]) -> tuple[np.ndarray, int]:
        """(ids as int64 array, number of symbols mapped to ``unk``)."""
        if self.kind == "char" and isinstance(seq, str):
            return self._encode_chars(seq)
        unk_id = self._index.get(self.unk) if self.unk is not None else None
        ids, unknown = [], 0
        for t in seq:
            i = self._index.get(t)
            if i is None:
                if unk_id is None:
                    raise RnnkitError(f"symbol {t!r} is not in the vocabulary")
                i, unknown = unk_id, unknown + 1
            ids.append(i)
        return np.asarray(ids, dtype=np.int64), unknown

    def encode(self, seq: str | Sequence[str]) -> np.ndarray:
        """Ids of ``seq``; unknown symbols map to ``unk``."""
        return self.encode_counting(seq)[0]

    def _encode_chars(self, text: str) -> tuple[np.ndarray, int]:
        # Vectorised: a dense code-point table turns 20M characters into ids in well under a second.
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        if codes.size == 0:
            return np.zeros(0, dtype=np.int64), 0
        unk_id = self._index[self.unk] if self.unk is not None else -1
        table = self.code_table(int(codes.max()) + 1)
        ids = table[codes]
        missing = ids < 0
        if missing.any():
            bad = chr(int(codes[missing][0]))
            raise RnnkitError(f"character {bad!r} is not in the vocabulary")
        unknown = int(((ids == unk_id) & (codes != ord(self.unk))).sum()) if self.unk is not None else 0
        return ids, unknown

    def code_table(self, size: int = 0) -> np.ndarray:
        """``table[code point]`` = id (int64; ``unk``'s id, or -1 without one, for characters the
        vocabulary lacks), at least ``size`` long: encodes text of code points below ``size``."""
        unk_id = self._index[self.unk] if self.unk is not None else -1
        table = np.full(max(size, max(ord(t) for t in self.tokens) + 1), unk_id, dtype=np.int64)
        for i, t in enumerate(self.tokens):
            table[ord(t)] = i
        return table

    def unknown_symbols(self, seq: str | Sequence[str]) -> list[str]:
        """The distinct symbols of ``seq`` that the vocabulary lacks, in order of appearance."""
        return list(dict.fromkeys(t for t in seq if t not in self._index))

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text (``kind='char'``) or space-joined tokens (``kind='token'``)."""
        sep = "" if self.kind == "char" else " "
        return sep.join(self.tokens[int(i)] for i in ids)

    # -- persistence ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": list(self.tokens), "unk": self.unk, "blank": self.blank}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Vocabulary":
        try:
            return cls(tokens=tuple(data["tokens"]), unk=data.get("unk"), blank=data.get("blank"),
                       kind=data.get("kind", "char"))
        except (KeyError, TypeError) as exc:
            raise RnnkitError(f"malformed vocabulary: {exc}") from None
