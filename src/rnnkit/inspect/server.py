"""``rnnkit inspect RUN``: a local web page that looks inside a trained model.

The standard library's threading HTTP server, bound to 127.0.0.1 unless told otherwise, serves
the page and its two assets from the package (nothing from a network) and answers one JSON API:

    GET  /api/run                  the run (task, folder) and its views with their forms
    POST /api/view/NAME            a view's form (JSON object of strings) -> {"blocks": [...]}, or
                                   text streamed as it is generated; errors: {"error": message}

Requests are capped (:data:`MAX_BODY` bytes; views cap their text and lengths), one model
computation runs at a time, and no request names a file: the only file read besides the run and
the package's assets is the ``--text`` the user gave on the command line.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from ..errors import RnnkitError
from .views import View, views_for

log = logging.getLogger(__name__)
MAX_BODY = 8_000_000  # bytes of one request (a base64 recording of 5 MB fits)
ASSETS = {"/": ("page.html", "text/html; charset=utf-8"), "/assets/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/assets/style.css": ("style.css", "text/css; charset=utf-8")}


class TooLarge(RnnkitError):
    """A request over :data:`MAX_BODY` (HTTP 413)."""


@dataclass
class Inspected:
    """A run opened for the page: its predictor (``rnnkit.load``) and the text views start with."""

    run_dir: str
    task: str
    predictor: Any
    config: dict[str, Any]
    default_text: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def views(self) -> dict[str, View]:
        return {v.name: v for v in views_for(self.task)}


def open_run(run_dir: str, text_path: str | None = None, device: str = "cpu") -> Inspected:
    """The run folder ``run_dir`` ready to inspect; ``text_path`` the views' starting text."""
    from ..api import load
    from ..recipes import task_of
    from ..training.checkpoint import read_json

    task = task_of(run_dir)
    predictor = load(run_dir, device)
    default = ""
    if text_path is not None:
        try:
            with open(text_path, encoding="utf-8", errors="replace") as f:
                default = f.read(200_000)
        except OSError as exc:
            raise RnnkitError(f"cannot read {text_path}: {exc.strerror}") from None
    return Inspected(run_dir, task, predictor, read_json(os.path.join(run_dir, "config.json"), "run configuration"),
                     default)


def asset(name: str) -> bytes:
    return resources.files("rnnkit.inspect").joinpath("assets", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server_version = "rnnkit-inspect"
    run: Inspected  # set on the subclass made by :func:`make_server`

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def send_body(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, value: Any) -> None:
        self.send_body(status, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        if path in ASSETS:
            name, kind = ASSETS[path]
            return self.send_body(200, asset(name), kind)
        if path == "/api/run":
            run = self.run
            with run.lock:
                views = [v.describe(run) for v in run.views.values()]
            return self.send_json(200, {"run": os.path.abspath(run.run_dir), "task": run.task, "views": views})
        self.send_json(404, {"error": f"nothing at {path}"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        view = self.run.views.get(path[len("/api/view/"):]) if path.startswith("/api/view/") else None
        if view is None:
            return self.send_json(404, {"error": f"no view at {path}"})
        try:
            form = self.read_form()
        except RnnkitError as exc:
            return self.send_json(413 if isinstance(exc, TooLarge) else 400, {"error": str(exc)})
        with self.run.lock:
            try:
                answer = view.answer(self.run, form)
                if view.streams:  # its first piece before the headers: a bad option is still an error reply
                    pieces = iter(answer)
                    return self.stream(next(pieces, ""), pieces)
                return self.send_json(200, {"blocks": answer})
            except RnnkitError as exc:
                return self.send_json(400, {"error": str(exc)})
            except Exception as exc:  # a bug must not take the page down: say what failed
                log.exception("view %s failed", view.name)
                return self.send_json(500, {"error": f"internal error in {view.title}: {type(exc).__name__}: {exc}"})

    def read_form(self) -> dict[str, str]:
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RnnkitError("bad Content-Length") from None
        if size > MAX_BODY:
            raise TooLarge(f"the request has {size:,} bytes; this page takes at most {MAX_BODY:,}")
        try:
            form = json.loads(self.rfile.read(size) or b"{}")
        except ValueError:
            raise RnnkitError("the request is not JSON") from None
        if not isinstance(form, dict) or not all(isinstance(v, str) for v in form.values()):
            raise RnnkitError("the request must be a JSON object of strings")
        return form

    def stream(self, first: str, rest: Any) -> None:
        """Text sent as it is generated, ``first`` then ``rest`` (the connection closes at the
        end); the reader going away stops the generation."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        try:
            for piece in itertools.chain([first], rest):
                if piece:
                    self.wfile.write(piece.encode())
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        except RnnkitError as exc:
            self.wfile.write(f"\n[error: {exc}]".encode())
        self.close_connection = True


def make_server(run: Inspected, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """The page's server for ``run`` on ``host``:``port`` (0: a free port), not yet serving."""
    handler = type("RunHandler", (Handler,), {"run": run})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise RnnkitError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    server.daemon_threads = True
    return server
