"""Tagging data: vocabularies of words, characters and tags, and sentences encoded for a tagger.

Each token becomes one row of integers: the id of its lowercased form, then the ids of its
characters (left-aligned, 0-padded)::

    ["The", "cat"]  ->  [[w(the), c(T), c(h), c(e), 0, ..., 0],
                         [w(cat), c(c), c(a), c(t), 0, ..., 0]]        [T, 1 + max_word_chars]

Id 0 is padding and 1 unknown, in both the word and the character vocabulary; words seen fewer
than ``min_word_count`` times in training are unknown words, so the unknown embedding is learnt
from real rare words (the character encoder still sees them whole). A word longer than
``max_word_chars`` keeps its first and last halves: prefixes and suffixes carry the part of speech.

Targets are [T, 2] (UPOS id, XPOS id). A tag written ``_`` is ``MISSING`` (-100: no loss, not
scored); a tag training never had is ``UNSEEN`` (-1: no loss, and an error when scored, since
the model cannot output it).

>>> from rnnkit.data.conllu import sentences_from_tokens, with_tags
>>> [s] = sentences_from_tokens([["The", "cat", "sat"]])
>>> s = with_tags(s, ["DET", "NOUN", "VERB"])
>>> v = TagVocab.build([s, s], min_word_count=2, max_word_chars=4)
>>> v.words.tokens, v.chars.tokens[:4]
(('<pad>', '<unk>', 'cat', 'sat', 'the'), ('<pad>', '<unk>', 'a', 't'))
>>> v.encode_tokens(["the", "Casts"]).tolist()  # "Casts" is unknown and clipped to "Ca" + "ts"
[[4, 3, 7, 6, 0], [1, 1, 2, 3, 8]]
>>> v.encode_tags(["DET", "ADJ", "_"], ["_", "_", "_"]).tolist()
[[0, -100], [-1, -100], [-100, -100]]
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import RnnkitError
from .conllu import Sentence
from .vocab import Vocabulary

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
MISSING, UNSEEN = -100, -1
NO_TAG = "_"


def _symbols(counts: Counter, min_count: int) -> Vocabulary:
    rest = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return Vocabulary(tokens=(PAD, UNK, *rest), unk=UNK, kind="token")


def _tags(tags: set[str]) -> Vocabulary | None:
    tags.discard(NO_TAG)
    return Vocabulary(tokens=tuple(sorted(tags)), unk=None, kind="token") if tags else None


@dataclass(frozen=True)
class TagVocab:
    """The symbols of a tagger run (saved as its vocab.json): words, characters, UPOS and XPOS
    tags (``xpos`` None when the training data has none), and every training form, so evaluation
    can tell which tokens are unseen."""

    words: Vocabulary
    chars: Vocabulary
    upos: Vocabulary
    xpos: Vocabulary | None
    train_forms: frozenset[str]
    max_word_chars: int

    @classmethod
    def build(cls, sentences: Sequence[Sentence], min_word_count: int = 2, max_word_chars: int = 20) -> "TagVocab":
        """The vocabularies of training ``sentences``; training data without UPOS tags is an error."""
        forms = [w.form for s in sentences for w in s.words]
        upos = _tags({w.upos for s in sentences for w in s.words})
        if upos is None:
            raise RnnkitError(f"{sentences[0].source}: no UPOS tags to learn (every UPOS column is '_')")
        return cls(words=_symbols(Counter(f.lower() for f in forms), min_word_count),
                   chars=_symbols(Counter(c for f in forms for c in f), 1),
                   upos=upos, xpos=_tags({w.xpos for s in sentences for w in s.words}),
                   train_forms=frozenset(forms), max_word_chars=max_word_chars)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "tagger", "words": self.words.to_json(), "chars": self.chars.to_json(),
                "upos": self.upos.to_json(), "xpos": self.xpos.to_json() if self.xpos else None,
                "train_forms": sorted(self.train_forms), "max_word_chars": self.max_word_chars}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TagVocab":
        try:
            return cls(words=Vocabulary.from_json(data["words"]), chars=Vocabulary.from_json(data["chars"]),
                       upos=Vocabulary.from_json(data["upos"]),
                       xpos=Vocabulary.from_json(data["xpos"]) if data.get("xpos") else None,
                       train_forms=frozenset(data["train_forms"]), max_word_chars=int(data["max_word_chars"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RnnkitError(f"malformed tagger vocabulary: {exc}") from None

    def spelling(self, form: str) -> str:
        """What the character encoder reads of ``form``: all of it, or its first and last halves."""
        n = self.max_word_chars
        return form if len(form) <= n else form[: n // 2] + form[len(form) - (n - n // 2):]

    def encode_spellings(self, forms: Sequence[str]) -> torch.Tensor:
        """Character ids of each form's spelling, left-aligned and 0-padded: [N, max_word_chars]."""
        rows = []
        for form in forms:
            chars = self.chars.encode(list(self.spelling(form))).tolist()
            rows.append(chars + [PAD_ID] * (self.max_word_chars - len(chars)))
        return torch.tensor(rows, dtype=torch.long).view(len(rows), self.max_word_chars)

    def encode_words(self, tokens: Sequence[str]) -> torch.Tensor:
        """Word ids [T] of ``tokens`` (lowercased first)."""
        return torch.as_tensor(self.words.encode([t.lower() for t in tokens]), dtype=torch.long)

    def encode_tokens(self, tokens: Sequence[str]) -> torch.Tensor:
        """Word and character ids of ``tokens``: [T, 1 + max_word_chars] (see the module docstring)."""
        return torch.cat([self.encode_words(tokens)[:, None], self.encode_spellings(tokens)], dim=1)

    def encode_tags(self, upos: Sequence[str], xpos: Sequence[str]) -> torch.Tensor:
        """Targets [T, 2]: UPOS and XPOS ids, ``MISSING`` for ``_`` (and for XPOS when the model has
        no XPOS head), ``UNSEEN`` for a tag training never had."""
        def ids(tags: Sequence[str], vocab: Vocabulary | None) -> list[int]:
            if vocab is None:
                return [MISSING] * len(tags)
            return [MISSING if t == NO_TAG else vocab.index(t) if t in vocab else UNSEEN for t in tags]
        return torch.tensor(list(zip(ids(upos, self.upos), ids(xpos, self.xpos))), dtype=torch.long).view(-1, 2)

    def examples(self, sentences: Sequence[Sentence]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs [T, 1 + max_word_chars], targets [T, 2]) of each sentence."""
        return [(self.encode_tokens(s.tokens), self.encode_tags(s.upos, s.xpos)) for s in sentences]
