"""Training throughput under torchrun: N processes against one, at the same global batch.

    python benchmarks/distributed_throughput.py [--corpus python] [--seconds 90] [--layouts 1x2,2x1,1x1]

Each layout is PROCESSESxTHREADS: ``1x2`` is one process with two intra-op threads (what a plain
``rnnkit train`` uses on this machine), ``2x1`` is ``torchrun --nproc_per_node=2`` with one thread
each (torchrun's default). Every run is the default char-LM (2x512 LSTM, batch 64, BPTT 64, the
precision ``auto`` picks) trained for ``--seconds`` on the same corpus; the rate is the median
of its logged chars/s records after the first (warm-up) one. All layouts are measured in the same
invocation, one after the other, and reported as ratios to the first: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(layout: str, corpus: str, seconds: int, root: str, extra: list[str]) -> dict:
    procs, threads = (int(x) for x in layout.split("x"))
    out = os.path.join(root, f"run-{layout}")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
                if procs > 1 else [sys.executable])
    cmd = [*launcher, "-m", "rnnkit", "train", "charlm", "--corpus", corpus, "--out", out, "--time-budget",
           str(seconds), "--eval-interval", "0", "--log-interval", "5", "--no-progress", *extra]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        records = [r for r in map(json.loads, f) if "chars_per_s" in r]
    rates = [r["chars_per_s"] for r in records[1:]] or [records[0]["chars_per_s"]]
    return {"layout": layout, "steps": records[-1]["step"], "chars_per_s": statistics.median(rates),
            "train_loss": records[-1]["train_loss"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default="python", help="a corpus rnnkit train charlm reads (default: python)")
    p.add_argument("--seconds", type=int, default=90, help="training time per layout (default 90)")
    p.add_argument("--layouts", default="1x2,2x1,1x1", help="PROCESSESxTHREADS, comma-separated; the first is the reference")
    p.add_argument("extra", nargs="*", help="more rnnkit train charlm options, after --")
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="rnnkit-ddp-")
    results = [run(layout, args.corpus, args.seconds, root, args.extra) for layout in args.layouts.split(",")]
    base = results[0]["chars_per_s"]
    print(f"{'processes x threads':>20} {'steps':>6} {'chars/s':>9} {'ratio':>6} {'last loss':>9}")
    for r in results:
        print(f"{r['layout']:>20} {r['steps']:>6} {r['chars_per_s']:>9.0f} {r['chars_per_s'] / base:>6.2f} "
              f"{r['train_loss']:>9.4f}")


if __name__ == "__main__":
    main()
