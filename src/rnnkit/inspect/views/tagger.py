"""Tags: a tagger run's UPOS (and XPOS) for each token of the sentences typed, with probabilities."""
from __future__ import annotations

from typing import Any

from ...errors import RnnkitError
from . import MAX_TEXT, Field, View, table, text, tokens


def answer(run: Any, form: dict[str, str]) -> list[dict[str, Any]]:
    sentences = [line.split() for line in text(form, "text").splitlines() if line.split()]
    if sum(map(len, sentences)) > MAX_TEXT:
        raise RnnkitError(f"this page tags at most {MAX_TEXT:,} tokens at once")
    blocks: list[dict[str, Any]] = []
    rows = []
    for n, t in enumerate(run.predictor.predict(sentences), 1):
        items = []
        for i, (word, tag, p) in enumerate(zip(t.tokens, t.upos, t.upos_prob)):
            xpos = f" / {t.xpos[i]} {t.xpos_prob[i]:.3f}" if t.xpos else ""
            items.append({"text": f"{word}/{tag} ", "value": p, "title": f"{word}: {tag} {p:.3f}{xpos}"})
            rows.append([n, word, tag, f"{p:.3f}"] + ([t.xpos[i], f"{t.xpos_prob[i]:.3f}"] if t.xpos else []))
        items[-1]["text"] += "\n"
        blocks.extend(items)
    header = ["sentence", "token", "UPOS", "p"] + (["XPOS", "p"] if rows and len(rows[0]) > 4 else [])
    return [tokens(blocks, "prob"), table(header, rows)]


VIEW = View(name="tags", title="Tags", tasks=("tagger",),
            fields=lambda run: [Field("text", "Sentences (one a line, tokens separated by spaces)", "textarea",
                                      run.default_text or "I saw her duck .")],
            answer=answer, button="Tag")
