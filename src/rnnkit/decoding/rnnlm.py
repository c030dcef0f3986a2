"""A trained rnnkit language model as an LM scorer for beam searches (the LMScorer protocol).

Decoder token ids (the columns of a recogniser's output, blank included) are mapped to the
LM's symbols by their text; decoder symbols the LM lacks score as its unknown symbol. Each
hypothesis keeps the LM's recurrent state; ``advance`` only records (parent, token), and
``next_log_probs`` runs one batched model step for every pending hypothesis.

>>> import torch
>>> from rnnkit.data.vocab import Vocabulary
>>> from rnnkit.models.model import ModelConfig, build_model
>>> lm_vocab = Vocabulary.build_chars("ab \\n")
>>> model = build_model(ModelConfig(vocab_size=len(lm_vocab), num_outputs=len(lm_vocab), hidden_size=8, embedding_dim=4))
>>> out_vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
>>> scorer = RecurrentLMScorer(model.eval(), lm_vocab, out_vocab)
>>> s = scorer.advance(scorer.initial_state(), 1)
>>> scorer.next_log_probs([s]).shape
(1, 3)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..data.vocab import Vocabulary
from ..errors import RnnkitError


@dataclass(eq=False)
class _LMState:
    parent: "_LMState | None"
    token: int | None  # decoder id appended to the parent
    recurrent: tuple[torch.Tensor, ...] | None = None  # each [L, 1, H] once computed
    log_probs: np.ndarray | None = field(default=None, repr=False)  # [C_decoder]


class RecurrentLMScorer:
    """Next-token log-probabilities from a recurrent symbol LM, batched over hypotheses."""

    def __init__(self, model: nn.Module, lm_vocab: Vocabulary, output_vocab: Vocabulary, prime: str = "\n"):
        from ..models.encoders import TDNNEncoder

        if isinstance(getattr(model, "encoder", None), TDNNEncoder):
            raise RnnkitError("LM fusion needs a recurrent LM (its state batched on dim 1), not a tdnn")
        self.model = model.eval()
        missing = [c for c in prime if c not in lm_vocab]
        if missing:
            raise RnnkitError(f"the LM has no symbol for {missing[0]!r} of its prime")
        unk = lm_vocab.index(lm_vocab.unk) if lm_vocab.unk is not None else None
        mapping = []
        for j, tok in enumerate(output_vocab.tokens):
            if tok == output_vocab.blank:
                mapping.append(0)  # never read by the decoder
            elif tok in lm_vocab:
                mapping.append(lm_vocab.index(tok))
            elif unk is not None:
                mapping.append(unk)
            else:
                raise RnnkitError(f"output symbol {tok!r} is not in the LM's vocabulary")
        self.to_lm = torch.tensor(mapping)
        with torch.no_grad():
            logits, state = self.model(torch.from_numpy(lm_vocab.encode(prime))[None], None, None)
        self.root = _LMState(None, None, state, self._columns(logits[:, -1])[0])

    def _columns(self, logits: torch.Tensor) -> np.ndarray:
        return logits.float().log_softmax(-1)[:, self.to_lm].numpy().astype(np.float64)

    def initial_state(self) -> Any:
        return self.root

    def advance(self, state: Any, token: int) -> Any:
        return _LMState(state, int(token))

    @torch.no_grad()
    def next_log_probs(self, states: Sequence[Any]) -> np.ndarray:
        pending = [s for s in dict.fromkeys(states) if s.log_probs is None]
        for s in pending:  # parents first: a parent may itself still be pending
            if s.parent.log_probs is None:
                self.next_log_probs([s.parent])
        if pending:
            parents = [s.parent.recurrent for s in pending]
            state = tuple(torch.cat([p[i] for p in parents], dim=1) for i in range(len(parents[0])))
            ids = self.to_lm[torch.tensor([s.token for s in pending])][:, None]  # [N, 1]
            logits, new_state = self.model(ids, None, state)
            columns = self._columns(logits[:, 0])
            for n, s in enumerate(pending):
                s.recurrent = tuple(t[:, n:n + 1] for t in new_state)
                s.log_probs = columns[n]
        return np.stack([s.log_probs for s in states])
