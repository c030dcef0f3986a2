"""A part-of-speech tagger: one output per input word, reading the sentence both ways.

    word ids [B, T] ------ Embedding ---------------------------\\
                                                                 cat -> [B, T, D] -> BiLSTM -> [B, T, 2H] -> UPOS head
    char ids [B, T, L] -- Embedding -> BiLSTM over each word ---/                                    \\-> XPOS head
                                       (final fwd; final bwd)       (each distinct spelling once per batch)

The character encoder gives rare and unseen words a representation from their spelling; the
sentence BiLSTM combines, at each word, a forward net's summary of the words before it and a
backward net's of the words after it (the right tag often depends on what follows). Padding
reaches neither direction: the backward net reads each sentence (and word) reversed within its
own length, so it starts at the real end (:meth:`RecurrentEncoder.outputs`).

In training, some words are read as the unknown word (``word_dropout``, ``rare_word_dropout``)
and some are misspelt (``misspell``: one character replaced, dropped or doubled), so the
character encoder learns the unseen words and typos of web text. A :class:`TaggerEnsemble` is
``members`` such taggers trained side by side, tagging by their mean probabilities.

Inputs are one tensor, [B, T, 1 + L]: column 0 the word id, the rest the character ids (see
:mod:`rnnkit.data.tagging`; id 0 is padding, 1 unknown). The output is the logits of both heads
side by side, [B, T, U + X]: the first ``num_upos`` columns are UPOS, the next ``num_xpos`` XPOS
(none when ``num_xpos`` is 0), then, with ``char_loss``, U more: the auxiliary UPOS head on the
character features alone (a training signal; predictions read the first U + X columns).

>>> cfg = TaggerConfig(num_words=10, num_chars=8, num_upos=3, num_xpos=4, word_dim=6, char_dim=4,
...                    char_hidden_size=5, hidden_size=7, num_layers=1)
>>> model = build_tagger(cfg).eval()
>>> inputs = torch.randint(2, 8, (2, 5, 4))
>>> logits, state = model(inputs, torch.tensor([5, 3]))
>>> tuple(logits.shape), state
((2, 5, 7), ())
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..errors import RnnkitError
from .dropout import FastDropout
from .encoders import RecurrentEncoder, State

PAD_ID, UNK_ID = 0, 1


@dataclass(frozen=True)
class TaggerConfig:
    """Everything needed to rebuild a tagger; saved in the run's config.json."""

    num_words: int
    num_chars: int
    num_upos: int
    num_xpos: int = 0  # 0: no XPOS head
    word_dim: int = 100
    char_dim: int = 32
    char_hidden_size: int = 64  # per direction
    hidden_size: int = 128  # per direction (256: lower EWT dev accuracy in 20 CPU minutes, half the speed)
    num_layers: int = 2
    bidirectional: bool = True  # False: the forward net alone (the ablation that shows what the backward one buys)
    dropout: float = 0.33  # on the word features, between layers and before the heads
    word_dropout: float = 0.05  # training words replaced by the unknown word, so its embedding keeps learning
    # alpha: besides, a training word seen c times is read as unknown with probability alpha / (alpha + c)
    # (Kiperwasser and Goldberg 2016): rare words most, the way unseen words will come (0: off).
    rare_word_dropout: float = 0.0
    # The weight of an auxiliary UPOS head on each word's character features alone: it trains the
    # character encoder to carry the part of speech, which is all an unseen word has (0: no head).
    char_loss: float = 0.0
    # A training word is misspelt with this probability: one character replaced by a random one,
    # dropped or doubled (web text's unseen words are often typos of seen ones; 0: off, as in runs
    # from before it; a new run's default is the recipe's, 0.1).
    misspell: float = 0.0
    # Taggers trained side by side on the same batches, each with its own initial weights, dropout
    # and loss, that tag by their average probabilities (TaggerEnsemble; 1: one tagger).
    members: int = 1

    def validate(self) -> "TaggerConfig":
        """Return self, or raise RnnkitError naming the first nonsense value."""
        for name in ("members", "num_words", "num_chars", "num_upos", "word_dim", "char_dim", "char_hidden_size",
                     "hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                raise RnnkitError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.char_loss < 0:
            raise RnnkitError(f"char-loss must be >= 0, got {self.char_loss}")
        if not 0.0 <= self.misspell < 1.0:
            raise RnnkitError(f"misspell must be in [0, 1), got {self.misspell}")
        if self.rare_word_dropout < 0:
            raise RnnkitError(f"rare-word-dropout must be >= 0, got {self.rare_word_dropout}")
        if self.num_xpos < 0:
            raise RnnkitError(f"num-xpos must be >= 0, got {self.num_xpos}")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RnnkitError(f"{name.replace('_', '-')} must be in [0, 1), got {getattr(self, name)}")
        return self


class CharEncoder(nn.Module):
    """Each word's characters [N, L] (0-padded) -> [N, 2 * hidden_size]: the final forward and
    final backward states of a one-layer BiLSTM over the word's real characters."""

    def __init__(self, num_chars: int, char_dim: int, hidden_size: int):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.rnn = RecurrentEncoder(char_dim, hidden_size, 1, "lstm", bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: torch.Tensor, groups: int = 4) -> torch.Tensor:
        """The words are sorted by length and run in ``groups`` groups, each only as wide as its
        longest word (most words are short: one width for all would be mostly padding)."""
        lengths = (chars != PAD_ID).sum(dim=1)  # [N], each >= 1
        order = torch.argsort(lengths)
        feats = torch.cat([self._encode(chars[idx, :int(lengths[idx[-1]])], lengths[idx])
                           for idx in order.tensor_split(min(groups, len(order)))])
        return feats[torch.argsort(order)]

    def _encode(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.rnn.outputs(self.embedding(chars), lengths)  # [n, l, 2H]
        H = out.shape[-1] // 2
        last = out[torch.arange(out.shape[0], device=out.device), lengths - 1, :H]  # forward, at the last character
        return torch.cat([last, out[:, 0, H:]], dim=-1)  # backward, back at the first


class TaggerModel(nn.Module):
    """Word and character features -> BiLSTM -> UPOS (and XPOS) logits; see the module docstring."""

    def __init__(self, cfg: TaggerConfig):
        super().__init__()
        self.config = cfg.validate()
        self.words = nn.Embedding(cfg.num_words, cfg.word_dim, padding_idx=PAD_ID)
        self.chars = CharEncoder(cfg.num_chars, cfg.char_dim, cfg.char_hidden_size)
        self.input_dropout = FastDropout(cfg.dropout)
        self.encoder = RecurrentEncoder(cfg.word_dim + self.chars.output_size, cfg.hidden_size, cfg.num_layers,
                                        "lstm", bidirectional=cfg.bidirectional, dropout=cfg.dropout)
        self.output_dropout = FastDropout(cfg.dropout)
        self.upos = nn.Linear(self.encoder.output_size, cfg.num_upos)
        self.xpos = nn.Linear(self.encoder.output_size, cfg.num_xpos) if cfg.num_xpos else None
        self.char_upos = nn.Linear(self.chars.output_size, cfg.num_upos) if cfg.char_loss > 0 else None
        # Training counts of each word id, for rare_word_dropout; set by the recipe from the training
        # data (set_word_counts), not saved: inference never drops words.
        self.register_buffer("word_counts", torch.zeros(cfg.num_words), persistent=False)

    def set_word_counts(self, counts: torch.Tensor) -> None:
        """How often each word id [num_words] occurs in the training data (for ``rare_word_dropout``)."""
        if counts.shape != self.word_counts.shape:
            raise ValueError(f"expected {tuple(self.word_counts.shape)} counts, got {tuple(counts.shape)}")
        self.word_counts.copy_(counts)

    def _char_features(self, chars: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """chars [B, T, L], real [B, T] (True on words) -> [B, T, 2 * char_hidden_size], zero on padding."""
        B, T, _ = chars.shape
        spellings, which = torch.unique(chars[real], dim=0, return_inverse=True)  # each spelling once
        feats = self.chars(spellings)[which]  # [N, 2Hc]: real words only (a word has >= 1 character)
        out = feats.new_zeros(B, T, feats.shape[-1])
        out[real] = feats
        return out

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """inputs [B, T, 1 + L], lengths [B] (None: no padding) -> (logits [B, T, U + X], ())."""
        words, chars = inputs[..., 0], inputs[..., 1:]
        B, T = words.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        real = torch.arange(T, device=words.device)[None, :] < lengths.to(words.device)[:, None]  # [B, T]
        if self.training and self.config.misspell > 0:
            chars = misspell(chars.reshape(B * T, -1), self.config.misspell, self.config.num_chars).view(chars.shape)
        return self.tag_logits(words, self._char_features(chars, real), lengths), ()

    def tag_logits(self, words: torch.Tensor, char_features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """words [B, T], each word's :attr:`chars` features [B, T, C], lengths [B] -> logits [B, T, U + X].

        The second half of ``forward``, for callers that keep the character features of words
        they have seen (a word's features depend on its spelling only).
        """
        cfg = self.config
        if self.training and (cfg.word_dropout > 0 or cfg.rare_word_dropout > 0):
            p = torch.full(words.shape, cfg.word_dropout, device=words.device)
            if cfg.rare_word_dropout > 0:  # either drop: 1 - (1 - p)(1 - alpha / (alpha + c))
                rare = cfg.rare_word_dropout / (cfg.rare_word_dropout + self.word_counts[words])
                p = 1 - (1 - p) * (1 - rare)
            drop = torch.rand(words.shape, device=words.device) < p
            words = words.masked_fill(drop & (words != PAD_ID), UNK_ID)
        x = torch.cat([self.words(words), char_features], dim=-1)  # [B, T, D]
        h = self.encoder.outputs(self.input_dropout(x), lengths)  # [B, T, 2H], zero past each length
        h = self.output_dropout(h)
        heads = [self.upos(h)] + ([self.xpos(h)] if self.xpos is not None else [])
        if self.char_upos is not None:  # the auxiliary head, last: callers read the first U + X columns
            heads.append(self.char_upos(self.input_dropout(char_features)))
        return torch.cat(heads, dim=-1) if len(heads) > 1 else heads[0]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def misspell(chars: torch.Tensor, p: float, num_chars: int) -> torch.Tensor:
    """chars [N, L] (0-padded words) with each word, with probability ``p``, given one typo at a
    random place: that character replaced by a random one (ids 2..num_chars-1), dropped (words of
    two or more characters), or doubled (a word already L long loses its last character).

    >>> _ = torch.manual_seed(0)
    >>> misspell(torch.tensor([[5, 6, 7, 0]]).repeat(6, 1), 1.0, 9).tolist()  # drops, a replace, doubles
    [[5, 7, 0, 0], [5, 6, 0, 0], [6, 7, 0, 0], [6, 6, 7, 0], [5, 5, 6, 7], [5, 6, 6, 7]]
    """
    N, L = chars.shape
    lengths = (chars != PAD_ID).sum(dim=1)
    pos = (torch.rand(N, device=chars.device) * lengths).long()[:, None]  # [N, 1], in [0, length)
    op = torch.randint(0, 3, (N, 1), device=chars.device)  # 0 replace, 1 drop, 2 double
    op = torch.where((op == 1) & (lengths[:, None] < 2), 2, op)
    j = torch.arange(L, device=chars.device)[None, :]
    source = torch.where(op == 1, j + (j >= pos).long(), torch.where(op == 2, j - (j > pos).long(), j))
    out = torch.cat([chars, chars.new_zeros(N, 1)], dim=1).gather(1, source)  # index L reads padding
    random = torch.randint(2, max(num_chars, 3), (N, 1), device=chars.device)
    out = torch.where((op == 0) & (j == pos), random, out)
    hit = (torch.rand(N, device=chars.device) < p) & (lengths > 0)
    return torch.where(hit[:, None], out, chars)


class TaggerEnsemble(nn.Module):
    """``cfg.members`` taggers side by side. Training: the logits of every member, concatenated
    [B, T, K * W] (W = one member's width); the divergence splits them and takes the mean of the
    members' own losses (:func:`rnnkit.recipes.tagger.tag_divergence`). Evaluation: per head, the log of
    the members' mean probabilities, [B, T, W], read like one tagger's logits."""

    def __init__(self, cfg: TaggerConfig):
        super().__init__()
        self.config = cfg.validate()
        self.members = nn.ModuleList(TaggerModel(replace(cfg, members=1)) for _ in range(cfg.members))
        m = self.members[0]
        self.heads = [cfg.num_upos] + [cfg.num_xpos] * (m.xpos is not None) + [cfg.num_upos] * (m.char_upos is not None)

    def set_word_counts(self, counts: torch.Tensor) -> None:
        for m in self.members:
            m.set_word_counts(counts)

    def chars(self, spellings: torch.Tensor) -> torch.Tensor:
        """Every member's character features of ``spellings`` [N, L], side by side: [N, K * C]."""
        return torch.cat([m.chars(spellings) for m in self.members], dim=-1)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        return self._combine([m(inputs, lengths)[0] for m in self.members]), ()

    def tag_logits(self, words: torch.Tensor, char_features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """As :meth:`TaggerModel.tag_logits`, ``char_features`` those of :meth:`chars`."""
        feats = char_features.chunk(len(self.members), dim=-1)
        return self._combine([m.tag_logits(words, f, lengths) for m, f in zip(self.members, feats)])

    def _combine(self, logits: list[torch.Tensor]) -> torch.Tensor:
        if self.training:
            return torch.cat(logits, dim=-1)
        heads = [torch.stack(parts).float().log_softmax(-1).logsumexp(0) - math.log(len(logits))
                 for parts in zip(*(x.split(self.heads, dim=-1) for x in logits))]
        return torch.cat(heads, dim=-1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_tagger(cfg: TaggerConfig) -> TaggerModel | TaggerEnsemble:
    """The tagger for ``cfg`` (validated first: bad values raise RnnkitError): a TaggerModel, or a
    TaggerEnsemble of ``cfg.members`` of them."""
    return TaggerModel(cfg) if cfg.validate().members == 1 else TaggerEnsemble(cfg)
