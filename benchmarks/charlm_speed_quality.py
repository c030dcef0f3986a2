"""Time to quality of rnnkit's character LM against a plain PyTorch loop, measured in one run.

    python benchmarks/charlm_speed_quality.py --corpus ../shared/data/tinyshakespeare/input.txt \
        --budgets 60,180,900 --search 2.5e-3,5e-3,1e-2

Split (by position): the first 90% of the text trains every system; the last 10% is cut in two
halves. The first half (*validation*) is the only text used to choose settings; the second half
(*test*) is what the table reports. The loss on the whole last 10% is printed too, for comparison
with nanoGPT's 90/10 convention (it includes the validation half).

``--search`` runs the same small learning-rate search for every system before the table: each
candidate trains for ``--search-budget`` seconds (180) and is scored on the validation half; the
best one trains the table's runs. ``plain-*-dropout`` uses the rate searched for the same loop
without dropout (dropout is the only difference).

Systems (each trains in its own subprocess, one after another, for the same wall-clock budget):

* ``rnnkit``      - ``rnnkit train charlm`` with its default settings and ``--time-budget`` (and ``--lr`` from the search)
* ``plain-bf16``  - the loop below: nn.Embedding + nn.LSTM 2x512 + nn.Linear under bf16 autocast, AdamW
  (betas 0.9/0.99, weight decay on matrices as rnnkit's default: 0.3, 0.01 before 2026-12-05), gradient
  clipping 1.0, random 32 x 128 windows, the same schedule as rnnkit (50 warmup steps, then cosine decay
  to 5% of the rate at the budget) and the same moving average of the weights (0.999, ramped up), scored with it
* ``plain-fp32``  - the same loop without autocast (the only plain loop on a CPU without native bf16:
  oneDNN has no bf16 LSTM kernels there, and rnnkit's default is fp32 there too)
* ``plain-bf16-dropout``, ``plain-fp32-dropout`` - the same loops with constant dropout 0.2 between the
  LSTM layers and before the head
* ``rnnkit:--flag=value`` - rnnkit with extra flags, e.g. ``rnnkit:--dropout=0.2``

Every model is scored by the same function here, in fp32 (no autocast), on 16 contiguous streams
with carried state. Reported: test (and validation, 90/10) nats/char, training chars/s, steps,
peak RSS of the training process. Run it on an otherwise idle machine: load that comes and goes
skews the comparison.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def split_text(text: str) -> dict[str, str]:
    """The train / validation / test / 90-10 tail pieces of ``text`` (by position)."""
    n = int(0.9 * len(text))
    half = n + (len(text) - n) // 2
    return {"train": text[:n], "valid": text[n:half], "test": text[half:], "tail": text[n:]}


@torch.no_grad()
def stream_xent(forward, ids: torch.Tensor, streams: int = 16, bptt: int = 256) -> float:
    """Nats/char of ``ids`` read as ``streams`` contiguous rows; ``forward(x, state) -> (logits, state)``."""
    n = (ids.numel() - 1) // streams
    rows = torch.stack([ids[i * n: i * n + n + 1] for i in range(streams)])
    total, count, state = 0.0, 0, None
    for s in range(0, n, bptt):
        x, y = rows[:, s:min(s + bptt, n)], rows[:, s + 1:min(s + bptt, n) + 1]
        logits, state = forward(x, state)
        total += float(nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
        count += y.numel()
    return total / count


def score_all(forward, encode, text: str) -> dict[str, float]:
    """fp32 scores of one model on the validation half, the test half and the whole 90/10 tail."""
    pieces = split_text(text)
    return {f"{name}_loss": stream_xent(forward, encode(pieces[name])) for name in ("valid", "test", "tail")}


# ---- the plain reference loop (kept short and ordinary on purpose) ------------------------------
PLAIN_WEIGHT_DECAY = 0.3  # rnnkit's defaults (recipes/charlm.py DEFAULT_TRAIN): the same optimiser settings
PLAIN_AVERAGE = 0.999     # ... and the same moving average of the weights, ramped up as rnnkit's is


class PlainLM(nn.Module):
    def __init__(self, vocab: int, hidden: int = 512, layers: int = 2, emb: int = 128, dropout: float = 0.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.emb(x), state)
        return self.out(self.drop(h)), state


def plain_lr(lr: float, step: int, progress: float, warmup: int = 50, floor: float = 0.05) -> float:
    """rnnkit's schedule, written out: linear warmup, then cosine to ``floor * lr`` at progress 1."""
    warm = min(1.0, (step + 1) / warmup)
    p = min(max(progress, 0.0), 1.0)
    return lr * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def run_plain(corpus: str, budget: float, bf16: bool, lr: float, batch: int = 32, seq: int = 128,
              dropout: float = 0.0) -> dict:
    """Train for ``budget`` seconds of wall clock, then score in fp32."""
    torch.manual_seed(0)
    text = open(corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}

    def encode(s: str) -> torch.Tensor:
        return torch.tensor([stoi[c] for c in s], dtype=torch.long)

    train = encode(split_text(text)["train"])
    model = PlainLM(len(chars), dropout=dropout)
    matrices = [p for p in model.parameters() if p.dim() >= 2 and p is not model.emb.weight]
    others = [p for p in model.parameters() if not any(p is m for m in matrices)]
    groups = [{"params": matrices, "weight_decay": PLAIN_WEIGHT_DECAY}, {"params": others, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
    params = list(model.parameters())
    average = [p.detach().clone() for p in params]
    steps, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = plain_lr(lr, steps, elapsed / budget)
        ix = torch.randint(0, train.numel() - seq - 1, (batch,))
        x = torch.stack([train[i:i + seq] for i in ix])
        y = torch.stack([train[i + 1:i + seq + 1] for i in ix])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.float().reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in params], 1 - min(PLAIN_AVERAGE, (1 + steps) / (10 + steps)))
        steps += 1
    elapsed = time.monotonic() - start
    with torch.no_grad():
        for p, a in zip(params, average):
            p.copy_(a)  # scored with the averaged weights, as rnnkit is
    model.eval()
    return {**score_all(lambda x, s: model(x, s), encode, text), "chars_per_s": steps * batch * seq / elapsed,
            "steps": steps}
