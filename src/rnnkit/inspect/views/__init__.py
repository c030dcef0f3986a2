"""The page's views: one small module each, listed in :data:`VIEWS`.

A view declares its form and answers it; the page (``assets/app.js``) draws every view the same
way, so adding one for a new task is a module here with a :class:`View` and one line below::

    VIEW = View(name="tags", title="Tags", tasks=("tagger",), fields=lambda run: [Field("text", ...)],
                answer=lambda run, form: [table(...), tokens(...)])

``answer(run, form)`` gets the :class:`~rnnkit.inspect.server.Inspected` run and the submitted
form (a dict of strings) and returns the blocks to show, or, for a view with ``streams=True``,
an iterator of text pieces sent to the page as they come. Bad form values raise RnnkitError,
whose message the page shows. Blocks (plain dicts, JSON):

    {"type": "stat", "label": ..., "value": ...}              a figure
    {"type": "table", "header": [...], "rows": [[...], ...]}
    {"type": "tokens", "scale": "prob" | "signed", "tokens": [{"text", "value", "title"}, ...]}
    {"type": "image", "src": "data:image/png;base64,..."}
    {"type": "text", "text": ...}                             preformatted
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ...errors import RnnkitError

MAX_TEXT = 20_000  # symbols a text view reads at most
MAX_LENGTH = 20_000  # symbols a sample may ask for


@dataclass(frozen=True)
class Field:
    """One input of a view's form. ``kind``: text, textarea, number, select or file (the page
    sends a file's bytes as base64)."""

    name: str
    label: str
    kind: str = "text"
    default: Any = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class View:
    name: str
    title: str
    tasks: tuple[str, ...]  # the tasks whose runs it serves; () for every task
    fields: Callable[[Any], list[Field]]
    answer: Callable[[Any, dict[str, str]], Any]
    streams: bool = False
    button: str = "Show"

    def describe(self, run: Any) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "streams": self.streams, "button": self.button,
                "fields": [vars(f) | {"options": list(f.options)} for f in self.fields(run)]}


# -- form values --------------------------------------------------------------------------------
def number(form: dict[str, str], name: str, default: float, low: float, high: float, integer: bool = False) -> Any:
    """The form's ``name`` as a number in [low, high] (``default`` when empty)."""
    raw = str(form.get(name, "")).strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise RnnkitError(f"{name} must be {'a whole number' if integer else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:  # NaN and infinities fail it too
        raise RnnkitError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def text(form: dict[str, str], name: str, required: bool = True) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise RnnkitError(f"{name} must be text")
    if required and not value.strip():
        raise RnnkitError(f"give some {name}")
    return value


# -- blocks -------------------------------------------------------------------------------------
def stat(label: str, value: Any) -> dict[str, Any]:
    return {"type": "stat", "label": label, "value": value}


def table(header: list[str], rows: Iterable[list[Any]]) -> dict[str, Any]:
    return {"type": "table", "header": header, "rows": [list(r) for r in rows]}


def tokens(items: list[dict[str, Any]], scale: str) -> dict[str, Any]:
    return {"type": "tokens", "scale": scale, "tokens": items}


def preformatted(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def figure(fig: Any) -> dict[str, Any]:
    """A matplotlib figure as an image block (closed after)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return {"type": "image", "src": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()}


def _views() -> list[View]:
    from . import g2p, language, speech, tagger, training

    return [training.VIEW, language.SAMPLE, language.SURPRISAL, language.CELLS, tagger.VIEW, speech.VIEW, g2p.VIEW]


def views_for(task: str) -> list[View]:
    """The views that serve runs of ``task``, in the page's order."""
    return [v for v in _views() if not v.tasks or task in v.tasks]
