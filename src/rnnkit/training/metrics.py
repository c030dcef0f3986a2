"""Progress reporting: a metrics.jsonl log, a loss-curve PNG, and a one-line progress display."""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import Any, TextIO

log = logging.getLogger(__name__)


class MetricsLog:
    """Appends one JSON object per line to ``path``.

    On resume, lines past the checkpoint's step (written by the interrupted run after its
    last save) are dropped, so the log reads as one uninterrupted run.
    """

    def __init__(self, path: str, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and os.path.exists(path):
            kept = [r for r in read_metrics(path) if r.get("step", 0) <= resume_step]
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
        elif resume_step is None and os.path.exists(path):
            os.unlink(path)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class NoMetrics:
    """Where the other processes of a torchrun run write their records: nowhere (rank 0 logs)."""

    def write(self, record: dict[str, Any]) -> None:
        pass


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (a torn last line is ignored)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def plot_losses(metrics_path: str, png_path: str, unit: str = "symbol") -> None:
    """Training and validation loss against step, as a PNG (best effort: never fails a run)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = read_metrics(metrics_path)
        train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
        valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
        if not train and not valid:
            return
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if train:
            ax.plot(*zip(*train), label="train", linewidth=1)
        if valid:
            ax.plot(*zip(*valid), "o-", label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel(f"loss (nats/{unit})")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        tmp = png_path + ".tmp.png"
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, png_path)
    except Exception as exc:  # a plot is a convenience; the run's data is in metrics.jsonl
        log.warning("could not draw %s: %s", png_path, exc)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """A one-line progress display on stderr: redrawn in place on a terminal, a log line every
    ``interval`` seconds otherwise; silent when disabled."""

    def __init__(self, enabled: bool = True, unit: str = "symbol", stream: TextIO | None = None, interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.unit = unit
        self.interval = interval if not self.tty else 0.25
        self._last = 0.0

    def update(self, step: int, loss: float, rate: float, lr: float, fraction: float, elapsed: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval:
            return
        self._last = now
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
        bits = loss / math.log(2)
        line = (f"step {step} | loss {loss:.3f} | {bits:.3f} bits/{self.unit} | "
                f"{rate / 1000:.1f}k {self.unit}s/s | lr {lr:.2e} | {100 * fraction:.0f}% | ETA {_clock(eta)}")
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
