"""Training throughput of a 2x512 character LSTM (batch 32, BPTT 128): rnnkit vs a plain loop.

    python benchmarks/lstm_throughput.py --steps 40

Every system trains the same model shape on the same random 65-symbol data for ``--steps``
steps after ``--warmup`` untimed ones; chars/s is the median over steps. Achieved GFLOP/s
(6 FLOPs per multiply-add weight per character: forward + backward) is printed beside this
CPU's GEMM peak, measured in the same run with large square matrix products in fp32 and bf16.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

VOCAB, EMB, HIDDEN, LAYERS, BATCH, BPTT = 65, 128, 512, 2, 32, 128


def flops_per_char(cell_gates: int = 4, recurrent: bool = True) -> float:
    """Training FLOPs per character: 2 (multiply-add) x 3 (forward, two backward products) x weights used.

    minGRU / minLSTM have no recurrent matrix: their gates read the input only."""
    weights = 0
    size_in = EMB
    for _ in range(LAYERS):
        weights += cell_gates * HIDDEN * (size_in + (HIDDEN if recurrent else 0))
        size_in = HIDDEN
    weights += HIDDEN * VOCAB
    return 6.0 * weights


def gemm_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def time_steps(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return BATCH * BPTT / statistics.median(times)


def plain_step_fn(bf16: bool):
    torch.manual_seed(0)
    emb, lstm, out = nn.Embedding(VOCAB, EMB), nn.LSTM(EMB, HIDDEN, LAYERS, batch_first=True), nn.Linear(HIDDEN, VOCAB)
    params = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    x, y = torch.randint(0, VOCAB, (BATCH, BPTT)), torch.randint(0, VOCAB, (BATCH, BPTT))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = out(lstm(emb(x))[0])
        loss = nn.functional.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def rnnkit_step_fn(cell: str, precision: str):
    """One step of rnnkit's own Trainer (the code path `rnnkit train` runs), on random streams."""
    import tempfile

    from rnnkit.models.model import ModelConfig, build_model
    from rnnkit.recipes.charlm import CharLMTask
    from rnnkit.training.runtime import resolve_runtime
    from rnnkit.training.trainer import TrainConfig, Trainer, lr_at

    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=BATCH, bptt=BPTT, max_steps=10**6, progress=False, precision=precision)
    model = build_model(ModelConfig(vocab_size=VOCAB, num_outputs=VOCAB, embedding_dim=EMB, hidden_size=HIDDEN,
                                    num_layers=LAYERS, cell=cell))
    ids = torch.randint(0, VOCAB, (BATCH * BPTT * 200,))
    task = CharLMTask(ids, ids[:1000], BATCH, BPTT, seed=0)
    trainer = Trainer(model, task, cfg, resolve_runtime("cpu", precision), tempfile.mkdtemp())

    def step():
        trainer._train_step(task.next_batch(), lr_at(cfg, 100, 0.5))
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--cells", default="lstm", help="rnnkit cells to time, e.g. lstm,gru,mingru,minlstm")
    args = p.parse_args()
    peak32, peak16 = gemm_peak(torch.float32), gemm_peak(torch.bfloat16)
    rows = [("plain nn.LSTM loop", "fp32", time_steps(plain_step_fn(False), args.warmup, args.steps), (4, True)),
            ("plain nn.LSTM loop", "bf16", time_steps(plain_step_fn(True), args.warmup, args.steps), (4, True))]
    for cell in args.cells.split(","):
        gates = {"lstm": 4, "gru": 3, "mingru": 2, "minlstm": 3}[cell]
        for precision in ("fp32", "bf16"):
            rows.append((f"rnnkit {cell}", precision, time_steps(rnnkit_step_fn(cell, precision), args.warmup, args.steps),
                         (gates, not cell.startswith("min"))))
    base = rows[0][2]
    print(f"Command: python {' '.join(sys.argv)}")
    print(f"Machine: {os.cpu_count()} CPU threads, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
    print(f"Measured GEMM peak (2048^3 matmul): fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s\n")
    print("| system | precision | chars/s | vs plain fp32 | GFLOP/s | % of GEMM peak |")
    print("|---|---|---|---|---|---|")
    for name, precision, rate, (gates, recurrent) in rows:
        gflops = rate * flops_per_char(gates, recurrent) / 1e9
        peak = peak16 if precision == "bf16" else peak32
        print(f"| {name} | {precision} | {rate:,.0f} | {rate / base:.2f}x | {gflops:.0f} | {100 * gflops / peak:.0f}% |")


if __name__ == "__main__":
    main()
