"""Looking at a learned projection: word vectors out (word2vec text format), nearest neighbours, a 2-D map.

The rows of a language model's embedding matrix P are its words' positions in a low-dimensional
space; training places words used alike near each other (the lecture's figure of countries and
capitals). These functions take the matrix and its words, nothing else.

>>> import torch
>>> words = ["king", "queen", "apple"]
>>> m = torch.tensor([[1.0, 0.1], [0.9, 0.2], [-0.1, 1.0]])
>>> [(w, round(s, 3)) for w, s in neighbours(m, words, "king", 2)]
[('queen', 0.993), ('apple', 0.0)]
>>> pca_2d(m).shape
torch.Size([3, 2])
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from .errors import RnnkitError
from .training.checkpoint import atomic_write_bytes


def write_word2vec(path: str, words: Sequence[str], matrix: torch.Tensor) -> None:
    """Write ``matrix`` [V, D] as word2vec text: a "V D" line, then "word x1 ... xD" per row (atomic).

    Values are written with 9 significant digits, enough to read float32 back exactly.
    """
    if len(words) != matrix.shape[0]:
        raise ValueError(f"{len(words)} words for {matrix.shape[0]} rows")
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        raise RnnkitError(f"word2vec text cannot hold a word with spaces or an empty word: {bad[0]!r}")
    rows = matrix.detach().float().cpu().tolist()
    lines = [f"{len(words)} {matrix.shape[1]}"]
    lines += [w + " " + " ".join(f"{x:.9g}" for x in row) for w, row in zip(words, rows)]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


def read_word2vec(path: str) -> tuple[list[str], torch.Tensor]:
    """(words, matrix [V, D] float32) from a word2vec text file."""
    if not os.path.isfile(path):
        raise RnnkitError(f"file not found: {path}")
    with open(path, encoding="utf-8") as f:
        header = f.readline().split()
        try:
            count, dim = int(header[0]), int(header[1])
        except (IndexError, ValueError):
            raise RnnkitError(f"{path} is not word2vec text: the first line should be 'count dimension'") from None
        words, rows = [], []
        for number, line in enumerate(f, start=2):
            parts = line.rstrip("\n").split(" ")
            if len(parts) != dim + 1:
                raise RnnkitError(f"{path} line {number}: expected a word and {dim} numbers")
            words.append(parts[0])
            rows.append([float(x) for x in parts[1:]])
    if len(words) != count:
        raise RnnkitError(f"{path} says {count} words but holds {len(words)}")
    return words, torch.tensor(rows, dtype=torch.float32).reshape(count, dim)


def neighbours(matrix: torch.Tensor, words: Sequence[str], word: str, count: int = 10) -> list[tuple[str, float]]:
    """The ``count`` words whose rows have the highest cosine similarity to ``word``'s, best first."""
    index = {w: i for i, w in enumerate(words)}
    if word not in index:
        raise RnnkitError(f"{word!r} is not in the model's vocabulary")
    m = torch.nn.functional.normalize(matrix.detach().float(), dim=1)
    sims = m @ m[index[word]]
    sims[index[word]] = -float("inf")
    k = min(count, len(words) - 1)
    values, ids = torch.topk(sims, k)
    return [(words[i], float(v)) for i, v in zip(ids.tolist(), values.tolist())]


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """The projection [N, 2] of ``vectors`` [N, D] on their first two principal components."""
    x = vectors.detach().float()
    x = x - x.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return x @ v[:2].T


def plot_words(path: str, matrix: torch.Tensor, words: Sequence[str], chosen: Sequence[str],
               title: str = "word embeddings, first two principal components") -> None:
    """Draw the ``chosen`` words at their 2-D PCA positions (PCA of those words' rows) into ``path`` (PNG)."""
    index = {w: i for i, w in enumerate(words)}
    missing = [w for w in chosen if w not in index]
    if missing:
        raise RnnkitError(f"not in the model's vocabulary: {', '.join(missing)}")
    if len(set(chosen)) < 3:
        raise RnnkitError("give at least 3 different words to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = pca_2d(matrix[[index[w] for w in chosen]]).tolist()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter([p[0] for p in xy], [p[1] for p in xy], s=12)
    for w, (x, y) in zip(chosen, xy):
        ax.annotate(w, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=9)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
