"""Connected digits on the Free Spoken Digit Dataset: aligned vs CTC, digits vs phonemes, and the
greedy, beam and lexicon decoders, on 1,000 test utterances built from the test recordings only.

    python benchmarks/connected_fsdd.py --data ../shared/data/fsdd --out /tmp/connected-bench --budget 600

Each row is ``rnnkit train connected`` with its defaults (plus ``--divergence``/``--units``) for
``--budget`` seconds, then ``rnnkit evaluate --json``: DER over all digits, over the utterances in
which a digit is said twice in a row ("repeats") and over the rest, PER for phoneme models,
utterances/s (features, network and decoding; 2 CPU threads). ``--no-pause`` also scores each run
on test utterances whose digits follow each other with no pause at all (``--pause 0 0``).
Finished runs in ``--out`` are reused (delete a folder to retrain).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = {"aligned-digits": ["--divergence", "aligned"], "ctc-digits": ["--divergence", "ctc"],
           "ctc-phonemes": ["--divergence", "ctc", "--units", "phonemes"]}


def rnnkit(*args: str, capture: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")}
    if not capture:
        print("$ rnnkit", " ".join(args), flush=True)
    out = subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], check=True, env=env,
                         stdout=subprocess.PIPE if capture else None, text=True)
    return out.stdout if capture else ""


def run(out: str, data: str, flags: list[str], budget: float, extra_eval: list[str]) -> dict:
    if not os.path.exists(os.path.join(out, "checkpoint.json")):
        rnnkit("train", "connected", "--data", data, "--out", out, "--no-progress", "--time-budget", str(budget), *flags)
    result = json.loads(rnnkit("evaluate", out, "--json", "--data", data, *extra_eval, capture=True))
    ckpt = json.load(open(os.path.join(out, "checkpoint.json")))
    result.update(steps=ckpt["step"], kept=ckpt["trainer"].get("best", {}).get("step"))
    return result


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def table(results: dict, title: str) -> None:
    print(f"\n{title}\n")
    print("| model | decoder | DER % | DER % repeats | DER % others | PER % | utterances/s | steps (kept) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        for dec, d in r["decoders"].items():
            print(f"| {name} | {dec} | {pct(d['der'])} | {pct(d['der_repeats'])} | {pct(d['der_other'])} | "
                  f"{pct(d['per'])} | {d['utterances_per_s']:.0f} | {r['steps']} ({r['kept']}) |")
    r = next(iter(results.values()))
    print(f"\n{r['utterances']} utterances, {r['digits']} digits, {r['repeat_utterances']} with a digit repeated back to back")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "fsdd"))
    p.add_argument("--out", default="/tmp/connected-bench")
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per model (default 600)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--no-pause", action="store_true", help="also score on test digits with no pause between them")
    args = p.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"connected_fsdd: error: {args.data} is not a folder")
    os.makedirs(args.out, exist_ok=True)
    names = [s for s in args.systems.split(",") if s]
    results = {s: run(os.path.join(args.out, s), args.data, SYSTEMS[s], args.budget, []) for s in names}
    table(results, f"FSDD connected digits, 1,000 test utterances, rnnkit train connected defaults, {args.budget:g} s each:")
    if args.no_pause:
        results = {s: run(os.path.join(args.out, s), args.data, SYSTEMS[s], args.budget, ["--pause", "0", "0"])
                   for s in names}
        table(results, "The same models on test utterances with no pause between digits (--pause 0 0):")


if __name__ == "__main__":
    main()
