"""Folk tunes from a character LM: the share of sampled tunes that are valid ABC, beside the same
share of real held-out tunes, checked by rnnkit and by abcMIDI's abc2midi.

    rnnkit train charlm --corpus ../shared/data/nottingham_abc/ABC_cleaned --documents '^X:' \\
        --valid-fraction 0.1 --test-fraction 0.1 --out runs/tunes --time-budget 900
    python benchmarks/abc_tunes.py --run runs/tunes --samples 100 [--temperature 1.0]

Samples: ``rnnkit.load(run).sample_many(N, "X:", end_of_document=True)`` (the command line's
``rnnkit sample RUN --prime 'X:' --stop --num-samples N``), one seed. A sample that has not ended
its document within ``--length`` characters counts as invalid. Reference: the run's own test
tunes (its seeded split by tune; the model never trained or chose on them).

Two verdicts per tune:

* **rnnkit**: :func:`rnnkit.data.abc.check_tune`: it reads as ABC and every bar lasts what the
  meter (``M:``) and note length (``L:``) say, short bars only next to a section boundary.
* **abc2midi** (abcMIDI, ``apt-get install abcmidi``): the reference ABC implementation parses
  it with no "Error" line and writes a MIDI file. Chosen over music21, whose ABC reader accepts
  much malformed input silently; abc2midi names every line it cannot read. (Its own bar-length
  warnings are not used: it counts first and second endings as one bar.)

A tune is valid when both say so. ``bars``: the mean number of bars rnnkit read per tune.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import rnnkit  # noqa: E402
from rnnkit.data.abc import check_tune  # noqa: E402
from rnnkit.recipes.charlm_cli import held_out_documents  # noqa: E402


def abc2midi_ok(tune: str) -> bool:
    """abc2midi reads the tune without an Error line and writes a non-empty MIDI file."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "t.abc"), os.path.join(tmp, "t.mid")
        with open(src, "w", encoding="utf-8") as f:
            f.write(tune if tune.endswith("\n") else tune + "\n")
        try:
            proc = subprocess.run(["abc2midi", src, "-o", out], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if re.match(r"\s*Error", line)]
        return proc.returncode == 0 and not errors and os.path.exists(out) and os.path.getsize(out) > 0


def verdicts(tunes: list[str | None]) -> dict[str, float]:
    """Shares of ``tunes`` (None: a sample that never ended) valid by each check and by both."""
    ours = [t is not None and check_tune(t).valid for t in tunes]
    theirs = [t is not None and abc2midi_ok(t) for t in tunes]
    n, ended = len(tunes), [t for t in tunes if t is not None]
    return {"tunes": n, "ended": len(ended) / n, "rnnkit": sum(ours) / n,
            "abc2midi": sum(theirs) / n, "both": sum(a and b for a, b in zip(ours, theirs)) / n,
            "bars": sum(check_tune(t).bars for t in ended) / max(len(ended), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a charlm run trained with --documents '^X:'")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--length", type=int, default=3000, help="characters a sample may take to end its tune")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--show", type=int, default=1, help="print this many valid samples")
    args = p.parse_args()
    if shutil.which("abc2midi") is None:
        sys.exit("abc_tunes: error: abc2midi is not installed (apt-get install abcmidi)")
    lm = rnnkit.load(args.run)
    start = time.perf_counter()
    texts = lm.sample_many(args.samples, "X:", args.length, temperature=args.temperature, seed=args.seed,
                           end_of_document=True)
    seconds = time.perf_counter() - start
    # a sample that ended its document is shorter than --length (the end mark was cut off)
    samples = [("X:" + t) if len(t) < args.length else None for t in texts]
    real = held_out_documents(lm, "test")
    rows = {f"sampled (T={args.temperature:g})": verdicts(samples), "real test tunes": verdicts(real)}
    print(f"run {args.run} (step {lm.step}); {args.samples} samples in {seconds:.0f} s, seed {args.seed}\n")
    print(f"{'tunes':<22} {'n':>5} {'ended':>7} {'rnnkit':>8} {'abc2midi':>9} {'both':>7} {'bars':>6}")
    for name, r in rows.items():
        print(f"{name:<22} {r['tunes']:>5} {100 * r['ended']:>6.0f}% {100 * r['rnnkit']:>7.0f}% "
              f"{100 * r['abc2midi']:>8.0f}% {100 * r['both']:>6.0f}% {r['bars']:>6.1f}")
    shown = [t for t in samples if t is not None and check_tune(t).valid and abc2midi_ok(t)][:args.show]
    for t in shown:
        print("\n" + t)


if __name__ == "__main__":
    main()
