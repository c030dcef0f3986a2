"""CTC decoding speed and quality: rnnkit against pyctcdecode 0.5.0 and flashlight-text 0.0.7.

A script, not a test. 100 utterances x 200 frames x 30 symbols (blank, the word separator "|",
a-z, "'" and "-"), beam 32, two kinds of made-up log-probabilities from one seeded noise:

* peaky: ``log_softmax(noise * 5, blank + 3)``, like a trained CTC model (blank dominates);
* flat:  ``log_softmax(noise)``, the worst case for pruning (every symbol is plausible).

Every decoder gets identical float32 inputs. Quality is the exact log P(best output | x),
summed over all alignments (``torch.nn.functional.ctc_loss``), of each decoder's best output,
so searches that rank by different internal scores are compared on one scale.

Outputs are compared as text: pyctcdecode returns words joined by single spaces, so it can never
output a leading, trailing or doubled separator. Every decoder's best output is normalised the
same way (separators stripped at both ends, runs of them merged) before it is scored; the table
says how many of each decoder's outputs that changed.

The competitors live in the benchmark's own environment, never in rnnkit's::

    python3 -m venv /tmp/ctcbench
    /tmp/ctcbench/bin/pip install torch==2.13.0      # first and alone: the CPU build on local disk
    /tmp/ctcbench/bin/pip install "numpy<2" pyctcdecode==0.5.0 flashlight-text==0.0.7 safetensors
    /tmp/ctcbench/bin/pip install -e . --no-deps     # this checkout
    /tmp/ctcbench/bin/python benchmarks/ctc_decode.py

``python3 benchmarks/ctc_decode.py --venv /tmp/ctcbench`` does the same (it builds the
environment if it is missing, then runs itself there). A competitor that cannot be imported
is reported in the table instead of failing the run.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["_", "|"] + [chr(ord("a") + i) for i in range(26)] + ["'", "-"]
BLANK, SEP = 0, 1


def ensure_venv(venv: Path, argv: list[str]) -> None:
    """Build the benchmark environment if missing, then re-run this script with its Python."""
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "torch==2.13.0"],
                 [str(python), "-m", "pip", "install", "-q", "numpy<2", "pyctcdecode==0.5.0", "flashlight-text==0.0.7",
                  "safetensors"],
                 [str(python), "-m", "pip", "install", "-q", "-e", str(ROOT), "--no-deps"]]
        for step in steps:
            print("+", " ".join(step), file=sys.stderr)
            subprocess.run(step, check=True)
    os.execv(str(python), [str(python), __file__, *argv])


def make_inputs(num_utterances: int, frames: int, symbols: int, seed: int) -> dict:
    import torch
    noise = torch.randn(num_utterances, frames, symbols, generator=torch.Generator().manual_seed(seed))
    peaky = noise * 5
    peaky[..., BLANK] += 3
    return {"peaky": torch.log_softmax(peaky, -1).numpy(), "flat": torch.log_softmax(noise, -1).numpy()}


def make_words(num_words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    letters = LABELS[2:28]
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(2, 8))) for _ in range(num_words)}
    return sorted(words)


def exact_scores(lp, outputs: list[tuple[int, ...]]) -> list[float]:
    """log P(output | x) of each utterance's output, summed over all CTC alignments."""
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(lp).double().transpose(0, 1)                       # [T, B, C]
    lengths = torch.tensor([len(o) for o in outputs])
    targets = torch.zeros(len(outputs), max(1, int(lengths.max())), dtype=torch.long)
    for b, o in enumerate(outputs):
        targets[b, :len(o)] = torch.tensor(o, dtype=torch.long)
    nll = F.ctc_loss(x, targets, torch.full((len(outputs),), x.shape[0]), lengths, blank=BLANK, reduction="none")
    return (-nll).tolist()


def normalise(tokens) -> tuple[int, ...]:
    """Word-level text as pyctcdecode writes it: no separator at either end, never two in a row.

    >>> normalise((1, 5, 1, 1, 6, 1))
    (5, 1, 6)
    """
    out: list[int] = []
    for t in tokens:
        if t == SEP and (not out or out[-1] == SEP):
            continue
        out.append(int(t))
    while out and out[-1] == SEP:
        out.pop()
    return tuple(out)


def collapse(path) -> tuple[int, ...]:
    out, prev = [], None
    for s in path:
        if s != prev and s != BLANK:
            out.append(int(s))
        prev = s
    return tuple(out)


