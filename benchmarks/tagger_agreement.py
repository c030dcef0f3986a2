"""Do taggers trained apart make the same mistakes? Tags a CoNLL-U file with two or more tagger runs
(trained on the same file) and prints, over the words unseen in training: each run's UPOS accuracy,
how many errors all runs share (and how many with the same wrong tag), and the accuracy of the
runs' averaged UPOS probabilities (an ensemble built after training).

    python benchmarks/tagger_agreement.py runs/ewt runs/ewt-seed2 \
        --data ../shared/data/ud_english_ewt/en_ewt-ud-dev.conllu.gz

Errors every run shares are ones more runs or an ensemble of them will not fix. Give runs with
different seeds: runs with the same seed see the same initial weights and batches, so they share
errors for that reason alone. Score on dev.
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
from rnnkit.recipes.tagger import Tagger  # noqa: E402


def upos_probabilities(tagger, sentences: list[list[str]], batch_size: int = 256) -> list[torch.Tensor]:
    """Each sentence's UPOS probabilities [n, U], as ``Tagger.predict`` computes them before the argmax."""
    tagger.model.eval()
    U, out = len(tagger.vocab.upos), []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        probs = tagger.batch_logits(chunk)[..., :U].float().softmax(-1)
        out += [probs[row, :len(s)] for row, s in enumerate(chunk)]
    return out


def mean_tags(probs: list[list[torch.Tensor]], where: list[tuple[int, int]], tags: tuple[str, ...]) -> list[str]:
    """The tag of the runs' mean probability at each (sentence, word) of ``where``; ``probs[r][n]``
    is run r's [words, U] for sentence n.

    >>> a, b = [torch.tensor([[0.6, 0.4, 0.0]])], [torch.tensor([[0.0, 0.4, 0.6]])]
    >>> mean_tags([a, b], [(0, 0)], ("X", "Y", "Z"))  # neither run's own choice
    ['Y']
    """
    return [tags[int(sum(p[n][i] for p in probs).argmax())] for n, i in where]


def shared_errors(guesses: list[list[str]], gold: list[str]) -> tuple[int, int]:
    """(words every run gets wrong, those of them with one wrong tag in every run).

    >>> shared_errors([["A", "B", "B", "C"], ["A", "B", "C", "A"]], ["A", "A", "A", "C"])
    (2, 1)
    """
    wrong_all = [k for k, g in enumerate(gold) if all(guess[k] != g for guess in guesses)]
    return len(wrong_all), sum(len({guess[k] for guess in guesses}) == 1 for k in wrong_all)


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
    not_tagger = next((r for r, t in zip(args.runs, taggers) if not isinstance(t, Tagger)), None)
    if not_tagger:
        sys.exit(f"tagger_agreement: error: {not_tagger} is not a tagger run")
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
    where, gold = [(n, i) for n, i, _ in unseen], [g for _, _, g in unseen]
    guesses = [mean_tags([p], where, tag) for p in probs]
    mean = mean_tags(probs, where, tag)
    print(f"{args.data}: {len(unseen)} words unseen in training\n")
    print("| run | UPOS, unseen words | errors |\n|---|---|---|")
    for run, guess in zip(args.runs, guesses):
        errors = sum(y != g for y, g in zip(guess, gold))
        print(f"| {run} | {100 * (1 - errors / len(gold)):.2f}% | {errors} |")
    right = sum(y == g for y, g in zip(mean, gold))
    print(f"| mean probabilities of all {len(taggers)} | {100 * right / len(gold):.2f}% | {len(gold) - right} |")
    wrong_all, same = shared_errors(guesses, gold)
    print(f"\nwrong in every run: {wrong_all} words; with the same wrong tag in every run: {same}")


if __name__ == "__main__":
    main()
