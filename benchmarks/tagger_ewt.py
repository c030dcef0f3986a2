"""UD English EWT part-of-speech tagging: rnnkit's tagger, its unidirectional ablation and spaCy,
each trained from scratch on the same split for the same wall-clock budget and scored by one function.

    python benchmarks/tagger_ewt.py --data ../shared/data/ud_english_ewt --budget 1200 \
        --spacy-venv /tmp/spacybench --out /tmp/tagger-bench

Data: the official split. ``train`` trains, ``dev`` is the only data anything is chosen on (early
stopping, the kept checkpoint, rnnkit's defaults), ``test`` is what the tables report. Gold tokens
throughout (every system is handed the treebank's words); no pretrained vectors anywhere.

Systems, one after another, each in its own process on the same idle machine:

* ``rnnkit``      ``rnnkit train tagger --train T --dev D --time-budget B``: the defaults a user gets
* ``rnnkit-uni``  the same command with ``--unidirectional``: the forward net alone (same options,
  same budget), so the difference is what the backward net buys
* ``rnnkit:--flag=value:...``  the same command with other options, e.g. ``rnnkit:--hidden-size=128``
* ``spacy``       spaCy 3.8 ``tagger`` + ``morphologizer`` from ``spacy init config --optimize
  efficiency`` (CPU, no vectors), trained by ``spacy train`` on the same files, stopping itself or
  at the same budget, whichever comes first (``tagger_spacy.py``; needs ``--spacy-venv``)

Scoring: each system's test-set tags go through ``score_taggings`` (UPOS, XPOS, UPOS on test words
whose form never occurs in the training file). Speed: rnnkit tags the test set in batches of
sentences after a fresh load (so every spelling goes through the character encoder once: "cold")
and again ("warm"), with 2 threads and with 1; spaCy's figure is words/s of ``nlp.pipe`` in one
process with the same thread count. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import torch  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.data.conllu import read_conllu  # noqa: E402
from rnnkit.recipes.tagger_eval import score_tagger, score_taggings  # noqa: E402


def files(data: str) -> dict[str, str]:
    out = {k: os.path.join(data, f"en_ewt-ud-{k}.conllu.gz") for k in ("train", "dev", "test")}
    for path in out.values():
        if not os.path.exists(path):
            sys.exit(f"tagger_ewt: error: {path} not found (give --data the folder of the EWT .conllu.gz files)")
    return out


def train_rnnkit(run: str, data: dict[str, str], budget: float, flags: list[str]) -> dict:
    """``rnnkit train tagger`` in a subprocess (the user's command); reuses a finished run folder."""
    if not os.path.exists(os.path.join(run, "checkpoint.json")):
        cmd = [sys.executable, "-m", "rnnkit.cli", "train", "tagger", "--train", data["train"], "--dev", data["dev"],
               "--out", run, "--time-budget", str(budget), "--no-progress", *flags]
        print("$", " ".join(cmd), flush=True)
        env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")}
        subprocess.run(cmd, check=True, env=env)
    ckpt = json.load(open(os.path.join(run, "checkpoint.json")))
    cfg = json.load(open(os.path.join(run, "config.json")))
    tagger = rnnkit.load(run)
    return {"steps": ckpt["step"], "seconds": ckpt["trainer"]["elapsed"], "kept_step": tagger.step,
            "parameters": tagger.model.num_parameters(), "model": cfg["model"]}


def speed_rnnkit(run: str, sentences: list, threads: int, batch_size: int) -> dict:
    """Tokens/s tagging ``sentences`` (gold tokens): after a fresh load (cold), then again (warm)."""
    torch.set_num_threads(threads)
    tokens = [s.tokens for s in sentences]
    n = sum(len(t) for t in tokens)
    tagger = rnnkit.load(run)
    out = {}
    for kind in ("cold", "warm"):
        start = time.perf_counter()
        tagger.predict(tokens, batch_size=batch_size)
        out[kind] = n / (time.perf_counter() - start)
    return out


def run_spacy(args: argparse.Namespace, data: dict[str, str], test: list) -> dict:
    import tagger_spacy

    python = tagger_spacy.ensure_venv(args.spacy_venv)
    work = os.path.join(args.out, "spacy")
    trained = tagger_spacy.train_spacy(python, data["train"], data["dev"], work, args.budget, threads=args.threads)
    predicted = os.path.join(work, "test-predicted.conllu")
    speed = tagger_spacy.tag_spacy(python, trained["model"], data["test"], predicted, threads=args.threads)
    tagged = read_conllu(predicted)
    taggings = [SimpleNamespace(upos=s.upos, xpos=s.xpos) for s in tagged]
    return {"train": trained, "speed": speed, "taggings": taggings}


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "ud_english_ewt"))
    p.add_argument("--budget", type=float, default=1200.0, help="training seconds per system (default 1200)")
    p.add_argument("--out", default="/tmp/tagger-bench", help="run folders (finished runs are reused)")
    p.add_argument("--systems", default="rnnkit,rnnkit-uni,spacy")
    p.add_argument("--spacy-venv", default=None, help="a folder for spaCy's own virtual environment")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-sizes", default="1,64,256", help="sentences per batch in the speed table")
    args = p.parse_args()
    data = files(args.data)
    systems = args.systems.split(",")
    if "spacy" in systems and not args.spacy_venv:
        sys.exit("tagger_ewt: error: the spacy row needs --spacy-venv DIR (or leave spacy out of --systems)")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    train, test = read_conllu(data["train"]), read_conllu(data["test"])
    train_forms = {w.form for s in train for w in s.words}
    train_upos = {w.upos for s in train for w in s.words}
    rows, speeds, results = [], [], {"budget": args.budget, "threads": args.threads, "systems": {}}
    for name in systems:
        if name == "spacy":
            sp = run_spacy(args, data, test)
            score = score_taggings(test, sp["taggings"], train_forms, train_upos)
            info = {"train": sp["train"], "speed": sp["speed"]}
            speeds.append((name, f"nlp.pipe, {args.threads} thread(s)", sp["speed"].get("words_per_s"), None))
        else:
            run = os.path.join(args.out, name.replace(":", "_").replace("=", "").replace("-", ""))
            flags = ["--unidirectional"] if name == "rnnkit-uni" else [f for f in name.split(":")[1:]]
            info = train_rnnkit(run, data, args.budget, flags)
            torch.set_num_threads(args.threads)
            score = score_tagger(rnnkit.load(run), test)
            for threads in sorted({args.threads, 1}, reverse=True):
                for bs in [int(b) for b in args.batch_sizes.split(",")]:
                    s = speed_rnnkit(run, test, threads, bs)
                    speeds.append((name, f"batches of {bs}, {threads} thread(s)", s["cold"], s["warm"]))
        score.pop("confusion")
        results["systems"][name] = {"score": score, **info}
        rows.append((name, score))
        print(f"{name}: test UPOS {pct(score['upos_accuracy'])}%, XPOS {pct(score['xpos_accuracy'])}%, "
              f"unseen UPOS {pct(score['unseen_upos_accuracy'])}%", flush=True)
    print(f"\nUD English EWT test (gold tokens, {len(test)} sentences), each system trained for at most "
          f"{args.budget:.0f} s on this machine:\n")
    print("| system | UPOS % | XPOS % | unseen-word UPOS % (tokens) | steps (kept) |")
    print("| --- | --- | --- | --- | --- |")
    for name, s in rows:
        info = results["systems"][name]
        steps = f"{info['steps']} ({info['kept_step']})" if "steps" in info else str(info["train"].get("steps", "-"))
        print(f"| {name} | {pct(s['upos_accuracy'])} | {pct(s['xpos_accuracy'])} | "
              f"{pct(s['unseen_upos_accuracy'])} ({s['unseen_tokens']}) | {steps} |")
    print("\nTagging speed, test set (tokens/s; cold = first pass after loading, warm = second pass):\n")
    print("| system | how | cold | warm |")
    print("| --- | --- | --- | --- |")
    for name, how, cold, warm in speeds:
        print(f"| {name} | {how} | {cold:,.0f} | {'-' if warm is None else f'{warm:,.0f}'} |")
    results["speed"] = [dict(zip(("system", "how", "cold", "warm"), row)) for row in speeds]
    json.dump(results, open(os.path.join(args.out, "results.json"), "w"), indent=1)
    print(f"\n{os.path.join(args.out, 'results.json')}")


if __name__ == "__main__":
    main()
