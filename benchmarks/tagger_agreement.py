"""Do taggers trained apart make the same mistakes? Tags a CoNLL-U file with two or more tagger runs
(trained on the same file) and prints, over the words unseen in training: each run's UPOS accuracy,
how many errors all runs share (and how many with the same wrong tag), and the accuracy of the
runs' averaged UPOS probabilities (an ensemble built after training).

    python benchmarks/tagger_agreement.py runs/ewt runs/ewt-seed2 \
        --data ../shared/data/ud_english_ewt/en_ewt-ud-dev.conllu.gz

If the runs share most of their errors, more runs or an ensemble of them cannot fix those words:
what the training data says about them leads every run to the same answer. Score on dev.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import torch  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.data.conllu import read_conllu  # noqa: E402
from rnnkit.data.tagging import NO_TAG  # noqa: E402
from rnnkit.errors import RnnkitError  # noqa: E402


def upos_probabilities(tagger, sentences: list[list[str]], batch_size: int = 256) -> list[torch.Tensor]:
    """Each sentence's UPOS probabilities [n, U], as ``Tagger.predict`` computes them before the argmax."""
    tagger.model.eval()
    U, out = len(tagger.vocab.upos), []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        probs = tagger.batch_logits(chunk)[..., :U].float().softmax(-1)
        out += [probs[row, :len(s)] for row, s in enumerate(chunk)]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="tagger run folders, all trained on the same file")
    ap.add_argument("--data", required=True, help="CoNLL-U file with gold UPOS (dev)")
    args = ap.parse_args(argv)
    if len(args.runs) < 2:
        sys.exit("tagger_agreement: error: give two or more run folders")
    try:
        taggers = [rnnkit.load(r) for r in args.runs]
        sentences = read_conllu(args.data)
    except RnnkitError as exc:
        sys.exit(f"tagger_agreement: error: {exc}")
    first = taggers[0].vocab
    if any(t.vocab.train_forms != first.train_forms or t.vocab.upos != first.upos for t in taggers[1:]):
        sys.exit("tagger_agreement: error: the runs were not trained on the same file (their vocabularies differ)")
    tokens = [s.tokens for s in sentences]
    probs = [upos_probabilities(t, tokens) for t in taggers]
    unseen = [(n, i, w.upos) for n, s in enumerate(sentences) for i, w in enumerate(s.words)
              if w.upos != NO_TAG and w.form not in first.train_forms]
    if not unseen:
        sys.exit(f"tagger_agreement: error: {args.data} has no tagged words unseen in training")
    tag = first.upos.tokens
    guesses = [[tag[int(p[n][i].argmax())] for n, i, _ in unseen] for p in probs]
    mean = [tag[int(sum(p[n][i] for p in probs).argmax())] for n, i, _ in unseen]
    gold = [g for _, _, g in unseen]
    print(f"{args.data}: {len(unseen)} words unseen in training\n")
    print("| run | UPOS, unseen words | errors |\n|---|---|---|")
    for run, guess in zip(args.runs, guesses):
        errors = sum(y != g for y, g in zip(guess, gold))
        print(f"| {run} | {100 * (1 - errors / len(gold)):.2f}% | {errors} |")
    right = sum(y == g for y, g in zip(mean, gold))
    print(f"| mean probabilities of all {len(taggers)} | {100 * right / len(gold):.2f}% | {len(gold) - right} |")
    wrong_all = [k for k, g in enumerate(gold) if all(guess[k] != g for guess in guesses)]
    same = sum(len({guess[k] for guess in guesses}) == 1 for k in wrong_all)
    print(f"\nwrong in every run: {len(wrong_all)} words; with the same wrong tag in every run: {same}")


if __name__ == "__main__":
    main()
