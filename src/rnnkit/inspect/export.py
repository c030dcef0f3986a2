"""``rnnkit inspect RUN --text FILE --export report.html``: one self-contained HTML file (no
server, no network) with the surprisal view of the text and the cells chosen (or, by default, the
best unit of the last layer for each pattern)."""
from __future__ import annotations

import json
import os
from typing import Any

from ..errors import RnnkitError
from ..training.checkpoint import atomic_write_bytes
from .probe import PATTERNS
from .server import Inspected, asset
from .views import language


def sections(run: Inspected, units: list[tuple[str, int]] | None) -> list[dict[str, Any]]:
    """The report's tabs: Surprisal, then one Cells tab per chosen unit or per pattern."""
    if run.task not in language.SURPRISAL.tasks:
        raise RnnkitError(f"--export reports on language models ({', '.join(language.SURPRISAL.tasks)} runs), "
                          f"not {run.task} runs")
    form = {"text": run.default_text}
    out = [{"title": "Surprisal", "blocks": language.SURPRISAL.answer(run, form)}]
    if units:
        for layer, unit in units:
            blocks = language.cells(run, {**form, "layer": layer, "unit": str(unit)})
            out.append({"title": f"Cells: {layer} unit {unit}", "blocks": blocks})
    else:
        for pattern in PATTERNS:
            blocks = language.cells(run, {**form, "pattern": pattern})
            out.append({"title": f"Cells: {pattern}", "blocks": blocks})
    return out


def parse_units(spec: str | None) -> list[tuple[str, int]] | None:
    """``'layer 2 c:17,layer 1 h:3'`` -> [('layer 2 c', 17), ('layer 1 h', 3)].

    >>> parse_units("layer 2 c:17, layer 1 h:3")
    [('layer 2 c', 17), ('layer 1 h', 3)]
    """
    if not spec:
        return None
    units = []
    for item in spec.split(","):
        layer, _, unit = item.strip().rpartition(":")
        if not layer or not unit.strip().isdigit():
            raise RnnkitError(f"--units takes 'LAYER:UNIT,...' such as 'layer 2 c:17', got {item.strip()!r}")
        units.append((layer.strip(), int(unit)))
    return units


def export_report(run: Inspected, out: str, units: list[tuple[str, int]] | None = None) -> None:
    """Write the report to ``out`` (atomically: a failed export leaves what was there)."""
    if not run.default_text:
        raise RnnkitError("--export needs the text to report on: give --text FILE")
    data = {"run": os.path.abspath(run.run_dir) + f" ({run.task})", "sections": sections(run, units)}
    payload = json.dumps(data).replace("</", "<\\/")  # no "</script>" inside the script
    page = asset("page.html").decode()
    page = page.replace('<link rel="stylesheet" href="/assets/style.css">', f"<style>\n{asset('style.css').decode()}</style>")
    page = page.replace('<script src="/assets/app.js"></script>',
                        f"<script>window.RNNKIT_STATIC = {payload};</script>\n<script>\n{asset('app.js').decode()}</script>")
    atomic_write_bytes(out, page.encode())
    mask = os.umask(0)  # a report is for reading: the permissions a new file gets, not the temporary file's 0600
    os.umask(mask)
    os.chmod(out, 0o666 & ~mask)
