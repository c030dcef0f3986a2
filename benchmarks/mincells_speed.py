"""Training throughput of minGRU / minLSTM against nn.GRU / nn.LSTM on a char-LM workload.

Embedding(65, 128) -> 2 recurrent layers of 512 -> Linear(512, 65); batch 32 x 128 steps;
one step = forward + cross-entropy + backward + AdamW, with the state carried (detached)
from step to step as in truncated BPTT. Prints chars/s = 32 * 128 / step time, for the
fastest and the median step (on a shared machine the fastest is the better estimate).

    .venv/bin/python benchmarks/mincells_speed.py [--threads 2] [--steps 5] [--cells mingru,lstm]
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
from torch.nn import functional as F

from rnnkit.models.model import ModelConfig, build_model


def time_steps(cell: str, precision: str, device: torch.device, batch: int, seq: int, steps: int,
               warmup: int) -> list[float]:
    """Seconds per training step, for each timed step."""
    torch.manual_seed(0)
    cfg = ModelConfig(num_outputs=65, vocab_size=65, embedding_dim=128, cell=cell, hidden_size=512, num_layers=2)
    model = build_model(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.randint(0, 65, (batch, seq + 1), device=device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext())
    state, times = None, []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with autocast:
            logits, state = model(data[:, :-1], None, state)
            loss = F.cross_entropy(logits.float().reshape(-1, 65), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state = tuple(s.detach() for s in state)
        if device.type == "cuda":
            torch.cuda.synchronize()  # a sync point: the step is only done when the GPU is
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="mingru,minlstm,gru,lstm")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, "
          f"batch {args.batch} x {args.seq}, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'cell':8} {'precision':9} {'best ms':>8} {'median ms':>9} {'chars/s':>8} {'(median)':>8}")
    for cell in args.cells.split(","):
        for precision in args.precisions.split(","):
            times = time_steps(cell, precision, device, args.batch, args.seq, args.steps, args.warmup)
            best, median = min(times), statistics.median(times)
            chars = args.batch * args.seq
            print(f"{cell:8} {precision:9} {best * 1e3:8.1f} {median * 1e3:9.1f} {chars / best:8.0f} "
                  f"{chars / median:8.0f}", flush=True)


if __name__ == "__main__":
    main()
