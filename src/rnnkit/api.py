"""The Python face of rnnkit: load a run folder, then sample or score text::

    import rnnkit
    lm = rnnkit.load("runs/linux")
    print(lm.sample("static int", length=200, temperature=0.8, seed=1))
    lm.score("int main(void) { return 0; }")   # {'nats_per_char': ..., 'bits_per_char': ..., 'chars': 27, ...}
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from .configs import from_dict
from .data.vocab import Vocabulary
from .decoding.sampling import sample as _sample
from .errors import RnnkitError
from .models.model import ModelConfig, SequenceModel, build_model
from .recipes.charlm import stream_loss
from .training.checkpoint import load_checkpoint, read_json
from .training.runtime import resolve_runtime


@dataclass
class LanguageModel:
    """A trained symbol-level language model with its vocabulary."""

    model: SequenceModel
    vocab: Vocabulary
    config: dict[str, Any]
    step: int

    def sample(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, stop: str | None = None,
               precision: str = "auto") -> str:
        """One continuation of ``prime`` (see :func:`rnnkit.decoding.sampling.sample`)."""
        return _sample(self.model, self.vocab, prime, length, temperature, top_k, top_p, seed, stop,
                       precision=precision)[0]

    def sample_many(self, num_samples: int, prime: str = "", length: int = 500, **kwargs: Any) -> list[str]:
        """``num_samples`` continuations drawn as one batch."""
        return _sample(self.model, self.vocab, prime, length, num_samples=num_samples, **kwargs)

    def score(self, text: str) -> dict[str, float]:
        """Cross-entropy of ``text`` under the model: nats and bits per character.

        Characters outside the vocabulary are scored as the unknown symbol and counted.
        """
        ids, unknown = self.vocab.encode_counting(text)
        if len(ids) < 2:
            raise RnnkitError("need at least 2 characters of text to score")
        runtime = resolve_runtime(next(self.model.parameters()).device.type, "fp32")
        self.model.eval()
        r = stream_loss(self.model, torch.from_numpy(ids), runtime)
        nats = float(r.total) / int(r.count)
        return {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": int(r.count), "unknown_chars": unknown}


def load(run_dir: str, device: str = "cpu") -> LanguageModel:
    """Load the latest checkpoint of a run folder for inference (fp32, on ``device``)."""
    if not os.path.isdir(run_dir):
        raise RnnkitError(f"run folder not found: {run_dir}")
    config = read_json(os.path.join(run_dir, "config.json"), "run configuration")
    vocab = Vocabulary.from_json(read_json(os.path.join(run_dir, "vocab.json"), "vocabulary"))
    if not isinstance(config, dict) or "model" not in config:
        raise RnnkitError(f"{run_dir}/config.json has no model section")
    model = build_model(from_dict(ModelConfig, config["model"]))
    ckpt = load_checkpoint(run_dir, with_state=False)
    try:
        model.load_state_dict(ckpt.model)
    except RuntimeError:
        raise RnnkitError(f"the weights in {run_dir} do not match its config.json") from None
    runtime = resolve_runtime(device, "fp32")
    model.to(runtime.device).eval()
    return LanguageModel(model=model, vocab=vocab, config=config, step=ckpt.step)
