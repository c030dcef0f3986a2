"""The addition problem: rnnkit's recurrent adder and an MLP on the same data, measured in one run.

    python benchmarks/addition.py --out /tmp/addition-bench [--hidden 2,4,8,16] [--examples 100,300,1000]

**rnnkit.** ``rnnkit train addition --bits 8 --examples N --hidden-size H`` for each hidden size H
and training-set size N (the defaults otherwise: an Elman net, 1,500 steps at most, the weights with
the lowest loss on 500 dev pairs kept), then ``rnnkit evaluate RUN --bits 8,9,16,64,256,1024
--json``: exact-match accuracy (every bit of the sum right) on 1,000 fresh random pairs per
length (at 8 bits none of the training or dev pairs). The table marks the smallest net and
training set that are exact at every length.

**MLP.** The lecture's foil: 16 input bits (the two 8-bit numbers side by side) -> two hidden
layers of 256 ReLU units -> 9 sigmoid output bits, binary cross-entropy, Adam, batches of 32.
For 100, 1,000, 10,000 and 60,000 distinct training pairs (of the 65,536 there are): the
learning rate chosen from {1e-3, 3e-3} and the training stopped by exact-match accuracy on 500
dev pairs it never trains on (checked every 250 steps, stopped after 8 checks without a gain, at
most 30,000 steps), then exact-match accuracy on the pairs it never saw (all of them, at most
10,000). It has 16 inputs: there is no 9th bit to give it.
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
from torch import nn  # noqa: E402

from rnnkit.data.addition import add_bits, distinct_pairs, pair_keys  # noqa: E402

LENGTHS = (8, 9, 16, 64, 256, 1024)
ENV = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")}  # this checkout's rnnkit in the subprocesses


def run_rnnkit(out: str, hidden: int, examples: int) -> dict:
    """Train with the user's command, then its evaluation at every length."""
    run = os.path.join(out, f"rnn-h{hidden}-n{examples}")
    start = time.perf_counter()
    if not os.path.exists(os.path.join(run, "checkpoint.json")):
        subprocess.run([sys.executable, "-m", "rnnkit.cli", "train", "addition", "--bits", "8", "--examples", str(examples),
                        "--hidden-size", str(hidden), "--out", run, "--no-progress"], check=True, capture_output=True, env=ENV)
    seconds = time.perf_counter() - start
    res = subprocess.run([sys.executable, "-m", "rnnkit.cli", "evaluate", run, "--bits", ",".join(map(str, LENGTHS)),
                          "--json"], check=True, capture_output=True, text=True, env=ENV)
    rows = json.loads(res.stdout)["lengths"]
    steps = max(json.loads(line).get("step", 0) for line in open(os.path.join(run, "metrics.jsonl")))
    return {"hidden": hidden, "examples": examples, "train_s": round(seconds, 1), "steps": steps,
            "exact": {str(r["bits"]): r["exact"] for r in rows}}


# -- the MLP ----------------------------------------------------------------------------------------
def mlp_data(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([a, b], 1).float(), add_bits(a, b).float()


def mlp_exact(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(x) > 0).float() == y).all(1).float().mean())


def train_mlp(x, y, dev_x, dev_y, lr: float, seed: int = 0) -> tuple[nn.Module, float, int]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 9))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, since, step = -1.0, None, 0, 0
    g = torch.Generator().manual_seed(seed)
    while step < 30_000 and since < 8:
        for idx in torch.randperm(len(x), generator=g).split(32):
            loss = nn.functional.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 250 == 0:
                acc = mlp_exact(model, dev_x, dev_y)
                best, best_state, since = (acc, {k: v.clone() for k, v in model.state_dict().items()}, 0) if acc > best \
                    else (best, best_state, since + 1)
                if since >= 8 or step >= 30_000:
                    break
    model.load_state_dict(best_state)
    return model, best, step


def run_mlp(examples: int) -> dict:
    a, b = distinct_pairs(examples, 8, seed=0)
    seen = pair_keys(a, b)
    da, db = distinct_pairs(500, 8, seed=1, exclude=seen)
    unseen = 4 ** 8 - examples - 500
    ta, tb = distinct_pairs(min(10_000, unseen), 8, seed=2, exclude=seen | pair_keys(da, db))
    x, y = mlp_data(a, b)
    dev_x, dev_y = mlp_data(da, db)
    start = time.perf_counter()
    trials = [(lr, *train_mlp(x, y, dev_x, dev_y, lr)) for lr in (1e-3, 3e-3)]
    lr, model, dev, steps = max(trials, key=lambda t: t[2])
    return {"examples": examples, "lr": lr, "steps": steps, "train_s": round(time.perf_counter() - start, 1),
            "dev_exact": dev, "test_pairs": len(ta), "exact": mlp_exact(model, *mlp_data(ta, tb))}


def table(rnn: list[dict], mlp: list[dict]) -> str:
    head = f"{'system':<30} {'pairs':>6} {'train':>7} " + " ".join(f"{n:>7}" for n in LENGTHS)
    lines = [head, "-" * len(head)]
    exact_everywhere = [r for r in rnn if all(v == 1.0 for v in r["exact"].values())]
    smallest = min(exact_everywhere, key=lambda r: (r["hidden"], r["examples"]), default=None)
    for r in rnn:
        mark = " *" if r is smallest else ""
        lines.append(f"{'rnnkit Elman, ' + str(r['hidden']) + ' units' + mark:<30} {r['examples']:>6} {r['train_s']:>6.1f}s "
                     + " ".join(f"{100 * r['exact'][str(n)]:>6.2f}%" for n in LENGTHS))
    for m in mlp:
        lines.append(f"{'MLP 16-256-256-9, lr ' + format(m['lr'], 'g'):<30} {m['examples']:>6} {m['train_s']:>6.1f}s "
                     f"{100 * m['exact']:>6.2f}% " + " ".join(f"{'-':>7}" for _ in LENGTHS[1:]))
    lines.append("")
    lines.append("exact-match accuracy on fresh pairs; the MLP's 8-bit column: the pairs it never saw (at most 10,000);"
                 " '-': it has no input for a 9th bit")
    if smallest:
        lines.append(f"* the smallest rnnkit net and training set exact at every length: {smallest['hidden']} units, "
                     f"{smallest['examples']} pairs")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run folders and results.json")
    p.add_argument("--hidden", default="2,4,8,16")
    p.add_argument("--examples", default="100,300,1000")
    p.add_argument("--mlp-examples", default="100,1000,10000,60000")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rnn = [run_rnnkit(args.out, h, n) for h in map(int, args.hidden.split(",")) for n in map(int, args.examples.split(","))]
    for r in rnn:
        print(json.dumps(r), flush=True)
    mlp = []
    for n in map(int, args.mlp_examples.split(",")):
        mlp.append(run_mlp(n))
        print(json.dumps(mlp[-1]), flush=True)
    json.dump({"rnnkit": rnn, "mlp": mlp, "measured": time.strftime("%Y-%m-%d %H:%M")},
              open(os.path.join(args.out, "results.json"), "w"), indent=1)
    print(table(rnn, mlp))


if __name__ == "__main__":
    main()