# --------------------------------------------------------------------------------------------------


def run_rnnkit(corpus: str, budget: float, extra: list[str]) -> dict:
    from rnnkit.cli import main as cli_main
    from rnnkit.training.metrics import read_metrics
    import rnnkit

    out = tempfile.mkdtemp(prefix="rnnkit-bench-")
    run = os.path.join(out, "run")
    args = ["train", "charlm", "--corpus", corpus, "--out", run, "--time-budget", str(budget), "--no-progress", *extra]
    if cli_main(args) != 0:
        raise SystemExit("rnnkit training failed")
    records = read_metrics(os.path.join(run, "metrics.jsonl"))
    steps = max(r["step"] for r in records)
    elapsed = max(r["time"] for r in records)
    units = json.load(open(os.path.join(run, "checkpoint.json")))["trainer"]["units"]
    lm = rnnkit.load(run)  # fp32 on the CPU
    text = open(corpus, encoding="utf-8").read()

    def encode(s: str) -> torch.Tensor:
        return torch.from_numpy(lm.vocab.encode(s))

    return {**score_all(lambda x, s: lm.model(x, None, s), encode, text), "chars_per_s": units / elapsed,
            "steps": steps}


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    if args.child.startswith("rnnkit"):
        # "rnnkit" runs the defaults; "rnnkit:--dropout=0.2" adds flags (comma- or space-separated).
        extra = args.child.partition(":")[2].replace(",", " ").replace("=", " ").split()
        lr = ["--lr", str(args.lr)] if args.lr else []
        result = run_rnnkit(args.corpus, args.budget, args.rnnkit_args.split() + extra + lr)
    else:
        result = run_plain(args.corpus, args.budget, bf16=args.child.startswith("plain-bf16"), lr=args.lr or 2e-3,
                           dropout=0.2 if args.child.endswith("-dropout") else 0.0)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def run_child(args: argparse.Namespace, system: str, budget: float, lr: float | None) -> dict:
    cmd = [sys.executable, __file__, "--corpus", args.corpus, "--child", system, "--budget", str(budget),
           "--threads", str(args.threads), "--rnnkit-args", args.rnnkit_args, "--lr", str(lr or 0)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{system} failed")
    result = json.loads(line[0][7:])
    print(f"# {system} {budget:.0f}s lr {lr}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def search_key(system: str) -> str:
    return system.removesuffix("-dropout")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--budgets", default="180", help="comma-separated seconds, e.g. 60,180,900")
    p.add_argument("--systems", default=None,
                   help="comma-separated; 'rnnkit:--dropout=0.2' is rnnkit with extra flags (default: rnnkit and "
                        "the plain loop with and without dropout, in bf16 where the CPU has it natively, else fp32)")
    p.add_argument("--search", default="", help="comma-separated learning rates to search for every system, "
                   "on the validation half (default: none; rnnkit's default and 2e-3 for the plain loops)")
    p.add_argument("--search-budget", type=float, default=180.0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--rnnkit-args", default="", help="extra rnnkit train flags (default: none, i.e. defaults)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--lr", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus not found: {args.corpus}")
    from rnnkit.training.runtime import cpu_has_bf16

    plain = "plain-bf16" if cpu_has_bf16() else "plain-fp32"  # oneDNN has no bf16 LSTM on AVX2-only CPUs
    systems = [s for s in (args.systems or f"rnnkit,{plain},{plain}-dropout").split(",") if s]
    budgets = [float(b) for b in args.budgets.split(",")]
    chosen: dict[str, float | None] = {}
    search_rows = []
    for key in dict.fromkeys(search_key(s) for s in systems):
        if not args.search:
            chosen[key] = None
            continue
        tried = {float(lr): run_child(args, key, args.search_budget, float(lr)) for lr in args.search.split(",")}
        search_rows += [(key, lr, r["valid_loss"]) for lr, r in tried.items()]
        chosen[key] = min(tried, key=lambda lr: tried[lr]["valid_loss"])
    rows = [(budget, system, run_child(args, system, budget, chosen[search_key(system)]))
            for budget in budgets for system in systems]

    print(f"\nCommand: python {' '.join(sys.argv)}")
    print(f"Machine: {os.cpu_count()} CPU threads, torch {torch.__version__}, {args.threads} intra-op threads\n")
    if search_rows:
        print(f"Learning-rate search ({args.search_budget:.0f} s each, scored on the validation half):\n")
        print("| system | lr | validation loss (nats/char) |")
        print("|---|---|---|")
        for key, lr, loss in search_rows:
            print(f"| {key} | {lr:g}{' (chosen)' if chosen[key] == lr else ''} | {loss:.4f} |")
        print()
    print("| budget (s) | system | lr | test loss (nats/char) | 90/10 tail loss | chars/s | steps | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for budget, system, r in rows:
        lr = chosen[search_key(system)]
        print(f"| {budget:.0f} | {system} | {'default' if lr is None else f'{lr:g}'} | {r['test_loss']:.4f} | "
              f"{r['tail_loss']:.4f} | {r['chars_per_s']:,.0f} | {r['steps']} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
