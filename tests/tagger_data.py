"""A toy tagged language written for rnnkit's tests (no treebank text), as CoNLL-U.

Most sentences follow ``DET NOUN VERB ADP DET NOUN .``; in the rest the first word is ``fish``,
a NOUN before ``swim`` and a VERB before ``now``: only the words after it tell, so a tagger must
read right to left to get it right.
"""
from __future__ import annotations

import random

from rnnkit.data.conllu import sentences_from_tokens, with_tags, write_conllu

DETS, NOUNS, VERBS, ADPS = ["the", "a"], ["cat", "dog", "bird", "mat", "log"], ["sat", "ran", "slept"], ["on", "under"]
XPOS = {"DET": "DT", "NOUN": "NN", "VERB": "VBD", "ADP": "IN", "PUNCT": ".", "ADV": "RB"}


def toy_sentences(num: int = 60, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """(tokens, UPOS tags) of ``num`` toy sentences."""
    rng = random.Random(seed)
    out = []
    for i in range(num):
        if i % 3 == 0:
            out.append((["fish", "swim", "."], ["NOUN", "VERB", "PUNCT"]) if rng.random() < 0.5
                       else (["fish", "now", "."], ["VERB", "ADV", "PUNCT"]))
            continue
        words = [rng.choice(DETS), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(ADPS), rng.choice(DETS),
                 rng.choice(NOUNS), "."]
        out.append((words, ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]))
    return out


def write_toy_conllu(path, num: int = 60, seed: int = 0, xpos: bool = True) -> str:
    """Write ``num`` toy sentences as CoNLL-U (with XPOS unless ``xpos`` is False); returns the path."""
    data = toy_sentences(num, seed)
    sentences = sentences_from_tokens([tokens for tokens, _ in data])
    tagged = [with_tags(s, tags, [XPOS[t] for t in tags] if xpos else None) for s, (_, tags) in zip(sentences, data)]
    write_conllu(tagged, str(path))
    return str(path)
