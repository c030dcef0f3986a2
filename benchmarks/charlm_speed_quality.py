"""Time to quality of rnnkit's character LM against a plain PyTorch loop, measured in one run.

    python benchmarks/charlm_speed_quality.py --corpus ../shared/data/tinyshakespeare/input.txt --budgets 180

For each time budget, each system trains in its own subprocess on the same 90/10 split for the
same wall-clock budget, then is scored on the whole validation text by the same function here
(16 contiguous streams, state carried). Systems:

* ``rnnkit``      - ``rnnkit train charlm`` with its default settings and only ``--time-budget`` set
* ``plain-fp32``  - the 60-line loop below: nn.Embedding + nn.LSTM 2x512 + nn.Linear, AdamW, fp32
* ``plain-bf16``  - the same loop under bf16 autocast
* ``plain-bf16-dropout`` - the bf16 loop with dropout 0.2 between the LSTM layers and before the head
* ``rnnkit:--flag=value`` - rnnkit with extra flags, e.g. ``rnnkit:--dropout=0.2``

Reported: validation nats/char, training chars/s, steps, peak RSS of the training process.
Run it on an otherwise idle machine: the systems run one after another, so load that comes
and goes skews the comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def load_split(path: str) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return chars, data[:n], data[n:]


@torch.no_grad()
def valid_loss(forward, ids: torch.Tensor, streams: int = 16, bptt: int = 256) -> float:
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


# ---- the plain reference loop (kept short and ordinary on purpose) ------------------------------
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


def run_plain(corpus: str, budget: float, bf16: bool, batch: int = 32, seq: int = 128, lr: float = 2e-3,
              dropout: float = 0.0, marks: tuple[float, ...] = ()) -> dict:
    """Train for ``budget`` seconds; also score validation when training time passes each of ``marks``
    (the clock stops while scoring). The loop has no schedule, so the loss at a mark is the loss a
    run with that budget would end at."""
    torch.manual_seed(0)
    chars, train, valid = load_split(corpus)
    model = PlainLM(len(chars), dropout=dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def fwd(x, state):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x, state)

    at = {}
    pending = sorted(m for m in marks if m < budget)
    steps, start = 0, time.monotonic()
    while time.monotonic() - start < budget:
        if pending and time.monotonic() - start >= pending[0]:
            paused = time.monotonic()
            model.eval()
            at[str(int(pending.pop(0)))] = {"valid_loss": valid_loss(fwd, valid), "steps": steps}
            model.train()
            start += time.monotonic() - paused
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
        steps += 1
    elapsed = time.monotonic() - start
    model.eval()
    return {"valid_loss": valid_loss(fwd, valid), "chars_per_s": steps * batch * seq / elapsed, "steps": steps,
            "at": at}
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
    train_rec = [r for r in records if "chars_per_s" in r]
    steps = max(r["step"] for r in records)
    elapsed = max(r["time"] for r in records)
    units = json.load(open(os.path.join(run, "checkpoint.json")))["trainer"]["units"]
    lm = rnnkit.load(run)
    text = open(corpus, encoding="utf-8").read()
    # The same split and the same scoring function as the plain loop, in rnnkit's own symbol ids.
    valid = torch.from_numpy(lm.vocab.encode(text[int(0.9 * len(text)):]))

    def fwd(x, state):
        return lm.model(x, None, state)

    return {"valid_loss": valid_loss(fwd, valid), "chars_per_s": units / elapsed, "steps": steps,
            "rnnkit_reported_valid": [r for r in records if "valid_loss" in r][-1]["valid_loss"],
            "records": len(train_rec)}


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    if args.child.startswith("rnnkit"):
        # "rnnkit" runs the defaults; "rnnkit:--dropout=0.2" adds flags (comma- or space-separated).
        extra = args.child.partition(":")[2].replace(",", " ").replace("=", " ").split()
        result = run_rnnkit(args.corpus, args.budget, args.rnnkit_args.split() + extra)
    else:
        result = run_plain(args.corpus, args.budget, bf16=args.child.startswith("plain-bf16"),
                           dropout=0.2 if args.child.endswith("-dropout") else 0.0,
                           marks=tuple(float(m) for m in args.marks.split(",") if m))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--budgets", default="180", help="comma-separated seconds, e.g. 60,180,900")
    p.add_argument("--systems", default="rnnkit,plain-fp32,plain-bf16",
                   help="comma-separated; 'rnnkit:--dropout=0.2' is rnnkit with extra flags")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--rnnkit-args", default="", help="extra rnnkit train flags (default: none, i.e. defaults)")
    p.add_argument("--plain-once", action="store_true",
                   help="run the plain loops only at the largest budget and read their smaller-budget losses "
                        "off that run (they have no schedule, so this is what shorter runs would reach)")
    p.add_argument("--marks", default="", help=argparse.SUPPRESS)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus not found: {args.corpus}")
    rows = []
    systems = [s for s in args.systems.split(",") if s]
    budgets = [float(b) for b in args.budgets.split(",")]
    for budget in budgets:
        for system in systems:
            if args.plain_once and system.startswith("plain") and budget != max(budgets):
                continue
            cmd = [sys.executable, __file__, "--corpus", args.corpus, "--child", system, "--budget", str(budget),
                   "--threads", str(args.threads), "--rnnkit-args", args.rnnkit_args,
                   "--marks", ",".join(str(b) for b in budgets if b < budget) if args.plain_once else ""]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{system} failed")
            r = json.loads(line[0][7:])
            rows.append((budget, system, r))
            for mark, got in r.pop("at", {}).items():  # the same plain run, read at a smaller budget
                rows.append((float(mark), system + " (same run, at this time)",
                             {**r, "valid_loss": got["valid_loss"], "steps": got["steps"]}))
            print(f"# {system} {budget:.0f}s: {json.dumps(r)}", file=sys.stderr, flush=True)
    print(f"\nCommand: python {' '.join(sys.argv)}")
    print(f"Machine: {os.cpu_count()} CPU threads, torch {torch.__version__}, {args.threads} intra-op threads\n")
    print("| budget (s) | system | valid loss (nats/char) | chars/s | steps | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for budget, system, r in sorted(rows, key=lambda row: row[0]):
        print(f"| {budget:.0f} | {system} | {r['valid_loss']:.4f} | {r['chars_per_s']:,.0f} | {r['steps']} | {r['peak_rss_mb']:.0f} |")
    for budget in sorted({b for b, _, _ in rows}):
        got = {s: r for b, s, r in rows if b == budget}
        if "rnnkit" in got and "plain-fp32" in got:
            print(f"\n{budget:.0f} s: rnnkit/plain-fp32 throughput ratio {got['rnnkit']['chars_per_s'] / got['plain-fp32']['chars_per_s']:.2f}x")


if __name__ == "__main__":
    main()
