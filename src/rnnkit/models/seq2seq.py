"""Encoder-decoder: the lecture's a posteriori sequence-to-sequence net (the output is generated
after the whole input has been read).

    inputs [B, S] -> Embedding -> (Bi)LSTM encoder -> memory [B, S, D]
                                        \\-> final state (forward at the last input, backward at the first)
                                             -> bridge -> the decoder's initial (h, c)
    previous outputs [B, U] -> Embedding -> LSTM decoder -> h [B, U, Hd] -> (attention over memory) -> head -> logits

The decoder starts from a state computed from the encoder's final state (the lecture's
encoder-decoder, ``attention=False``: everything the decoder knows of the input passes through
that one vector). With ``attention=True`` each decoder output also looks back at every encoder
output (Luong et al. 2015, "general" scores): a_t = softmax(h_t W memory^T), c_t = a_t memory,
output tanh(W_c [h_t; c_t]).

Output id 0 is the end symbol; the decoder's first input is the same id (the start). Training
is teacher-forced: the decoder reads the reference's previous symbol, all steps at once;
:meth:`EncoderDecoder.start` and :meth:`EncoderDecoder.step` run it one symbol at a time for
free-running decoding (``rnnkit.decoding.seq2seq``), with the same numbers.

>>> cfg = Seq2SeqConfig(num_inputs=6, num_outputs=5, embedding_dim=4, hidden_size=3, num_layers=1,
...                     decoder_hidden_size=5)
>>> model = build_seq2seq(cfg).eval()
>>> logits, _ = model(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]), torch.tensor([[2, 0], [0, -100]]))
>>> tuple(logits.shape)
(2, 2, 5)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import RnnkitError
from .dropout import FastDropout
from .encoders import RecurrentEncoder

END_ID = 0  # the end symbol, also the decoder's first input
PAD_ID = 0  # input padding


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything needed to rebuild an encoder-decoder; saved in the run's config.json."""

    num_inputs: int  # input symbols, 0 the padding
    num_outputs: int  # output symbols, 0 the end (and start) symbol
    embedding_dim: int = 64  # both embeddings
    hidden_size: int = 256  # encoder units per direction
    num_layers: int = 2  # encoder layers
    bidirectional: bool = True
    decoder_hidden_size: int = 256
    decoder_layers: int = 1
    attention: bool = True  # False: the plain encoder-decoder (the lecture's)
    # On the embeddings, between layers and before the head. Dev WER of 30-minute runs on 2 cores (the
    # benchmark's setting): 0.2 24.44%, 0.35 24.98%. (One-thread probes had favoured 0.35: 25.16% against 25.76%.)
    dropout: float = 0.2
    # Training only (the outputs do not depend on it): the share of each target spread over all symbols.
    # Dev WER of 30-minute runs on 2 cores: 0.1 23.78%, none 24.44% (README, "CMUdict"). Runs from
    # before it existed were trained without (recipes.g2p.resume_g2p).
    label_smoothing: float = 0.1

    def validate(self) -> "Seq2SeqConfig":
        """Return self, or raise RnnkitError naming the first nonsense value."""
        for name in ("num_inputs", "num_outputs", "embedding_dim", "hidden_size", "num_layers",
                     "decoder_hidden_size", "decoder_layers"):
            if getattr(self, name) <= 0:
                raise RnnkitError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise RnnkitError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise RnnkitError(f"label-smoothing must be in [0, 1), got {self.label_smoothing}")
        return self


@dataclass
class DecoderState:
    """What one decoding step needs: the encoder's outputs and the decoder's recurrent state.

    memory [N, S, D], keys [N, S, Hd] (memory projected for the attention scores, or None), mask [N, S]
    (True on real inputs), h and c [decoder_layers, N, Hd]. :meth:`select` keeps rows (beam search).
    """

    memory: torch.Tensor
    keys: torch.Tensor | None
    mask: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor

    def select(self, rows: torch.Tensor) -> "DecoderState":
        """The state of rows ``rows`` [N'] (repeats allowed)."""
        keys = None if self.keys is None else self.keys.index_select(0, rows)
        return DecoderState(self.memory.index_select(0, rows), keys, self.mask.index_select(0, rows),
                            self.h.index_select(1, rows), self.c.index_select(1, rows))


