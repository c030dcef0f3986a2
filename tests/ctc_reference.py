"""Brute-force CTC references for tiny cases: every alignment of every frame sequence."""
import itertools
import math
from collections import defaultdict

import numpy as np


def collapse(path, blank):
    out, prev = [], None
    for s in path:
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return tuple(out)


def label_log_probs(lp, blank):
    """{label sequence: log P(labels | x)} summing over all C**T alignments of lp [T, C]."""
    lp = np.asarray(lp, dtype=np.float64)
    T, C = lp.shape
    probs = defaultdict(float)
    for path in itertools.product(range(C), repeat=T):
        probs[collapse(path, blank)] += math.exp(sum(lp[t, s] for t, s in enumerate(path)))
    return {labels: math.log(p) for labels, p in probs.items() if p > 0}


def random_log_probs(seed, T, C, scale=2.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, C)) * scale
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)
