"""Generation speed of a 2x512 character LSTM: rnnkit's sampler against per-step PyTorch loops.

    python benchmarks/sampling_speed.py --length 2000 [--run runs/linux --text FILE]

All systems sample with temperature 0.8 from the same random-weight model (speed does not
depend on the weights) after the same 32-character prime. References, measured in the same
run: ``nn.LSTM`` called one step at a time, and an ``nn.LSTMCell`` loop. rnnkit is timed with
its recurrent matrices in fp32, bf16 and int8, for one stream and for batches of streams.

With ``--run`` (a trained character LM) and ``--text``, it also prints what the lower
precisions cost: the one-step path's nats/char on that text (teacher-forced, one stream) in
each precision, next to the whole-sequence fp32 model.
"""
from __future__ import annotations

import argparse
import os
import string
import sys
import time

import torch
from torch import nn

import rnnkit
from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.sampling import sample
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.models.stepper import PRECISIONS, teacher_forced_xent

VOCAB = Vocabulary.build_chars(string.printable)
PRIME = "def main():\n    return parse(x)"


def reference_lstm_steps(model: nn.Module, length: int) -> float:
    lstm = model.encoder.rnn
    g = torch.Generator().manual_seed(0)
    x = torch.from_numpy(VOCAB.encode(PRIME))[None]
    t = time.perf_counter()
    with torch.no_grad():
        out, state = lstm(model.input(x))
        logits = model.head(out[:, -1])
        for _ in range(length):
            nxt = torch.multinomial(torch.softmax(logits / 0.8, -1), 1, generator=g)
            out, state = lstm(model.input(nxt), state)
            logits = model.head(out[:, -1])
    return length / (time.perf_counter() - t)


def reference_cell_loop(model: nn.Module, length: int) -> float:
    lstm = model.encoder.rnn
    cells = []
    for k in range(lstm.num_layers):
        cell = nn.LSTMCell(lstm.input_size if k == 0 else lstm.hidden_size, lstm.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(lstm, f"{name}_l{k}"))
        cells.append(cell)
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    with torch.no_grad():
        states = [None] * len(cells)
        ids = torch.from_numpy(VOCAB.encode(PRIME))
        for i in range(len(ids) + length):
            x = model.input(ids[i:i + 1] if i < len(ids) else nxt[0])
            for k, cell in enumerate(cells):
                states[k] = cell(x, states[k])
                x = states[k][0]
            logits = model.head(x)
            if i >= len(ids) - 1:
                nxt = torch.multinomial(torch.softmax(logits / 0.8, -1), 1, generator=g)
    return length / (time.perf_counter() - t)


def rnnkit_rate(model: nn.Module, length: int, num_samples: int, precision: str) -> float:
    t = time.perf_counter()
    sample(model, VOCAB, PRIME, length, temperature=0.8, seed=0, num_samples=num_samples, precision=precision)
    return length * num_samples / (time.perf_counter() - t)


@torch.no_grad()
def fidelity(run: str, text_path: str, chars: int) -> list[tuple[str, float]]:
    """Nats/char of ``chars`` characters of the text: whole-sequence fp32, then the stepper per precision."""
    lm = rnnkit.load(run)
    text = open(text_path, encoding="utf-8", errors="replace").read()[:chars + 1]
    ids = torch.from_numpy(lm.vocab.encode(text))
    logits, _ = lm.model(ids[None, :-1])
    rows = [("whole-sequence forward, fp32", float(nn.functional.cross_entropy(logits[0].float(), ids[1:])))]
    for precision in PRECISIONS:
        rows.append((f"one-step, {precision} matrices", teacher_forced_xent(lm.model, ids, precision)))
    return rows


def best_of(fn, repeats: int) -> float:
    return max(fn() for _ in range(repeats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs per row")
    p.add_argument("--run", default=None, help="a trained character-LM run folder for the fidelity table")
    p.add_argument("--text", default=None, help="text to score in the fidelity table")
    p.add_argument("--chars", type=int, default=20000, help="characters of --text to score")
    p.add_argument("--streams", default="1,8,64", help="comma-separated numbers of streams to time")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated matrix precisions to time")
    args = p.parse_args()
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=len(VOCAB), num_outputs=len(VOCAB), hidden_size=512, num_layers=2)).eval()
    n = args.length
    rows = [("nn.LSTM, one call per step", 1, "fp32", best_of(lambda: reference_lstm_steps(model, n // 4), args.repeats)),
            ("nn.LSTMCell loop", 1, "fp32", best_of(lambda: reference_cell_loop(model, n), args.repeats))]
    for precision in args.precisions.split(","):
        for streams in (int(n) for n in args.streams.split(",")):
            rows.append(("rnnkit sample", streams, precision,
                         best_of(lambda: rnnkit_rate(model, n // max(1, streams // 8), streams, precision), args.repeats)))
    print(f"Command: python {' '.join(sys.argv)}")
    print(f"Machine: {os.cpu_count()} CPU threads, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads\n")
    print("| system | streams | weights | chars/s (all streams) | chars/s per stream |")
    print("|---|---|---|---|---|")
    for name, streams, precision, rate in rows:
        print(f"| {name} | {streams} | {precision} | {rate:,.0f} | {rate / streams:,.0f} |")
    if args.run and args.text:
        print(f"\nFidelity: {args.run} scoring the first {args.chars:,} characters of {args.text}\n")
        print("| path | nats/char |")
        print("|---|---|")
        for name, nats in fidelity(args.run, args.text, args.chars):
            print(f"| {name} | {nats:.4f} |")


if __name__ == "__main__":
    main()