class EncoderDecoder(nn.Module):
    """See the module docstring."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.config = cfg.validate()
        self.input = nn.Embedding(cfg.num_inputs, cfg.embedding_dim, padding_idx=PAD_ID)
        self.encoder = RecurrentEncoder(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, "lstm",
                                        bidirectional=cfg.bidirectional, dropout=cfg.dropout)
        D, H, L = self.encoder.output_size, cfg.decoder_hidden_size, cfg.decoder_layers
        self.bridge = nn.Linear(D, 2 * L * H)  # the encoder's final state -> the decoder's (h, c) of each layer
        self.output_embedding = nn.Embedding(cfg.num_outputs, cfg.embedding_dim)
        self.decoder = RecurrentEncoder(cfg.embedding_dim, H, L, "lstm", dropout=cfg.dropout)
        self.attend = nn.Linear(D, H, bias=False) if cfg.attention else None
        self.combine = nn.Linear(H + D, H) if cfg.attention else None
        self.dropout = FastDropout(cfg.dropout)
        self.head = nn.Linear(H, cfg.num_outputs)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor,
                targets: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """Teacher-forced logits [B, U, C] for inputs [B, S] (lengths [B]) and the reference
        outputs ``targets`` [B, U] (each ending with the end symbol; -100 past it)."""
        state = self.start(inputs, lengths)
        previous = torch.cat([torch.full_like(targets[:, :1], END_ID), targets[:, :-1].clamp_min(0)], dim=1)
        logits, _ = self._decode(previous, state)
        return logits, ()

    def start(self, inputs: torch.Tensor, lengths: torch.Tensor) -> DecoderState:
        """Encode inputs [B, S] (lengths [B], each >= 1): the state before the first output."""
        lengths = lengths.to(inputs.device)
        memory = self.encoder.outputs(self.dropout(self.input(inputs)), lengths)  # [B, S, D], zero past lengths
        B = inputs.shape[0]
        rows = torch.arange(B, device=inputs.device)
        last = memory[rows, lengths - 1]  # [B, D]: the forward net's output after the whole input
        if self.encoder.rnn.bidirectional:
            half = memory.shape[-1] // 2  # the backward net ends at the first input
            last = torch.cat([last[:, :half], memory[:, 0, half:]], dim=-1)
        L, H = self.config.decoder_layers, self.config.decoder_hidden_size
        h, c = self.bridge(last).view(B, 2, L, H).permute(1, 2, 0, 3).unbind(0)  # each [L, B, H]
        mask = torch.arange(inputs.shape[1], device=inputs.device)[None, :] < lengths[:, None]
        keys = self.attend(memory) if self.attend is not None else None
        return DecoderState(memory, keys, mask, torch.tanh(h).contiguous(), c.contiguous())

    def step(self, previous: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One output: previous symbols [N] -> (log-probabilities [N, C] of the next, the new state)."""
        logits, state = self._decode(previous[:, None], state)
        return torch.log_softmax(logits[:, 0].float(), dim=-1), state

    def _decode(self, previous: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        x = self.dropout(self.output_embedding(previous))  # [B, U, E]
        out, (h, c) = self.decoder(x, None, (state.h, state.c))  # [B, U, H]
        if self.attend is not None:
            scores = out @ state.keys.transpose(1, 2)  # [B, U, S]
            scores = scores.masked_fill(~state.mask[:, None, :], float("-inf"))
            context = torch.softmax(scores.float(), dim=-1).to(state.memory.dtype) @ state.memory  # [B, U, D]
            out = torch.tanh(self.combine(torch.cat([out, context.to(out.dtype)], dim=-1)))
        logits = self.head(self.dropout(out))
        return logits, DecoderState(state.memory, state.keys, state.mask, h, c)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_seq2seq(cfg: Seq2SeqConfig) -> EncoderDecoder:
    """The encoder-decoder for ``cfg`` (validated first: bad values raise RnnkitError)."""
    return EncoderDecoder(cfg)