# -- decoders: each takes [B, T, C] float32 and returns (seconds, best outputs as label tuples) ----
def rnnkit_beam(lp, beam):
    from rnnkit.decoding.beam import prefix_beam_search
    start = time.perf_counter()
    hyps = prefix_beam_search(lp, blank=BLANK, beam_size=beam)
    return time.perf_counter() - start, [h[0].tokens for h in hyps]


def rnnkit_beam_single(lp, beam):
    """The same search called once per utterance, as the competitors are."""
    from rnnkit.decoding.beam import prefix_beam_search
    start = time.perf_counter()
    hyps = [prefix_beam_search(u[None], blank=BLANK, beam_size=beam)[0] for u in lp]
    return time.perf_counter() - start, [h[0].tokens for h in hyps]


def rnnkit_lexicon(lp, beam, words):
    from rnnkit.data.vocab import Vocabulary
    from rnnkit.decoding.lexicon import Lexicon, lexicon_beam_search
    lexicon = Lexicon.build(words, Vocabulary(tokens=tuple(LABELS), unk=None, blank="_"))
    start = time.perf_counter()
    hyps = lexicon_beam_search(lp, lexicon=lexicon, blank=BLANK, beam_size=beam, word_separator=SEP,
                               optional_separator=True)
    return time.perf_counter() - start, [h[0].tokens if h else () for h in hyps]


def make_word_lm(words: list[str], seed: int):
    """A word bigram (rnnkit's Kneser-Ney NgramLM) fitted on 3,000 seeded sentences of 3-10 words
    drawn with Zipf-like frequencies from the lexicon: the LM both lexicon searches fuse."""
    from rnnkit.data.vocab import Vocabulary
    from rnnkit.decoding.ngram import NgramLM
    rng = random.Random(seed + 1)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    sentences = [rng.choices(words, weights, k=rng.randint(3, 10)) for _ in range(3000)]
    return NgramLM.fit(sentences, Vocabulary(tokens=tuple(words), unk=None, kind="token"), order=2)


def rnnkit_lexicon_lm(lp, beam, words, lm, weight):
    from rnnkit.data.vocab import Vocabulary
    from rnnkit.decoding.lexicon import Lexicon, lexicon_beam_search
    lexicon = Lexicon.build(words, Vocabulary(tokens=tuple(LABELS), unk=None, blank="_"))
    start = time.perf_counter()
    hyps = lexicon_beam_search(lp, lexicon=lexicon, blank=BLANK, beam_size=beam, word_separator=SEP,
                               optional_separator=True, lm=lm, lm_weight=weight,
                               lm_ids=[lm.vocab.index(w) for w in words])
    seconds = time.perf_counter() - start
    return seconds, [h[0].tokens if h else () for h in hyps], [[lm.vocab.index(w) for w in h[0].words] if h else []
                                                               for h in hyps]


def flashlight_lexicon_lm(lp, beam, words, lm, weight):
    """flashlight-text's lexicon decoder with the same bigram, through its Python LM interface."""
    from flashlight.lib.text.decoder import (LM, CriterionType, LexiconDecoder, LexiconDecoderOptions, LMState,
                                             SmearingMode, Trie)
    ids = [lm.vocab.index(w) for w in words]

    class Bigram(LM):
        def __init__(self):
            LM.__init__(self)
            self.context = {}

        def start(self, start_with_nothing):
            state = LMState()
            self.context[state] = ()
            return state

        def score(self, state, word):
            child = state.child(word)
            self.context.setdefault(child, (ids[word],))
            return child, lm.log_prob(self.context[state], ids[word])

        def finish(self, state):
            return state, 0.0

    B, T, C = lp.shape
    fl_lm = Bigram()
    trie = Trie(C, SEP)
    first = fl_lm.start(False)
    for w, word in enumerate(words):
        trie.insert([LABELS.index(c) for c in word], w, fl_lm.score(first, w)[1])
    trie.smear(SmearingMode.MAX)
    options = LexiconDecoderOptions(beam_size=beam, beam_size_token=C, beam_threshold=50.0, lm_weight=weight,
                                    word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=True,
                                    criterion_type=CriterionType.CTC)
    decoder = LexiconDecoder(options, trie, fl_lm, SEP, BLANK, len(words), [], False)
    start = time.perf_counter()
    results = [decoder.decode(u.ctypes.data, T, C)[0] for u in lp]
    seconds = time.perf_counter() - start
    return seconds, [_flashlight_tokens(r, T) for r in results], [[ids[w] for w in r.words if w >= 0] for r in results]


