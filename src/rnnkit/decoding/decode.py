"""One entry point over every decoder, for batches in memory and for saved log-probabilities.

Methods (the option names are the keyword arguments of the function each one calls):

========================  ==========================================  =========================
method                    what it does                                calls
========================  ==========================================  =========================
``"argmax"``              best symbol per frame (taggers)             :func:`greedy_decode`
``"merge_repeats"``       argmax, adjacent repeats merged (aligned)   :func:`greedy_decode`
``"ctc_greedy"``          argmax, repeats merged, blank dropped       :func:`greedy_decode`
``"ctc_beam"``            CTC prefix beam search (+ LM)               :func:`prefix_beam_search`
``"ctc_lexicon"``         CTC beam search over dictionary words       :func:`lexicon_beam_search`
========================  ==========================================  =========================

Files: ``.npy`` holding ``[B, T, C]`` (or ``[T, C]``, one utterance), with lengths passed
beside it; ``.npz`` or ``.safetensors`` holding ``log_probs`` and optionally ``lengths``.

>>> lp = np.log(np.array([[[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]]))
>>> [h.tokens for [h] in decode_batch(lp, method="ctc_greedy", blank=0)]
[(1, 1)]
>>> decode_batch(lp, method="ctc_beam")
Traceback (most recent call last):
...
rnnkit.errors.RnnkitError: method 'ctc_beam' needs the option blank
"""
from __future__ import annotations

import inspect
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import RnnkitError
from .beam import prefix_beam_search
from .greedy import greedy_decode
from .hypothesis import Hypothesis, check_inputs
from .lexicon import lexicon_beam_search

DECODERS: dict[str, Callable[..., list[list[Hypothesis]]]] = {
    "argmax": partial(greedy_decode, collapse="none"),
    "merge_repeats": partial(greedy_decode, collapse="repeats"),
    "ctc_greedy": partial(greedy_decode, collapse="ctc"),
    "ctc_beam": prefix_beam_search,
    "ctc_lexicon": lexicon_beam_search,
}
METHODS = tuple(DECODERS)


def _options(method: str, options: dict[str, Any]) -> None:
    """RnnkitError for an unknown method, an option it does not take, or a missing required one."""
    if method not in DECODERS:
        raise RnnkitError(f"unknown decoding method {method!r}; choose one of {', '.join(METHODS)}")
    fn = DECODERS[method]
    params = {name: p for name, p in inspect.signature(fn).parameters.items()
              if name not in ("log_probs", "lengths") and p.kind is p.KEYWORD_ONLY}
    params.pop("collapse", None)  # fixed by the method
    if method in ("argmax", "merge_repeats"):
        params.pop("blank", None)
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise RnnkitError(f"method {method!r} takes no option {', '.join(unknown)}; "
                          f"its options are {', '.join(params) or 'none'}")
    if method == "ctc_greedy" and options.get("blank") is None:
        raise RnnkitError("method 'ctc_greedy' needs the option blank")
    for name, p in params.items():
        if p.default is p.empty and name not in options:
            raise RnnkitError(f"method {method!r} needs the option {name}")


def decode_batch(log_probs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None,
                 method: str = "ctc_beam", **options: Any) -> list[list[Hypothesis]]:
    """Decode a [B, T, C] batch of log-probabilities with ``method``; one n-best list per utterance.

    ``options`` go to the method's decoder (e.g. ``blank``, ``beam_size``, ``nbest``,
    ``lm``, ``lexicon``, ``word_separator``); unknown or missing ones are RnnkitErrors.

    >>> lp = np.log(np.full((1, 2, 3), 1 / 3))
    >>> [[h.tokens for h in nbest] for nbest in decode_batch(lp, [2], "ctc_beam", blank=0, nbest=3)]
    [[(1,), (2,), ()]]
    """
    _options(method, options)
    return DECODERS[method](log_probs, lengths, **options)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    elif suffix == ".safetensors":
        from safetensors.numpy import load_file
        arrays = load_file(str(path))
    else:
        raise RnnkitError(f"{str(path)!r}: unsupported file type {suffix or '(none)'!r}; "
                          "expected .npy, .npz or .safetensors")
    if "log_probs" not in arrays:
        raise RnnkitError(f"{str(path)!r} holds no 'log_probs' array (found: {', '.join(sorted(arrays)) or 'none'})")
    return arrays["log_probs"], arrays.get("lengths")


def load_log_probs(path: str | Path, lengths: str | Path | Sequence[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Read saved log-probabilities: (float32 [B, T, C], int64 lengths [B]).

    ``lengths``: for a ``.npy`` file, a ``.npy`` path or a sequence of ints (default: every
    utterance fills T); a file that holds ``lengths`` needs none. RnnkitError on anything wrong.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lp.npz")
    >>> np.savez(path, log_probs=np.zeros((2, 5, 3), np.float32), lengths=np.array([5, 2]))
    >>> lp, n = load_log_probs(path)
    >>> lp.shape, lp.dtype, n.tolist()
    ((2, 5, 3), dtype('float32'), [5, 2])
    """
    path = Path(path)
    try:
        log_probs, stored = _read(path)
        if lengths is not None and not isinstance(lengths, (str, Path)):
            lengths = np.asarray(lengths)
        elif lengths is not None:
            lengths = np.load(Path(lengths), allow_pickle=False)
    except RnnkitError:
        raise
    except FileNotFoundError as exc:
        raise RnnkitError(f"cannot read {str(exc.filename)!r}: no such file") from None
    except Exception as exc:  # a corrupt file: numpy and safetensors raise assorted types
        raise RnnkitError(f"cannot read {str(path)!r}: {exc}") from None
    if stored is not None and lengths is not None:
        raise RnnkitError(f"{str(path)!r} holds its own lengths; pass none")
    lengths = stored if lengths is None else lengths
    if not np.issubdtype(log_probs.dtype, np.floating):
        raise RnnkitError(f"{str(path)!r}: log_probs must be floating point, got {log_probs.dtype}")
    if log_probs.ndim == 2:
        log_probs = log_probs[None]
    try:
        log_probs, lengths = check_inputs(log_probs, lengths)
    except ValueError as exc:
        raise RnnkitError(f"{str(path)!r}: {exc}") from None
    if np.isnan(log_probs).any():
        raise RnnkitError(f"{str(path)!r}: log_probs contain NaN")
    if log_probs.size and float(log_probs.max()) > 1e-3:
        raise RnnkitError(f"{str(path)!r}: values above 0 are not log-probabilities (apply log_softmax first)")
    return log_probs, lengths


def decode_file(path: str | Path, method: str = "ctc_beam", *, lengths: str | Path | Sequence[int] | None = None,
                **options: Any) -> list[list[Hypothesis]]:
    """Decode saved log-probabilities (see :func:`load_log_probs`) with :func:`decode_batch`.

    Every problem with the file or the options is an RnnkitError (a one-line message).

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "lp.npy")
    >>> np.save(f, np.log(np.full((2, 3, 3), 1 / 3, dtype=np.float32)))
    >>> [len(h[0].tokens) for h in decode_file(f, "argmax", lengths=[3, 1])]
    [3, 1]
    """
    log_probs, lengths_ = load_log_probs(path, lengths)
    _options(method, options)
    try:
        return DECODERS[method](log_probs, lengths_, **options)
    except ValueError as exc:
        raise RnnkitError(str(exc)) from None
