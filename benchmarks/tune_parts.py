"""Do generated tunes close their parts? For each tune run, ``--samples`` new tunes of ``--kind``
drawn as ``rnnkit evaluate`` draws them (the run's own temperature and the kind's own scale, from
``--seed``): the share that pass (meter, bars, ended), the parts each closes (bar lines ``||``,
``|]`` or ``:|``), the share closing two or more, and the share of distinct bars in a tune
(chord symbols, repeats and endings dropped); beside the same figures for the real held-out
(valid and test) tunes of the kind, from the first run's split.

    python benchmarks/tune_parts.py --kind ashover runs/tune runs/noparts
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import rnnkit  # noqa: E402
from rnnkit.recipes.tune import held_out  # noqa: E402
from rnnkit.recipes.tune_eval import check_generated, draw_tunes  # noqa: E402


def closings(tune: str) -> int:
    """The part-closing bar lines of ``tune``'s body."""
    return len(re.findall(r":\||\|\||\|\]", tune.split("\nK:", 1)[-1]))


def distinct_bars(tune: str) -> float:
    """The share of distinct bars among the tune's bars, chord symbols, repeats and endings dropped."""
    body = tune.split("\nK:", 1)[-1].split("\n", 1)[-1].replace("\\\n", "").replace("\n", "|")
    bars = [b for b in (re.sub(r'"[^"]*"|\s|:|\[\d', "", b) for b in re.split(r"\|+", body)) if b]
    return len(set(bars)) / max(len(bars), 1)


def describe(tunes: list[str]) -> str:
    return (f"closings {statistics.mean(map(closings, tunes)):.2f}, "
            f">=2: {sum(closings(t) >= 2 for t in tunes) / len(tunes):.0%}, "
            f"distinct bars {statistics.mean(map(distinct_bars, tunes)):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="tune run folders")
    p.add_argument("--kind", default="ashover", help="the kind to draw (default ashover)")
    p.add_argument("--samples", type=int, default=100, help="tunes per run (default 100)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed (default 1, as evaluate's)")
    args = p.parse_args()
    real = [t.text for t in held_out(args.runs[0], "valid") + held_out(args.runs[0], "test") if t.kind == args.kind]
    print(f"held-out {args.kind} ({len(real)} tunes): {describe(real)}")
    for run in args.runs:
        gen = rnnkit.load(run)
        kind = gen.kind(args.kind)
        tunes, ended = draw_tunes(gen, args.samples, kind, gen.default_temperature, args.seed)
        passed = check_generated(tunes, gen.meters[kind], frozenset(), ended)["both"]
        print(f"{run} {kind} T={gen.default_temperature}: pass {passed:.0%}, {describe(tunes)}", flush=True)


if __name__ == "__main__":
    main()
