"""Spoken-digit classification on the Free Spoken Digit Dataset: the lecture's two many-to-one
divergences on the same model, and leave-one-speaker-out accuracy.

    python benchmarks/digits_fsdd.py --data ../shared/data/fsdd --out /tmp/digits-bench

Each row is ``rnnkit train digits`` with its defaults (and ``--divergence``), then ``rnnkit
evaluate`` on the test split:

* official split: index 0-4 test (300 recordings), 5-9 dev (chooses the checkpoint), 10-49 train;
  every speaker is in every split;
* leave one speaker out (``--test-speaker``): train on five speakers (their index 0-4 as dev), test
  on all 500 recordings of the sixth, each speaker in turn; the mean is the figure for a new voice.

Finished runs in ``--out`` are reused (delete the folder to retrain).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def rnnkit(*args: str, capture: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")}
    cmd = [sys.executable, "-m", "rnnkit.cli", *args]
    if not capture:
        print("$ rnnkit", " ".join(args), flush=True)
    out = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE if capture else None, text=True)
    return out.stdout if capture else ""


def run(out: str, data: str, flags: list[str]) -> dict:
    if not os.path.exists(os.path.join(out, "checkpoint.json")):
        rnnkit("train", "digits", "--data", data, "--out", out, "--no-progress", *flags)
    result = json.loads(rnnkit("evaluate", out, "--json", capture=True))
    ckpt = json.load(open(os.path.join(out, "checkpoint.json")))
    result.update(steps=ckpt["step"], seconds=ckpt["trainer"]["elapsed"], kept=ckpt["trainer"].get("best", {}).get("step"))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "fsdd"))
    p.add_argument("--out", default="/tmp/digits-bench")
    p.add_argument("--loso-divergences", default="last", help="divergences for leave-one-speaker-out (default last; '' for none)")
    args = p.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"digits_fsdd: error: {args.data} is not a folder")
    os.makedirs(args.out, exist_ok=True)
    official = {d: run(os.path.join(args.out, f"official-{d}"), args.data, ["--divergence", d]) for d in ("last", "all")}
    loso = {d: {s: run(os.path.join(args.out, f"loso-{d}-{s}"), args.data, ["--divergence", d, "--test-speaker", s])
                for s in SPEAKERS} for d in args.loso_divergences.split(",") if d}
    print("\nFSDD, official split (300 test recordings), rnnkit train digits defaults:\n")
    print("| divergence | test accuracy % | errors | steps (kept) | training s |")
    print("| --- | --- | --- | --- | --- |")
    for d, r in official.items():
        errors = round((1 - r["accuracy"]) * r["recordings"])
        print(f"| {d} | {100 * r['accuracy']:.2f} | {errors} | {r['steps']} ({r['kept']}) | {r['seconds']:.0f} |")
    for d, rows in loso.items():
        print(f"\nLeave one speaker out, --divergence {d} (500 test recordings each):\n")
        print("| test speaker | accuracy % |")
        print("| --- | --- |")
        for s, r in rows.items():
            print(f"| {s} | {100 * r['accuracy']:.2f} |")
        print(f"| **mean** | **{100 * sum(r['accuracy'] for r in rows.values()) / len(rows):.2f}** |")
    json.dump({"official": official, "loso": loso}, open(os.path.join(args.out, "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
