"""Tunes from one choice: does the kind of tune, given to the generator, decide the meter it
writes, and do its bars add up? Against the same net trained without the condition.

    python benchmarks/tune_conditioning.py --data ../shared/data/nottingham_abc/ABC_cleaned \
        --budget 600 --samples 100 --temperatures 0.2,0.5,1.0 --seeds 1,1001 --out /tmp/tune-bench

Systems, each ``rnnkit train tune`` for the same budget (``--budget`` seconds, or ``--steps``
steps: the same training for every system when the machine's speed varies), on the same split (seeded, by
tune: 80% train, 10% valid choosing the kept weights, 10% test): ``defaults`` (what a user gets:
the kind sets the initial state and joins every step's input, each character is read with its
place in the bar and the bars closed so far, in the tune and in its running part, the tunes of
rare kinds are read more often, and a
tenth of the tunes as of no kind, so that sampling guides each header towards its kind),
``reseeded`` and ``reseeded-3`` (the defaults with
``--seed 2`` and ``--seed 3``: what varies from run to run), ``no-section-count``
(``--no-section-count``: the bars of the tune closed, not those of its part; the defaults before
the part's were counted), ``no-bar-count``, ``no-bar-count-2``
and ``no-bar-count-3`` (``--no-bar-count`` with seeds 1, 2 and 3: the place in the bar without
the bars closed, the defaults before 2026-12-06), ``no-bar-position`` (``--no-bar-position``: the characters
alone, the defaults before 2026-12-05's bar position), ``meter`` (``--condition-meter``:
the tune's meter too, beside the kind; generation draws it from the kind's own meters),
``state-only`` (``--condition-at state``: the kind in the initial state alone, the lecture's
single input, nothing more), ``balanced`` (``--condition-dropout 0``: the balance alone, no
guidance; ``balanced-2`` and ``balanced-3`` with seeds 2 and 3), ``guided``, ``guided-2`` and
``guided-3`` (``--no-balance`` with seeds 1, 2 and 3: guidance alone), ``unbalanced-unguided``
(``-2``, ``-3``: ``--no-balance --condition-dropout 0``, the defaults before 2026-12-06; the
three runs the README measured as ``balanced-guided``, ``-2`` and ``-3`` are today's
``defaults``, ``reseeded`` and ``reseeded-3``). Each run trained with the dropout is scored at
every scale of ``--guidance`` (on the headers; ``--guide-body``: on every character; by default
``own``: each kind at the scale the run chose for it once trained, ``guidance.json``), the
others at 1, no guidance. ``unconditioned`` (``--no-condition``: the same net from a zero state), ``by-fit``
(``--select-samples 50``: the weights kept are those whose worst kind writes the most tunes that
pass, not those of the lowest valid nats/char), ``averaged`` (``--average 0.995``: a moving
average of the weights is evaluated and kept), and each of the last two again with ``--seed 2``
(``by-fit-reseeded``, ``averaged-reseeded``: what varies from run to run). For every kind
with at least 30 training tunes, a conditioned model writes ``--samples`` tunes of that kind; the
unconditioned one writes ``--samples`` tunes in all, and its share for a kind counts those that
would pass for it. A tune passes when its meter is one of the kind's (those of at least 10% of the
kind's training tunes), every bar adds up by rnnkit's strict ABC checker (``data/abc.py``), and
it ends: a tune the sampler cut off at its length limit (3,000 characters) fails, whatever its bars.
Tunes whose music is a training tune's are counted too (copies). Each temperature is sampled
with each of ``--seeds`` (stream i of seed s is the one-stream sample of seed s + i, so seeds
close together share tunes: keep them far apart). The real test tunes of each kind go through
the same check, as the ceiling.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import torch  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.data.tunes import music_of  # noqa: E402
from rnnkit.recipes.tune import held_out  # noqa: E402
from rnnkit.recipes.tune_eval import check_generated, generation_report, score_held_out  # noqa: E402


# name: (run folder, options of `rnnkit train tune` besides the defaults)
SYSTEMS = {"defaults": ("defaults", []),
           "reseeded": ("seed-2", ["--seed", "2"]),
           "reseeded-3": ("seed-3", ["--seed", "3"]),
           "no-section-count": ("no-section-count", ["--no-section-count"]),
           "no-bar-count": ("no-bar-count", ["--no-bar-count"]),
           "no-bar-count-2": ("no-bar-count-2", ["--no-bar-count", "--seed", "2"]),
           "no-bar-count-3": ("no-bar-count-3", ["--no-bar-count", "--seed", "3"]),
           "no-bar-position": ("no-bar", ["--no-bar-position"]),
           "meter": ("meter", ["--condition-meter"]),
           "state-only": ("state", ["--condition-at", "state"]),
           "balanced": ("balanced", ["--condition-dropout", "0"]),
           "balanced-2": ("balanced-2", ["--condition-dropout", "0", "--seed", "2"]),
           "balanced-3": ("balanced-3", ["--condition-dropout", "0", "--seed", "3"]),
           "guided": ("guided", ["--no-balance"]),
           "guided-2": ("guided-2", ["--no-balance", "--seed", "2"]),
           "guided-3": ("guided-3", ["--no-balance", "--seed", "3"]),
           "unbalanced-unguided": ("unbalanced-unguided", ["--no-balance", "--condition-dropout", "0"]),
           "unbalanced-unguided-2": ("unbalanced-unguided-2", ["--no-balance", "--condition-dropout", "0", "--seed", "2"]),
           "unbalanced-unguided-3": ("unbalanced-unguided-3", ["--no-balance", "--condition-dropout", "0", "--seed", "3"]),
           "unconditioned": ("plain", ["--no-condition"]),
           "by-fit": ("by-fit", ["--select-samples", "50"]),
           "by-fit-reseeded": ("by-fit-2", ["--select-samples", "50", "--seed", "2"]),
           "averaged": ("averaged", ["--average", "0.995"]),
           "averaged-reseeded": ("averaged-2", ["--average", "0.995", "--seed", "2"])}


def train(run: str, data: str, budget: float, steps: int, flags: list[str], threads: int) -> None:
    if os.path.exists(os.path.join(run, "checkpoint.json")):
        return
    stop = ["--max-steps", str(steps)] if steps else ["--time-budget", str(budget)]
    cmd = [sys.executable, "-m", "rnnkit.cli", "train", "tune", "--data", data, "--out", run,
           *stop, "--no-progress", *flags]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src"), "OMP_NUM_THREADS": str(threads)})


def score(gen, args: argparse.Namespace, known: frozenset, scale: float | None, label: str) -> dict:
    """Each temperature's and seed's :func:`generation_report` of ``gen`` at guidance ``scale`` (None:
    each kind's own), printed as it comes."""
    out: dict = {}
    for column in args.temperatures.split(","):
        temperature = gen.default_temperature if column == "own" else float(column)
        out[column] = {seed: generation_report(gen, args.samples, args.min_tunes, temperature, seed, known,
                                               scale if gen.no_kind is not None else None,
                                               args.guide_body and gen.no_kind is not None and scale != 1)
                       for seed in [int(x) for x in args.seeds.split(",")]}
        for seed, report in out[column].items():
            shares = ", ".join(f"{k} {100 * r['both']:.0f}% (meter {100 * r['meter_fits']:.0f}%, bars "
                               f"{100 * r['bars_add_up']:.0f}%, ended {100 * r['ended']:.0f}%, copies "
                               f"{100 * r['copied']:.0f}%)" for k, r in report.items())
            print(f"{label} T={temperature} seed {seed}: {shares}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "nottingham_abc", "ABC_cleaned"))
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per system (default 600)")
    p.add_argument("--steps", type=int, default=0,
                   help="train each system this many steps instead of --budget seconds: the same training for "
                        "every system on a machine whose speed varies (default 0: --budget)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--temperatures", default="own,0.2,0.5,1.0",
                   help="sampling temperatures, each a column (default own,0.2,0.5,1.0; own: the run's, chosen once "
                        "trained with each kind's scale, else 0.2)")
    p.add_argument("--seeds", default="1,1001", help="sampling seeds, each a column (default 1,1001)")
    p.add_argument("--guidance", default="own",
                   help="guidance scales to score runs trained with --condition-dropout at, each a row (default own: "
                        "each kind's, as the run chose once trained; 1: none); other runs are scored without guidance")
    p.add_argument("--guide-body", action="store_true",
                   help="guide every character of the tunes, not only their headers (as measured before 2026-12-06's "
                        "header guidance)")
    p.add_argument("--min-tunes", type=int, default=30)
    p.add_argument("--out", default="/tmp/tune-bench")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for training and sampling (default 2)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"some of {', '.join(SYSTEMS)} (defaults always)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    unknown = set(args.systems.split(",")) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems {', '.join(sorted(unknown))}: the systems are {', '.join(SYSTEMS)}")
    names = ["defaults", *(n for n in SYSTEMS if n in args.systems.split(",") and n != "defaults")]
    runs = {name: os.path.join(args.out, SYSTEMS[name][0]) for name in names}
    for name in names:  # a run folder that holds a finished run is reused: its settings are printed
        train(runs[name], args.data, args.budget, args.steps, SYSTEMS[name][1], args.threads)
        config = json.load(open(os.path.join(runs[name], "config.json")))
        print(f"{name}: {runs[name]}: model {config['model']}, data {config['data']}", flush=True)
    results = {"budget": args.budget, "steps": args.steps, "samples": args.samples, "systems": {}}
    gens = {name: rnnkit.load(run) for name, run in runs.items()}
    test = held_out(runs["defaults"], "test")
    kinds = [k for k in gens["defaults"].kinds
             if gens["defaults"].config["corpus"]["train_tunes_by_kind"].get(k, 0) >= args.min_tunes]
    meters = gens["defaults"].meters
    real = {k: check_generated([t.text for t in test if t.kind == k], meters[k]) for k in kinds}
    results["real_test_tunes"] = real
    known = frozenset(music_of(t.text) for t in held_out(runs["defaults"], "train"))
    scales = [None if g == "own" else float(g) for g in args.guidance.split(",")]  # None: each kind's own
    for name, gen in gens.items():
        ckpt = json.load(open(os.path.join(runs[name], "checkpoint.json")))
        held = score_held_out(gen, test)
        for scale in (scales if gen.no_kind is not None else [1.0]):
            label = f"{name} g={'own' if scale is None else f'{scale:g}'}" if gen.no_kind is not None else name
            entry = {"held_out": held, "steps": ckpt["step"], "kept_step": gen.step, "guidance": scale,
                     "kind_guidance": gen.kind_guidance, "temperature": gen.default_temperature,
                     "parameters": gen.model.num_parameters(), "generated": score(gen, args, known, scale, label)}
            results["systems"][label] = entry
    temps = list(next(iter(results["systems"].values()))["generated"])  # "defaults g=2" where it is guided
    trained = f"{args.steps} steps" if args.steps else f"{args.budget:.0f} s"
    print(f"\nNottingham tunes, {trained} of training each; test nats/char (steps, kept step): "
          + ", ".join(f"{n} {e['held_out']['nats_per_char']:.4f} ({e['steps']}, {e['kept_step']})"
                      for n, e in results["systems"].items()))
    print("\nShare of generated tunes whose meter fits the kind, whose bars all add up and that end "
          f"({args.samples} per kind conditioned, {args.samples} in all unconditioned), seeds {args.seeds}:\n")
    labels = list(results["systems"])
    print("| kind (meter) | training tunes | " + " | ".join(f"{s} T={t}" for s in labels for t in temps)
          + " | real test tunes |")
    print("|---" * (3 + len(labels) * len(temps)) + "|")
    counts = gens["defaults"].config["corpus"]["train_tunes_by_kind"]
    for k in kinds:
        cells = [" / ".join(f"{100 * r[k]['both']:.0f}" for r in results["systems"][s]["generated"][t].values()) + "%"
                 for s in labels for t in temps]
        print(f"| {k} ({'/'.join(meters[k])}) | {counts[k]} | " + " | ".join(cells)
              + f" | {100 * real[k]['both']:.0f}% of {real[k]['samples']} |")
    json.dump(results, open(os.path.join(args.out, "results.json"), "w"), indent=1, default=str)
    print(f"\n{os.path.join(args.out, 'results.json')}")


if __name__ == "__main__":
    main()
