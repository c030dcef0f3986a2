"""spaCy reference row for the POS-tagging benchmark: train and tag UD English EWT with spaCy.

    python benchmarks/tagger_spacy.py --venv /tmp/spacybench --train TRAIN --dev DEV \
        --test TEST --work /tmp/spacy_work --max-seconds 1800 --threads 2

What it measures: how well, and how fast, a stock spaCy tagger does on exactly the data rnnkit's
tagger sees, so the two rows differ only in the model. To keep the comparison fair:
  * same data: the same CoNLL-U train/dev/test split (plain or .gz) for both systems;
  * gold tokens: spaCy is trained and run on the treebank's own syntactic words (multiword
    ranges and empty nodes are not tokens), so no tokenizer or segmenter errors enter the scores;
  * from scratch: no pretrained pipeline and no word vectors, only the training split;
  * CPU: spaCy's own ``init config --optimize efficiency`` recipe (tagger for XPOS, morphologizer
    for UPOS), threads capped like the caller's, training stopped by spaCy's patience/max_steps
    or by a wall-clock cap, whichever comes first;
  * same scorer: the tagged test file is the input with only UPOS and XPOS replaced, for the
    benchmark's scorer; tagging speed is words/s over the ``nlp.pipe`` loop only.
spaCy runs in its own virtual environment and only as subprocesses: it is never imported here.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SPACY_REQ = "spacy>=3.8,<3.9"
PIPES = ("tok2vec", "tagger", "morphologizer")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

# Run by the spaCy venv's python: argv = model_dir, test_conllu, out_conllu, batch_size.
TAG_SCRIPT = r'''
import gzip, json, sys, time
import spacy
from spacy.tokens import Doc

model_dir, src, dst, batch_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
opener = gzip.open if src.endswith(".gz") else open
with opener(src, "rt", encoding="utf-8", newline="") as f:
    lines = f.read().splitlines(keepends=True)

# Sentences as lists of indices of word lines (integer ID); spaces follow spaCy's converter:
# no space inside a multiword range, the range's SpaceAfter on its last word.
sents, cur, range_end, range_space = [], [], None, True
for i, line in enumerate(lines):
    if line.startswith("#"):
        continue
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) < 10:  # blank line: end of sentence
        if cur:
            sents.append(cur)
        cur = []
        continue
    if "-" in cols[0]:
        range_end, range_space = cols[0].split("-")[1], "SpaceAfter=No" not in cols[9]
    elif "." not in cols[0]:
        if range_end is not None:
            space = range_space if cols[0] == range_end else False
            range_end = None if cols[0] == range_end else range_end
        else:
            space = "SpaceAfter=No" not in cols[9]
        cur.append((i, cols[1], space))
if cur:
    sents.append(cur)

nlp = spacy.load(model_dir)
docs = [Doc(nlp.vocab, words=[w for _, w, _ in s], spaces=[sp for _, _, sp in s]) for s in sents]
start = time.perf_counter()
tagged = list(nlp.pipe(docs, batch_size=batch_size))
seconds = time.perf_counter() - start

for sent, doc in zip(sents, tagged):
    for (i, _, _), tok in zip(sent, doc):
        cols = lines[i].split("\t")
        cols[3], cols[4] = tok.pos_ or "_", tok.tag_ or "_"
        lines[i] = "\t".join(cols)
opener = gzip.open if dst.endswith(".gz") else open
with opener(dst, "wt", encoding="utf-8", newline="") as f:
    f.writelines(lines)
words = sum(len(s) for s in sents)
print(json.dumps({"words": words, "sentences": len(sents), "seconds": seconds,
                  "words_per_s": words / seconds if seconds else None}))
'''


class BenchError(Exception):
    """A failure to report on one line (bad input or a failed spaCy step)."""


def _env(threads: int | None) -> dict:
    """Environment for spaCy subprocesses: thread caps from ``threads`` or OMP_NUM_THREADS."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    n = threads if threads is not None else os.environ.get("OMP_NUM_THREADS")
    if n is not None:
        env.update({var: str(n) for var in THREAD_VARS})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(cmd: list, threads: int | None = None) -> str:
    """Run a command to completion; its stdout, or BenchError with the tail of its output."""
    proc = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(map(str, cmd[:4]))} failed: {' | '.join(tail)}")
    return proc.stdout


def ensure_venv(path: str) -> str:
    """Create a venv with spaCy 3.8 at ``path`` unless it already has one; its python's path."""
    python = os.path.join(path, "bin", "python")
    check = [python, "-c", "import spacy, sys; sys.exit(not spacy.__version__.startswith('3.8.'))"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    _run(["python3", "-m", "venv", path])
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SPACY_REQ])
    _run(check)
    return python


def spacy_version(python: str) -> str:
    return _run([python, "-c", "import spacy; print(spacy.__version__)"]).strip()


def _plain_copy(src: str, dst: str) -> str:
    """Copy a CoNLL-U file to ``dst``, decompressing it if its name ends in .gz."""
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def _complete(model_dir: str) -> bool:
    """Whether a saved pipeline has its config, meta and every component's weights."""
    needed = ["config.cfg", "meta.json"] + [os.path.join(p, "model") for p in PIPES]
    return all(os.path.exists(os.path.join(model_dir, n)) for n in needed)


def _last_row(log: str) -> dict:
    """Epoch and step of the last row of spaCy's training table, if any."""
    last = {}
    for line in log.splitlines():
        cols = line.split()
        if len(cols) > 3 and cols[0].isdigit() and cols[1].isdigit():
            last = {"epoch": int(cols[0]), "steps": int(cols[1])}
    return last


