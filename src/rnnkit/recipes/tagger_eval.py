"""Scoring a tagger against gold CoNLL-U: accuracies, unseen words, per-tag P/R/F1, confusions, speed.

>>> pairs = [("NOUN", "NOUN"), ("VERB", "NOUN"), ("NOUN", "NOUN"), ("DET", "DET")]
>>> table = per_tag_scores(pairs)
>>> table["NOUN"]["precision"], table["NOUN"]["recall"], table["VERB"]["recall"]
(0.6666666666666666, 1.0, 0.0)
"""
from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any, Collection, Sequence

from ..data.conllu import Sentence
from ..data.tagging import NO_TAG
from ..errors import RnnkitError


def per_tag_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each tag over (gold, predicted) pairs."""
    gold, pred = Counter(g for g, _ in pairs), Counter(p for _, p in pairs)
    hits = Counter(g for g, p in pairs if g == p)
    table = {}
    for tag in sorted(set(gold) | set(pred)):
        precision = hits[tag] / pred[tag] if pred[tag] else 0.0
        recall = hits[tag] / gold[tag] if gold[tag] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[tag] = {"precision": precision, "recall": recall, "f1": f1, "support": gold[tag]}
    return table


def confusion_matrix(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[list[int]]]:
    """(labels, counts) with counts[i][j] the tokens of gold tag i predicted as j."""
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    index = {t: i for i, t in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for g, p in pairs:
        counts[index[g]][index[p]] += 1
    return labels, counts


def plot_confusion(labels: list[str], counts: list[list[int]], path: str, title: str) -> None:
    """The confusion matrix as a PNG, each gold row normalised to 1, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(counts, dtype=float)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = 2 + 0.35 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=100)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".tmp-{os.path.basename(path)}")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _accuracy(pairs: Sequence[tuple[str, str]]) -> float | None:
    return sum(g == p for g, p in pairs) / len(pairs) if pairs else None


def score_tagger(tagger: Any, sentences: Sequence[Sentence], batch_size: int = 256) -> dict[str, Any]:
    """Tag ``sentences`` with ``tagger`` and compare with their gold tags (:func:`score_taggings`),
    timing the tagging: ``tokens_per_s``."""
    start = time.perf_counter()
    taggings = tagger.predict([s.tokens for s in sentences], batch_size=batch_size)
    seconds = time.perf_counter() - start
    result = score_taggings(sentences, taggings, tagger.vocab.train_forms, set(tagger.vocab.upos.tokens))
    return {**result, "tokens_per_s": sum(len(s.words) for s in sentences) / max(seconds, 1e-9)}


def score_taggings(sentences: Sequence[Sentence], taggings: Sequence[Any], train_forms: Collection[str],
                   known_upos: Collection[str] | None = None) -> dict[str, Any]:
    """Compare predicted tags (objects with ``upos`` and ``xpos`` lists, any tagger's) with the gold
    tags of ``sentences``; ``train_forms`` tells which tokens are unseen in training.

    Tokens whose gold tag is ``_`` are not scored. A gold tag outside ``known_upos`` (the tags the
    model was trained on) is scored as an error and counted in ``unknown_gold_upos``.
    """
    upos, xpos, unseen = [], [], []
    for s, t in zip(sentences, taggings):
        for i, word in enumerate(s.words):
            if word.upos != NO_TAG:
                upos.append((word.upos, t.upos[i]))
                if word.form not in train_forms:
                    unseen.append(upos[-1])
            if t.xpos is not None and word.xpos != NO_TAG:
                xpos.append((word.xpos, t.xpos[i]))
    if not upos:
        raise RnnkitError(f"{sentences[0].source}: no UPOS tags to evaluate against (every UPOS column is '_')")
    return {
        "upos_accuracy": _accuracy(upos), "xpos_accuracy": _accuracy(xpos),
        "tokens": len(upos), "xpos_tokens": len(xpos), "sentences": len(sentences),
        "unseen_tokens": len(unseen), "unseen_upos_accuracy": _accuracy(unseen),
        "unknown_gold_upos": dict(Counter(g for g, _ in upos if known_upos is not None and g not in known_upos)),
        "per_tag": per_tag_scores(upos),
        "confusion": dict(zip(("labels", "counts"), confusion_matrix(upos))),
    }


def format_report(result: dict[str, Any]) -> str:
    """The human-readable evaluation: accuracies, unseen words, speed, then a per-tag table."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    lines = [f"UPOS accuracy {pct(result['upos_accuracy'])} over {result['tokens']} tokens "
             f"({result['sentences']} sentences)"]
    if result["xpos_tokens"]:
        lines.append(f"XPOS accuracy {pct(result['xpos_accuracy'])} over {result['xpos_tokens']} tokens")
    lines.append(f"unseen in training: {result['unseen_tokens']} tokens, UPOS accuracy {pct(result['unseen_upos_accuracy'])}")
    if result["unknown_gold_upos"]:
        tags = ", ".join(f"{t} ({n})" for t, n in sorted(result["unknown_gold_upos"].items()))
        lines.append(f"gold tags the model never saw (scored as errors): {tags}")
    lines.append(f"speed: {result['tokens_per_s']:.0f} tokens/s")
    lines.append(f"{'tag':<8} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}")
    for tag, s in result["per_tag"].items():
        lines.append(f"{tag:<8} {s['precision']:>9.4f} {s['recall']:>7.4f} {s['f1']:>7.4f} {s['support']:>8}")
    if result.get("confusion_png"):
        lines.append(f"confusion matrix: {result['confusion_png']}")
    return "\n".join(lines)
