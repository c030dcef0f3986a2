"""Penn Treebank word-level language modelling: rnnkit's LSTM and TDNN, and a plain PyTorch loop of
the pytorch/examples recipe, each trained from scratch for a wall-clock budget and scored alike.

    python benchmarks/wordlm_ptb.py --data ../shared/data/ptb_mikolov --out /tmp/ptb-bench \
        --systems lstm,tdnn,plain --budget lstm=3600 --budget tdnn=1800 --budget plain=3600

The data is read where it lies (research-only licence: never copied). ``train`` trains, ``valid``
is all that anything is chosen on (the kept checkpoint, the plain loop's annealing), ``test`` is
what the table reports. Systems, one after another, each in its own process:

* ``lstm``   ``rnnkit train wordlm --model lstm --time-budget B``: the defaults a user gets
* ``tdnn``   ``rnnkit train wordlm --model tdnn --time-budget B``
* ``lstm:--flag=value:...`` / ``tdnn:...``: the same command with other options
* ``plain``  the pytorch/examples ``word_language_model`` recipe written as a plain loop over
  ``nn.LSTM`` (2 x 650, dropout 0.5, tied weights, SGD at lr 20 divided by 4 whenever a pass does
  not lower the validation loss, batch 20, bptt 35, clip 0.25), stopped at the same budget: the
  peer's shape and schedule, measured here in the same run

Scoring: every model is scored by the same function (:meth:`WordLanguageModel.score` for rnnkit
runs, the same stream split for the plain loop: 10 streams, 70 steps, state carried), perplexity
= exp(mean NLL over the test words with their <eos>). Results go to OUT/results.json, one entry
per system, and the table prints every entry of that file with the published anchors below it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.data.words import build_word_vocab, read_words  # noqa: E402

ANCHORS = [  # (what, test perplexity, where it comes from)
    ("pytorch/examples word_language_model, 2x650 tied, 10 epochs, 57.6 min here (issue 10)", 88.88, "measured by the issue's author"),
    ("Zaremba et al. 2014, small (2x200)", 114.5, "published"),
    ("Zaremba et al. 2014, medium (2x650, 39 epochs)", 82.7, "published"),
    ("Mikolov, Kneser-Ney 5-gram", 141.2, "published"),
    ("Merity et al. 2017, AWD-LSTM (hundreds of epochs, GPU)", 57.3, "published"),
]


def files(data: str) -> dict[str, str]:
    out = {k: os.path.join(data, f"ptb.{k}.txt.gz") for k in ("train", "valid", "test")}
    for path in out.values():
        if not os.path.exists(path):
            sys.exit(f"wordlm_ptb: error: {path} not found (give --data the folder of ptb.*.txt.gz)")
    return out


def run_rnnkit(system: str, run: str, data: dict[str, str], budget: float) -> dict:
    """``rnnkit train wordlm`` in a subprocess (the user's command), then its scores."""
    kind, *flags = system.split(":")
    flags = [part for f in flags for part in f.split("=", 1)]
    if not os.path.exists(os.path.join(run, "checkpoint.json")):
        cmd = [sys.executable, "-m", "rnnkit.cli", "train", "wordlm", "--model", kind, "--train", data["train"],
               "--valid", data["valid"], "--out", run, "--time-budget", str(budget), "--no-progress", *flags]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    lm = rnnkit.load(run)
    config = json.load(open(os.path.join(run, "config.json")))
    last = json.loads(open(os.path.join(run, "metrics.jsonl")).read().splitlines()[-1])
    records = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    passes = max((r["passes"] for r in records if "passes" in r), default=None)
    scores = {split: lm.score(read_words(data[split]).tokens) for split in ("valid", "test")}
    return {"system": system, "train_s": last["time"], "steps": last["step"], "passes": passes,
            "parameters": lm.model.num_parameters(), "valid_ppl": scores["valid"]["perplexity"],
            "test_ppl": scores["test"]["perplexity"], "budget": budget, "model": config["model"]}


# -- the plain loop: pytorch/examples word_language_model, time-boxed ----------------------------
class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, size: int = 650, layers: int = 2, dropout: float = 0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, size)
        self.rnn = nn.LSTM(size, size, layers, dropout=dropout)
        self.decoder = nn.Linear(size, vocab)
        self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
    n = ids.numel() // streams
    return ids[: n * streams].view(streams, n).t().contiguous()  # [T, B], as the example