def _train_capped(cmd: list, log_path: str, max_seconds: float, threads: int | None) -> tuple:
    """Run ``spacy train`` for at most ``max_seconds``; (seconds, capped, return code).

    At the cap it gets SIGINT first, so that spaCy's ``finally`` still saves model-last,
    then SIGKILL if it has not exited within 60 s."""
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, env=_env(threads), stdout=log, stderr=subprocess.STDOUT)
        capped = False
        try:
            proc.wait(timeout=max_seconds)
        except subprocess.TimeoutExpired:
            capped = True
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return time.perf_counter() - start, capped, proc.returncode


def train_spacy(python: str, train_conllu: str, dev_conllu: str, workdir: str,
                max_seconds: float, threads: int | None = None) -> dict:
    """Convert train/dev to DocBin (gold words, one doc per sentence), write spaCy's CPU
    efficiency config for tagger+morphologizer and train it from scratch, capped in wall time."""
    data, out = os.path.join(workdir, "data"), os.path.join(workdir, "training")
    os.makedirs(data, exist_ok=True)
    spacy_files = {}
    for name, src in (("train", train_conllu), ("dev", dev_conllu)):
        plain = _plain_copy(src, os.path.join(data, f"{name}.conllu"))
        _run([python, "-m", "spacy", "convert", plain, data, "--converter", "conllu",
              "--n-sents", "1", "--file-type", "spacy"], threads)
        spacy_files[name] = os.path.join(data, f"{name}.spacy")
    config = os.path.join(workdir, "config.cfg")
    _run([python, "-m", "spacy", "init", "config", config, "--lang", "en", "--pipeline",
          "tagger,morphologizer", "--optimize", "efficiency", "--force"], threads)
    cmd = [python, "-m", "spacy", "train", config, "--output", out, "--gpu-id", "-1",
           "--paths.train", spacy_files["train"], "--paths.dev", spacy_files["dev"]]
    log_path = os.path.join(workdir, "train.log")
    seconds, capped, rc = _train_capped(cmd, log_path, max_seconds, threads)
    with open(log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    if rc != 0 and not capped:
        raise BenchError(f"spacy train exited {rc}; see {log_path}")
    model = next((os.path.join(out, d) for d in ("model-best", "model-last")
                  if _complete(os.path.join(out, d))), None)
    if model is None:
        raise BenchError(f"spacy train saved no usable model in {max_seconds}s; see {log_path}")
    with open(os.path.join(model, "meta.json"), encoding="utf-8") as f:
        performance = json.load(f).get("performance", {})
    dev = {k: performance[k] for k in ("tag_acc", "pos_acc", "morph_acc") if k in performance}
    return {"seconds": round(seconds, 1), "capped": capped, "model": model,
            "used_fallback": not model.endswith("model-best"), "dev_scores": dev,
            **_last_row(log), "log": log_path, "config": config}


def tag_spacy(python: str, model_dir: str, test_conllu: str, out_conllu: str,
              threads: int | None = None, batch_size: int = 256) -> dict:
    """Tag ``test_conllu`` on its gold words; write it to ``out_conllu`` with UPOS/XPOS replaced.

    Returns {"words", "sentences", "seconds", "words_per_s"}, timed in one process over
    ``nlp.pipe`` only (pipeline load and Doc construction excluded)."""
    with tempfile.NamedTemporaryFile("w", suffix="_tag_spacy.py", delete=False) as f:
        f.write(TAG_SCRIPT)
    try:
        stdout = _run([python, f.name, model_dir, test_conllu, out_conllu, str(batch_size)], threads)
    finally:
        os.unlink(f.name)
    return json.loads(stdout.strip().splitlines()[-1])


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        print(f"tagger_spacy: error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list | None = None) -> int:
    p = _Parser(prog="tagger_spacy", description=__doc__.split("\n")[0])
    p.add_argument("--venv", required=True, help="spaCy venv, created if missing")
    for name in ("train", "dev", "test"):
        p.add_argument(f"--{name}", required=True, help=f"{name} CoNLL-U (.conllu or .conllu.gz)")
    p.add_argument("--work", required=True, help="work dir for DocBins, config, models, output")
    p.add_argument("--max-seconds", type=float, default=1800, help="wall-clock training cap")
    p.add_argument("--threads", type=int, default=None, help="thread cap (default OMP_NUM_THREADS)")
    args = p.parse_args(argv)
    for name in ("train", "dev", "test"):
        if not os.path.isfile(getattr(args, name)):
            p.error(f"--{name}: no such file: {getattr(args, name)}")
    if args.max_seconds <= 0 or (args.threads is not None and args.threads < 1):
        p.error("--max-seconds must be > 0 and --threads >= 1")
    try:
        os.makedirs(args.work, exist_ok=True)
        python = ensure_venv(args.venv)
        trained = train_spacy(python, args.train, args.dev, args.work, args.max_seconds, args.threads)
        out = os.path.join(args.work, "test.spacy_tagged.conllu")
        tagged = tag_spacy(python, trained["model"], args.test, out, args.threads)
    except (BenchError, OSError) as e:
        print(f"tagger_spacy: error: {e}", file=sys.stderr)
        return 1
    summary = {"system": "spacy", "spacy_version": spacy_version(python), "venv": args.venv,
               "threads": args.threads, "train": trained, "tag": tagged, "output": out}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
