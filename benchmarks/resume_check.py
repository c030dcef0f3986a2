"""Exact resume with dropout on a device: N steps in one go against N/2, interrupt, resume.

    python benchmarks/resume_check.py --device cuda

Trains a small character LSTM (2 layers, dropout 0.3 from the first step) on text this script
writes, twice: once for --steps steps, once interrupted halfway and resumed from its checkpoint.
Prints both loss sequences' first difference (none when resume is exact) and the largest weight
difference. The CPU case is in the test suite (tests/unit/training/test_trainer.py); this script
is for a GPU, where the check needs the device.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile

import torch

import rnnkit
from rnnkit.recipes.charlm import DataConfig, resume_charlm, train_charlm
from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainConfig, TrainingInterrupted


def toy_text(lines: int = 3000, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = "the a cat dog bird sat ran flew on under over mat log tree and then slowly".split()
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) + "." for _ in range(lines)) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="auto")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="rnnkit-resume-")
    corpus = os.path.join(root, "text.txt")
    with open(corpus, "w") as f:
        f.write(toy_text())
    model = dict(hidden_size=256, embedding_dim=32, num_layers=2, dropout=0.3)
    cfg = TrainConfig(batch_size=32, bptt=64, max_steps=args.steps, eval_interval=0, checkpoint_interval=1e9,
                      log_interval=1, dropout_from=0.0, dropout_ramp=0.0, device=args.device,
                      precision=args.precision, progress=False)
    data = DataConfig(corpus=corpus)
    train_charlm(os.path.join(root, "a"), data, model, cfg)
    try:
        train_charlm(os.path.join(root, "b"), data, model, cfg, stop_after=args.steps // 2)
    except TrainingInterrupted:
        pass
    resume_charlm(os.path.join(root, "b"))
    losses = [[r["train_loss"] for r in read_metrics(os.path.join(root, run, "metrics.jsonl")) if "train_loss" in r]
              for run in ("a", "b")]
    differ = [i + 1 for i, (x, y) in enumerate(zip(*losses)) if x != y]
    a, b = rnnkit.load(os.path.join(root, "a")), rnnkit.load(os.path.join(root, "b"))
    weight_diff = max(float((x - y).abs().max()) for x, y in zip(a.model.state_dict().values(),
                                                                  b.model.state_dict().values()))
    print(f"torch {torch.__version__}, device {args.device}, precision {args.precision}, {args.steps} steps, "
          f"dropout 0.3 from step 1")
    print(f"losses compared: {len(losses[0])} vs {len(losses[1])}; first differing step: "
          f"{differ[0] if differ else 'none (bit-identical)'}; largest weight difference: {weight_diff:.3g}")


if __name__ == "__main__":
    main()