def plain_loss(model: PlainLSTM, data: torch.Tensor, bptt: int) -> float:
    """Mean NLL of ``data`` [T, B] read ``bptt`` steps at a time with carried state."""
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, data.shape[0] - 1, bptt):
            seq = min(bptt, data.shape[0] - 1 - i)
            out, hidden = model(data[i:i + seq], hidden)
            total += float(nn.functional.cross_entropy(out.view(-1, out.shape[-1]), data[i + 1:i + 1 + seq].reshape(-1),
                                                       reduction="sum"))
            count += seq * data.shape[1]
    return total / count


def run_plain(data: dict[str, str], budget: float, seed: int = 1111) -> dict:
    torch.manual_seed(seed)
    train_tokens = read_words(data["train"]).tokens
    vocab = build_word_vocab([train_tokens])
    ids = {k: torch.from_numpy(vocab.encode(read_words(p).tokens if k != "train" else train_tokens))
           for k, p in data.items()}
    train, valid, test = batchify(ids["train"], 20), batchify(ids["valid"], 10), batchify(ids["test"], 10)
    model = PlainLSTM(len(vocab))
    lr, best, start, steps, epochs = 20.0, math.inf, time.monotonic(), 0, 0.0
    best_state = None
    while time.monotonic() - start < budget:
        model.train()
        hidden = None
        for i in range(0, train.shape[0] - 1, 35):
            if time.monotonic() - start >= budget:
                break
            seq = min(35, train.shape[0] - 1 - i)
            hidden = None if hidden is None else tuple(h.detach() for h in hidden)
            out, hidden = model(train[i:i + seq], hidden)
            loss = nn.functional.cross_entropy(out.view(-1, len(vocab)), train[i + 1:i + 1 + seq].reshape(-1))
            model.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            steps += 1
            epochs += seq / (train.shape[0] - 1)
        val = plain_loss(model, valid, 35)  # the end of a pass (or of the budget): anneal or keep
        print(f"plain: {epochs:.2f} passes, {time.monotonic() - start:.0f} s, valid ppl {math.exp(val):.2f}", flush=True)
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            lr /= 4.0
    model.load_state_dict(best_state)
    return {"system": "plain", "train_s": round(time.monotonic() - start, 1), "steps": steps, "passes": epochs,
            "parameters": sum(p.numel() for p in model.parameters()), "valid_ppl": math.exp(plain_loss(model, valid, 70)),
            "test_ppl": math.exp(plain_loss(model, test, 70)), "budget": budget}


def table(results: dict[str, dict]) -> str:
    lines = [f"{'system':<34} {'budget':>7} {'train':>7} {'passes':>6} {'params':>7} {'valid':>7} {'test':>7}",
             "-" * 81]
    for name, r in results.items():
        passes = "-" if r.get("passes") is None else f"{r['passes']:.2f}"
        lines.append(f"{name:<34} {r['budget'] / 60:>6.0f}m {r['train_s'] / 60:>6.1f}m {passes:>6} "
                     f"{r['parameters'] / 1e6:>6.1f}M {r['valid_ppl']:>7.2f} {r['test_ppl']:>7.2f}")
    lines.append("")
    lines += [f"{what:<81} test {ppl:.1f} ({source})" for what, ppl, source in ANCHORS]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of ptb.{train,valid,test}.txt.gz")
    p.add_argument("--out", required=True, help="run folders and results.json")
    p.add_argument("--systems", default="lstm,tdnn,plain")
    p.add_argument("--budget", action="append", default=[], metavar="SYSTEM=SECONDS",
                   help="wall-clock training budget of a system (default lstm 3600, tdnn 1800, plain 3600)")
    args = p.parse_args()
    data = files(args.data)
    budgets = {"lstm": 3600.0, "tdnn": 1800.0, "plain": 3600.0}
    budgets.update({k: float(v) for k, v in (b.split("=", 1) for b in args.budget)})
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    for system in args.systems.split(","):
        budget = budgets.get(system, budgets[system.split(":")[0]])
        if system == "plain":
            r = run_plain(data, budget)
        else:
            r = run_rnnkit(system, os.path.join(args.out, system.replace(":", "_").replace("-", "")), data, budget)
        r["measured"] = time.strftime("%Y-%m-%d %H:%M")
        results[system] = r
        json.dump(results, open(path, "w"), indent=1)
        print(json.dumps({k: v for k, v in r.items() if k != "model"}), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
