"""The LM scorer protocol that beam searches fuse with: next-token log-probs for a prefix.

A decoder keeps one opaque LM *state* per hypothesis. It asks for the next-token
distributions of many states at once (so a neural LM can run one batched step) and advances
a state by one token when a hypothesis grows. Token ids are the decoder's output ids (the
columns of the log-probabilities); the blank column of a CTC model is never read.

* ``initial_state()``: the state of the empty prefix.
* ``next_log_probs(states)``: ``[N, C]`` array (numpy, float) of ``log P(token | state)``.
* ``advance(state, token)``: the state after appending ``token``. It should be cheap: a neural
  LM may return a pending ``(state, token)`` and run the step inside its next
  ``next_log_probs`` call, batched over every pending state.

States are opaque to the decoder: never hashed, compared or mutated. The prefix beam search
asks for a hypothesis's distribution once, when it joins the beam, so an adapter for a
trained rnnkit character LM (``rnnkit.load(run).model``, a recurrent model) can keep the
recurrent state as its decoder state: ``advance`` records ``(state, token)`` and
``next_log_probs`` runs one batched step of the model for all of them.

A uniform model over C tokens satisfies the protocol:

>>> import numpy as np
>>> class Uniform:
...     def initial_state(self): return ()
...     def next_log_probs(self, states): return np.full((len(states), 3), -np.log(3))
...     def advance(self, state, token): return state + (token,)
>>> isinstance(Uniform(), LMScorer)
True
>>> lm_sequence_log_prob(Uniform(), [1, 2])  # 2 * log(1/3)
-2.1972245773362196
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class LMScorer(Protocol):
    """Next-token log-probabilities for decoder prefixes (see the module docstring)."""

    def initial_state(self) -> Any:
        """State of the empty prefix."""
        ...

    def next_log_probs(self, states: Sequence[Any]) -> np.ndarray:
        """[N, C] log P(next token | state) for N states."""
        ...

    def advance(self, state: Any, token: int) -> Any:
        """State after appending ``token``."""
        ...


def lm_sequence_log_prob(lm: LMScorer, tokens: Sequence[int]) -> float:
    """log P(tokens) under ``lm``, token by token from the initial state (no end symbol).

    >>> from rnnkit.data.vocab import Vocabulary
    >>> from rnnkit.decoding.ngram import NgramLM
    >>> lm = NgramLM.fit(["abab"], Vocabulary(tokens=("a", "b"), unk=None), order=2)
    >>> lm_sequence_log_prob(lm, [0, 1]) == lm.score([0, 1])
    True
    """
    state, total = lm.initial_state(), 0.0
    for token in tokens:
        total += float(np.asarray(lm.next_log_probs([state]))[0, int(token)])
        state = lm.advance(state, int(token))
    return total
