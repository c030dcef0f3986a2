"""Training: the run's loss and validation curves from metrics.jsonl, its config, size and speed."""
from __future__ import annotations

import json
import os
from typing import Any

from ...training.checkpoint import read_json
from ...training.metrics import read_metrics
from . import View, figure, preformatted, stat, table


def answer(run: Any, form: dict[str, str]) -> list[dict[str, Any]]:
    path = os.path.join(run.run_dir, "metrics.jsonl")
    records = read_metrics(path) if os.path.exists(path) else []
    ckpt = read_json(os.path.join(run.run_dir, "checkpoint.json"), "checkpoint") \
        if os.path.exists(os.path.join(run.run_dir, "checkpoint.json")) else {}
    model = getattr(run.predictor, "model", None)
    rows = [["task", run.task], ["steps", ckpt.get("step", "?")]]
    if model is not None:
        rows.append(["parameters", f"{sum(p.numel() for p in model.parameters()):,}"])
    train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
    if records:
        rows.append(["training time", f"{records[-1].get('time', 0):.0f} s"])
    for key in sorted({k for r in records for k in r if k.endswith("_per_s")}):  # chars_per_s, phonemes_per_s, ...
        speeds = [r[key] for r in records if key in r]
        if speeds:
            rows.append([key.replace("_per_s", " per second"), f"{sum(speeds) / len(speeds):,.0f} (mean)"])
    if valid:
        rows.append(["best validation loss", f"{min(v for _, v in valid):.4f}"])
    blocks = [table(["", ""], rows)]
    if train or valid:
        blocks.append(curves(train, valid))
    else:
        blocks.append(stat("metrics", "no metrics.jsonl records yet"))
    blocks.append(preformatted(json.dumps(run.config, indent=1)))
    return blocks


def curves(train: list[tuple[int, float]], valid: list[tuple[int, float]]) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if valid:
        ax.plot(*zip(*valid), "o-", label="validation", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return figure(fig)


VIEW = View(name="training", title="Training", tasks=(), fields=lambda run: [], answer=answer, button="Refresh")
