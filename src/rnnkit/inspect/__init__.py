"""``rnnkit inspect``: look inside a trained model on a local web page, or in a static report.

    probe.py    surprisal, every unit's activations, text patterns and the units that follow them
    views/      the page's views, one small module each (training, sample, surprisal, cells, tags, speech)
    server.py   the standard library's HTTP server: the page, its assets and the views' JSON API
    export.py   one self-contained HTML file of the surprisal and cells views
    assets/     page.html, app.js, style.css: the page, served from the package (no network)
"""
from __future__ import annotations

import argparse
import sys

from ..errors import RnnkitError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (any task)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--text", default=None, help="a text file the views start with (and --export reports on)")
    p.add_argument("--export", default=None, metavar="HTML", help="write a self-contained report of --text instead "
                   "of serving (language-model runs)")
    p.add_argument("--units", default=None, help="--export: the cells to show, 'LAYER:UNIT,...' (e.g. 'layer 2 c:17'; "
                   "default: the best unit of the last layer for each pattern)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")


def run_from_args(args: argparse.Namespace) -> None:
    from .export import export_report, parse_units
    from .server import make_server, open_run

    units = parse_units(args.units)
    if args.units and not args.export:
        raise RnnkitError("--units chooses the cells of an --export report")
    if not 0 <= args.port <= 65535:
        raise RnnkitError(f"--port must be between 0 and 65535, got {args.port}")
    run = open_run(args.run, args.text, args.device)
    if args.export:
        export_report(run, args.export, units)
        print(args.export)
        return
    server = make_server(run, args.host, args.port)
    host, port = server.server_address[:2]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rnnkit: warning: listening on {args.host}: anyone who can reach it can use the model", file=sys.stderr)
    print(f"rnnkit inspect: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()

