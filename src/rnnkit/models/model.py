"""The one model every task composes: input projection -> encoder -> output head.

    symbols [B, T] --Embedding--\\
                                 >-- [B, T, D] -- encoder --> [B, T, H] -- dropout -- Linear --> logits [B, T, C]
    features [B, T, F] --Linear-/

A model returns logits and its recurrent state; losses, vocabularies, decoding and device
choice live elsewhere. The task decides what the outputs mean (next symbol, tag, class at
the last step, CTC label).

>>> cfg = ModelConfig(vocab_size=10, num_outputs=10, hidden_size=8, embedding_dim=4, num_layers=2)
>>> model = build_model(cfg)
>>> logits, state = model(torch.zeros(3, 5, dtype=torch.long))
>>> tuple(logits.shape), [tuple(s.shape) for s in state]
((3, 5, 10), [(2, 3, 8), (2, 3, 8)])
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import RnnkitError
from .dropout import EmbeddingDropout, FastDropout
from .encoders import RNN_CELLS, RecurrentEncoder, State, TDNNEncoder

CELLS = RNN_CELLS + ("tdnn", "mingru", "minlstm")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; saved as JSON beside its weights.

    Exactly one of ``vocab_size`` (symbol input through an embedding) and ``input_size``
    (feature vectors, e.g. log-mel frames, through a linear projection) is set.
    """

    num_outputs: int
    vocab_size: int | None = None
    input_size: int | None = None
    embedding_dim: int = 128
    cell: str = "lstm"
    hidden_size: int = 512
    num_layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.0
    tie_weights: bool = False
    window: int = 5  # tdnn only: how many inputs each output sees
    causal: bool = True  # tdnn only: look back only (language models) or both ways (taggers)
    direct: bool = False  # tdnn only: the head also sees the window's inputs (Bengio's direct connections)
    # Regularisers (Merity et al. 2017, AWD-LSTM), each off by default. ``dropout`` is the rate on the
    # input projection, between layers and before the head; the three below override it one place each.
    input_dropout: float | None = None
    between_dropout: float | None = None
    output_dropout: float | None = None
    locked_dropout: bool = False  # one mask per sequence for a whole segment (variational dropout)
    embedding_dropout: float = 0.0  # whole symbols dropped from the embedding
    weight_drop: float = 0.0  # DropConnect on the recurrent matrices
    ar: float = 0.0  # activation regularisation: ar * mean(dropped last-layer output ** 2)
    tar: float = 0.0  # temporal activation regularisation: tar * mean((h_t - h_{t-1}) ** 2)
    # Single-input generation (the lecture's captioning shape): one of this many classes (a tune's
    # kind) sets the recurrent net's initial state, see SequenceModel.initial_state. 0: none.
    # Conditions [B, K] give each sequence K of the classes (a tune's kind and its meter), their vectors summed.
    num_conditions: int = 0
    # With num_conditions: the condition's learnt vector is also added to the input of every step
    # (not only the initial state), so the choice need not survive a long stretch of the sequence.
    condition_input: bool = False
    # Symbol input with one of this many classes beside each symbol (the tune recipe's place in the
    # bar, data/bar_position.py): ids are symbol + vocab_size * class, read as the sum of the
    # symbol's and the class's learnt vectors (PairEmbedding). 0: none.
    step_classes: int = 0
    # With step_classes: one of this many counts beside each symbol and class too (the tune recipe's
    # bars closed so far): ids are symbol + vocab_size * (class + step_classes * count), and the
    # count's learnt vector is added as well. 0: none.
    step_counts: int = 0
    # With step_counts: one of this many section counts as well (the tune recipe's bars closed in the
    # running part): ids are symbol + vocab_size * (class + step_classes * (count + step_counts *
    # section)), and the section count's learnt vector is added too. 0: none.
    step_sections: int = 0

    def validate(self) -> "ModelConfig":
        """Return self, or raise RnnkitError naming the first nonsense value."""
        def positive(name: str, value: int | None) -> None:
            if value is not None and value <= 0:
                raise RnnkitError(f"{name} must be positive, got {value}")
        for name in ("num_outputs", "embedding_dim", "hidden_size", "num_layers", "window"):
            positive(name, getattr(self, name))
        positive("vocab_size", self.vocab_size)
        positive("input_size", self.input_size)
        if (self.vocab_size is None) == (self.input_size is None):
            raise RnnkitError("set exactly one of vocab_size (symbol input) and input_size (feature input)")
        if self.cell not in CELLS:
            raise RnnkitError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for name in ("dropout", "input_dropout", "between_dropout", "output_dropout", "embedding_dropout", "weight_drop"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise RnnkitError(f"{name.replace('_', '-')} must be in [0, 1), got {value}")
        if not (self.ar >= 0 and self.tar >= 0):
            raise RnnkitError(f"ar and tar must be >= 0, got {self.ar} and {self.tar}")
        if self.embedding_dropout and self.vocab_size is None:
            raise RnnkitError("embedding-dropout drops symbols: it needs symbol input")
        if self.weight_drop and self.cell not in RNN_CELLS:
            raise RnnkitError(f"weight-drop acts on recurrent matrices: it needs one of {', '.join(RNN_CELLS)}")
        if self.direct and self.cell != "tdnn":
            raise RnnkitError("direct connections are a tdnn option")
        if self.num_conditions < 0:
            raise RnnkitError(f"num_conditions must be >= 0, got {self.num_conditions}")
        if self.step_classes < 0:
            raise RnnkitError(f"step_classes must be >= 0, got {self.step_classes}")
        if self.step_counts < 0 or (self.step_counts and not self.step_classes):
            raise RnnkitError(f"step_counts must be >= 0 and needs step_classes, got {self.step_counts}")
        if self.step_sections < 0 or (self.step_sections and not self.step_counts):
            raise RnnkitError(f"step_sections must be >= 0 and needs step_counts, got {self.step_sections}")
        if self.step_classes and (self.vocab_size is None or self.tie_weights or self.embedding_dropout):
            raise RnnkitError("step_classes pair each input symbol with a class: it needs symbol input, "
                              "without tie_weights or embedding-dropout")
        if self.condition_input and not self.num_conditions:
            raise RnnkitError("condition_input needs num_conditions")
        if self.num_conditions and (self.cell not in RNN_CELLS or self.bidirectional):
            raise RnnkitError("a condition sets the initial state of a forward recurrent net: it needs one of "
                              f"{', '.join(RNN_CELLS)}, not bidirectional")
        if self.bidirectional and self.cell not in RNN_CELLS:
            raise RnnkitError(f"bidirectional needs one of {', '.join(RNN_CELLS)}, not {self.cell}")
        if self.tie_weights:
            if self.vocab_size is None or self.vocab_size != self.num_outputs:
                raise RnnkitError("tie_weights needs symbol input with as many symbols as outputs")
            if self.embedding_dim != self.encoder_output_size:
                raise RnnkitError(
                    f"tie_weights needs embedding_dim ({self.embedding_dim}) equal to the encoder output "
                    f"size ({self.encoder_output_size})")
        return self

    @property
    def encoder_output_size(self) -> int:
        if self.direct:
            return self.hidden_size + self.window * self.embedding_dim
        return self.hidden_size * (2 if self.bidirectional else 1)

    def rate(self, where: str) -> float:
        """The dropout rate at ``where`` (input, between, output): its own setting, else ``dropout``."""
        own = getattr(self, f"{where}_dropout")
        return self.dropout if own is None else own


def build_encoder(cfg: ModelConfig, input_size: int) -> nn.Module:
    """The encoder named by ``cfg.cell``."""
    between = cfg.rate("between")
    if cfg.cell in RNN_CELLS:
        return RecurrentEncoder(input_size, cfg.hidden_size, cfg.num_layers, cfg.cell, cfg.bidirectional, between,
                                cfg.weight_drop, cfg.locked_dropout)
    if cfg.cell == "tdnn":
        return TDNNEncoder(input_size, cfg.hidden_size, cfg.window, cfg.num_layers, cfg.causal, between, cfg.direct)
    from .minrnn import MinRNNEncoder  # parallel-in-time cells

    return MinRNNEncoder(input_size, cfg.hidden_size, cfg.num_layers, cfg.cell[3:], between)


def class_vectors(table: nn.Embedding, conditions: torch.Tensor) -> torch.Tensor:
    """The rows of ``table`` for ``conditions`` [B] -> [B, D], or their sums for [B, K] -> [B, D].

    >>> table = nn.Embedding(3, 2); table.weight.data = torch.tensor([[1., 0.], [0., 1.], [2., 2.]])
    >>> class_vectors(table, torch.tensor([2])).tolist(), class_vectors(table, torch.tensor([[0, 1]])).tolist()
    ([[2.0, 2.0]], [[1.0, 1.0]])
    """
    rows = table(conditions)
    return rows.sum(dim=-2) if conditions.dim() == 2 else rows


class PairEmbedding(nn.Module):
    """ids = symbol + num_symbols * class [B, T] -> the symbol's vector plus the class's [B, T, D];
    with ``num_counts``, class = class + num_classes * count, and the count's vector is added too;
    with ``num_sections`` as well, count = count + num_counts * section, and the section's vector too.
    :meth:`lookups` names the rows that are summed: code that folds an embedding into the next
    layer (the sampler's Stepper) folds each table and sums the folded rows.

    >>> e = PairEmbedding(3, 2, 4, num_counts=5)
    >>> ids = torch.tensor([[1 + 3 * (1 + 2 * 4)]])
    >>> bool(torch.equal(e(ids)[0], e.symbols.weight[[1]] + e.classes.weight[[1]] + e.counts.weight[[4]]))
    True
    >>> e = PairEmbedding(3, 2, 4, num_counts=5, num_sections=6)
    >>> rows = e.lookups(torch.tensor([2 + 3 * (1 + 2 * (4 + 5 * 3))]))
    >>> [int(r) for r in rows]
    [2, 1, 4, 3]
    """

    def __init__(self, num_symbols: int, num_classes: int, dim: int, num_counts: int = 0, num_sections: int = 0):
        super().__init__()
        if num_sections and not num_counts:
            raise ValueError("num_sections needs num_counts")
        self.num_symbols, self.num_classes, self.num_counts = num_symbols, num_classes, num_counts
        self.symbols = nn.Embedding(num_symbols, dim)
        self.classes = nn.Embedding(num_classes, dim)
        nn.init.normal_(self.classes.weight, std=0.1)
        self.counts = nn.Embedding(num_counts, dim) if num_counts else None
        if self.counts is not None:
            nn.init.normal_(self.counts.weight, std=0.1)
        self.sections = nn.Embedding(num_sections, dim) if num_sections else None
        if self.sections is not None:
            nn.init.normal_(self.sections.weight, std=0.1)

    @property
    def tables(self) -> list[nn.Embedding]:
        """The symbols', the classes' and (with counts) the counts' and (with sections) the sections'
        tables, in :meth:`lookups`' order."""
        return [self.symbols, self.classes] + [t for t in (self.counts, self.sections) if t is not None]

    def lookups(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Each table's row ids (:attr:`tables`): the rows, summed, are the embedding of ``ids``."""
        classes = ids // self.num_symbols
        if self.counts is None:
            return [ids % self.num_symbols, classes]
        counts = classes // self.num_classes
        if self.sections is None:
            return [ids % self.num_symbols, classes % self.num_classes, counts]
        return [ids % self.num_symbols, classes % self.num_classes, counts % self.num_counts, counts // self.num_counts]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return sum(table(rows) for table, rows in zip(self.tables, self.lookups(ids)))


class SequenceModel(nn.Module):
    """Input projection, encoder and a linear head; see the module docstring for shapes."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg.validate()
        if cfg.step_classes:
            self.input: nn.Module = PairEmbedding(cfg.vocab_size, cfg.step_classes, cfg.embedding_dim,
                                                  cfg.step_counts, cfg.step_sections)
        elif cfg.vocab_size is not None:
            self.input = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        else:
            self.input = nn.Linear(cfg.input_size, cfg.embedding_dim)
        self.embedding_dropout = EmbeddingDropout(cfg.embedding_dropout, cfg.vocab_size or 1)
        self.input_dropout = FastDropout(cfg.rate("input"), locked=cfg.locked_dropout)
        self.encoder = build_encoder(cfg, cfg.embedding_dim)
        self.output_dropout = FastDropout(cfg.rate("output"), locked=cfg.locked_dropout)
        self.head = nn.Linear(self.encoder.output_size, cfg.num_outputs)
        if cfg.tie_weights:
            # One matrix is both the input projection and the softmax weights: nn.Embedding's N(0, 1)
            # would give logits of about sqrt(D) x |h| (25 for D = 650), a softmax so sharp that a
            # 2x650 PTB model's training loss spiked above 15 nats. Uniform(-0.1, 0.1), as in
            # pytorch/examples and AWD-LSTM.
            nn.init.uniform_(self.input.weight, -0.1, 0.1)
            self.head.weight = self.input.weight
        if cfg.num_conditions:
            # One row per class holds every layer's initial state: a learnt linear map of the one-hot
            # condition (h through tanh, as the recurrence keeps it; an LSTM's cell c as it is).
            parts = 2 if cfg.cell == "lstm" else 1
            self.condition = nn.Embedding(cfg.num_conditions, parts * cfg.num_layers * cfg.hidden_size)
            nn.init.normal_(self.condition.weight, std=0.1)
            if cfg.condition_input:
                # As loud as a character's vector (nn.Embedding's N(0, 1)), which it is added to: started
                # at std 0.1, a tune run's kind vectors had grown to a sixth of its characters' norm after
                # 1,500 steps, and the header ignored the kind (README, "Tunes from one choice").
                self.condition_input = nn.Embedding(cfg.num_conditions, cfg.embedding_dim)
        # The activation penalty (cfg.ar, cfg.tar) of the last training forward, for the trainer to add
        # to the divergence; None when there is none.
        self.penalty: torch.Tensor | None = None

    @property
    def state_batch_dim(self) -> int:
        """The dimension of each state tensor that holds the batch: 1 ([layers, B, H]), 0 for the TDNN's window."""
        return 0 if self.config.cell == "tdnn" else 1

    def initial_state(self, conditions: torch.Tensor) -> State:
        """The state [num_layers, B, H] (each of h, and c for an LSTM) that the classes
        ``conditions`` [B] (or [B, K], K classes each) start the net in (a model built with ``num_conditions``)."""
        cfg = self.config
        if not cfg.num_conditions:
            raise RnnkitError("this model was trained without conditions")
        parts = 2 if cfg.cell == "lstm" else 1
        rows = class_vectors(self.condition, conditions).view(-1, parts, cfg.num_layers, cfg.hidden_size).permute(1, 2, 0, 3)
        h = torch.tanh(rows[0]).contiguous()
        return (h, rows[1].contiguous()) if parts == 2 else (h,)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None, conditions: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """inputs: ids [B, T] or features [B, T, F]; lengths [B] or None -> (logits [B, T, C], state).

        With ``lengths`` and gradients on (training on separate sequences), the state returned is
        empty: the batch's sequences end at different steps and none goes on. ``conditions`` [B]
        (or [B, K]): the classes whose vectors join every step's input (a model built with ``condition_input``).
        """
        x = self.input(inputs)
        if conditions is not None and self.config.condition_input:
            x = x + class_vectors(self.condition_input, conditions)[:, None, :]
        if self.config.vocab_size is not None:
            x = self.embedding_dropout(x, inputs)
        x = self.input_dropout(x)  # [B, T, D]
        if lengths is not None and torch.is_grad_enabled() and isinstance(self.encoder, RecurrentEncoder):
            # Training on a padded batch of separate sequences: the same outputs without packing,
            # twice as fast on a CPU (RecurrentEncoder.outputs); no task reads such a batch's state.
            return self._head(self.encoder.outputs(x, lengths, state)), ()
        h, state = self.encoder(x, lengths, state)  # [B, T, H]
        return self._head(h), state

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Output dropout and the linear head; in training also the activation penalty of ``h``."""
        dropped = self.output_dropout(h)
        cfg, self.penalty = self.config, None
        if self.training and (cfg.ar > 0 or cfg.tar > 0):
            penalty = cfg.ar * dropped.float().pow(2).mean()
            if cfg.tar > 0 and h.shape[1] > 1:
                penalty = penalty + cfg.tar * (h[:, 1:] - h[:, :-1]).float().pow(2).mean()
            self.penalty = penalty
        return self.head(dropped)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: ModelConfig) -> SequenceModel:
    """The model for ``cfg`` (validated first: bad values raise RnnkitError)."""
    return SequenceModel(cfg)