def lm_objective(lp, outputs, word_ids, lm, weight) -> list[float]:
    """What both LM searches maximise: exact log P(output | x) + weight * log P_LM(words)."""
    acoustic = exact_scores(lp, outputs)
    return [a + weight * sum(lm.log_prob(w[:k], w[k]) for k in range(len(w))) for a, w in zip(acoustic, word_ids)]


def pyctcdecode_beam(lp, beam):
    import logging
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    from pyctcdecode import build_ctcdecoder
    labels = ["", " "] + LABELS[2:]
    decoder = build_ctcdecoder(labels)
    index = {c: i for i, c in enumerate(labels) if c}
    start = time.perf_counter()
    texts = [decoder.decode_beams(u, beam_width=beam)[0][0] for u in lp]
    return time.perf_counter() - start, [tuple(index[c] for c in text) for text in texts]


def _flashlight_tokens(result, T: int) -> tuple[int, ...]:
    path = list(result.tokens)
    if len(path) == T + 2:  # flashlight pads the path with a silence frame at each end
        path = path[1:-1]
    return collapse(path)


def flashlight_beam(lp, beam):
    from flashlight.lib.text.decoder import CriterionType, LexiconFreeDecoder, LexiconFreeDecoderOptions, ZeroLM
    B, T, C = lp.shape
    options = LexiconFreeDecoderOptions(beam_size=beam, beam_size_token=C, beam_threshold=50.0, lm_weight=0.0,
                                        sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
    decoder = LexiconFreeDecoder(options, ZeroLM(), SEP, BLANK, [])
    start = time.perf_counter()
    results = [decoder.decode(u.ctypes.data, T, C)[0] for u in lp]
    return time.perf_counter() - start, [_flashlight_tokens(r, T) for r in results]


def flashlight_lexicon(lp, beam, words):
    from flashlight.lib.text.decoder import (CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode,
                                             Trie, ZeroLM)
    B, T, C = lp.shape
    lm = ZeroLM()
    trie = Trie(C, SEP)
    state = lm.start(False)
    for w, word in enumerate(words):
        trie.insert([LABELS.index(c) for c in word], w, lm.score(state, w)[1])
    trie.smear(SmearingMode.MAX)
    options = LexiconDecoderOptions(beam_size=beam, beam_size_token=C, beam_threshold=50.0, lm_weight=0.0,
                                    word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=True,
                                    criterion_type=CriterionType.CTC)
    decoder = LexiconDecoder(options, trie, lm, SEP, BLANK, len(words), [], False)
    start = time.perf_counter()
    results = [decoder.decode(u.ctypes.data, T, C)[0] for u in lp]
    return time.perf_counter() - start, [_flashlight_tokens(r, T) for r in results]


def run(args) -> list[dict]:
    import numpy as np
    import torch
    torch.set_num_threads(1)  # the competitors decode on one core; so does rnnkit here
    inputs = make_inputs(args.utterances, args.frames, args.symbols, args.seed)
    words = make_words(args.words, args.seed)
    decoders = [("rnnkit prefix beam (batch)", "beam", lambda lp: rnnkit_beam(lp, args.beam)),
                ("rnnkit prefix beam (1 utt/call)", "beam", lambda lp: rnnkit_beam_single(lp, args.beam)),
                ("pyctcdecode 0.5.0", "beam", lambda lp: pyctcdecode_beam(lp, args.beam)),
                ("flashlight-text 0.0.7", "beam", lambda lp: flashlight_beam(lp, args.beam)),
                ("rnnkit lexicon", "lexicon", lambda lp: rnnkit_lexicon(lp, args.beam, words)),
                ("flashlight-text 0.0.7", "lexicon", lambda lp: flashlight_lexicon(lp, args.beam, words))]
    word_lm = make_word_lm(words, args.seed)
    decoders += [("rnnkit lexicon + word bigram", "lexicon+LM",
                  lambda lp: rnnkit_lexicon_lm(lp, args.beam, words, word_lm, args.lm_weight)),
                 ("flashlight-text 0.0.7 + word bigram", "lexicon+LM",
                  lambda lp: flashlight_lexicon_lm(lp, args.beam, words, word_lm, args.lm_weight))]
    rows = []
    for kind, lp in inputs.items():
        lp = np.ascontiguousarray(lp, dtype=np.float32)
        for name, search, decode in decoders:
            row = {"decoder": name, "search": search, "input": kind}
            try:
                decode(lp[:2])  # warm-up: imports, trie building, caches
                seconds, outputs, *word_ids = decode(lp)
            except ImportError as exc:
                row["error"] = f"not installed ({exc.name or exc})"
            except Exception as exc:  # a competitor failing must not stop the others
                row["error"] = f"failed: {type(exc).__name__}: {exc}"
            else:
                same = [normalise(o) for o in outputs]
                scores = (lm_objective(lp, same, word_ids[0], word_lm, args.lm_weight) if word_ids
                          else exact_scores(lp, same))
                row.update(seconds=seconds, scores=scores, outputs=same,
                           normalised=sum(a != tuple(b) for a, b in zip(same, outputs)))
            rows.append(row)
            print(f"{name:36s} {search:10s} {kind:6s} " + (f"{row['seconds']:.2f}s" if "seconds" in row
                                                             else row["error"]), file=sys.stderr)
    return rows


def table(rows: list[dict], args) -> str:
    import numpy as np
    ref = {(r["search"], r["input"]): r for r in rows if r["decoder"].startswith("pyctcdecode") and "seconds" in r}
    fl = {(r["search"], r["input"]): r for r in rows if r["decoder"].startswith("flashlight") and "seconds" in r}
    lines = ["| decoder | search | input | time (s) | utt/s | outputs normalised | mean log P(best) (+ LM) | "
             "vs pyctcdecode: speed-up, P(best) >= on | vs flashlight-text: speed, P(best) >= on |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        if "seconds" not in r:
            lines.append(f"| {r['decoder']} | {r['search']} | {r['input']} | {r['error']} | | | | | |")
            continue
        key, scores = (r["search"], r["input"]), np.array(r["scores"])
        vs_py = vs_fl = ""
        if key in ref and ref[key] is not r:
            better = int((scores >= np.array(ref[key]["scores"]) - 1e-4).sum())
            vs_py = f"{ref[key]['seconds'] / r['seconds']:.1f}x, {better}/{len(scores)}"
        if key in fl and fl[key] is not r:
            better = int((scores >= np.array(fl[key]["scores"]) - 1e-4).sum())
            ratio = r["seconds"] / fl[key]["seconds"]
            vs_fl = (f"{ratio:.1f}x slower" if ratio >= 1 else f"{1 / ratio:.1f}x faster") + f", {better}/{len(scores)}"
        lines.append(f"| {r['decoder']} | {r['search']} | {r['input']} | {r['seconds']:.2f} | "
                     f"{len(scores) / r['seconds']:.0f} | {r['normalised']} | {scores.mean():.2f} | {vs_py} | {vs_fl} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--symbols", type=int, default=30, choices=[30])
    parser.add_argument("--beam", type=int, default=32)
    parser.add_argument("--words", type=int, default=2000, help="random lexicon words (a-z, 2-8 letters)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm-weight", type=float, default=0.5, help="weight of the word bigram in the LM rows")
    parser.add_argument("--venv", type=Path, help="run inside this environment (built if missing)")
    args = parser.parse_args(argv)
    if args.venv is not None:
        ensure_venv(args.venv, [a for i, a in enumerate(argv) if a != "--venv" and argv[i - 1] != "--venv"
                                and not a.startswith("--venv=")])
    rows = run(args)
    print(table(rows, args))
    print()
    print(f"Reproduce: {Path(sys.executable)} benchmarks/ctc_decode.py --utterances {args.utterances} "
          f"--frames {args.frames} --beam {args.beam} --words {args.words} --seed {args.seed}")
    print(f"Settings: rnnkit token_threshold=10 (nats below the frame's best); pyctcdecode defaults "
          f"(token_min_logp=-5, beam_prune_logp=-10); flashlight-text beam_size_token={args.symbols}, "
          f"beam_threshold=50, log_add=True, ZeroLM. Lexicon: {len(make_words(args.words, args.seed))} random words; "
          f"'|' between words is optional in both (flashlight-text also allows it before the first and after the last word). "
          f"LM rows: the same word bigram (rnnkit NgramLM on 3,000 seeded Zipf sentences), weight {args.lm_weight}, no word "
          f"score; flashlight-text calls it through its Python LM interface (with unigram smearing of the trie); their "
          f"column is exact log P(output | x) + weight * log P_LM(the decoder's words).")


if __name__ == "__main__":
    main()
