"""`mocar web serve`: serves a built web site locally, cross-origin isolated, and receives benchmark rows.

Every response carries ``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp`` (without them a browser gives onnxruntime-web no
SharedArrayBuffer, hence one thread) and ``Cache-Control: no-cache`` (the service worker, not the HTTP
cache, keeps the offline copy, and a rebuilt site must reach it). ``.mjs``, ``.wasm``, ``.onnx``,
``.json`` and ``.webmanifest`` get their proper MIME types (a module script or
``WebAssembly.instantiateStreaming`` refuses a wrong one).

``POST /bench_rows`` takes the benchmark page's JSON (an import file, docs/bench_rows.md), validates it
with :func:`mocar.bench.rows.parse_imported_rows` and stores it as ``SITE/bench_rows/<time>-<device>.json``,
ready for ``mocar bench --import``. An invalid file is refused with the validator's message (HTTP 400).

This is a local server (default 127.0.0.1): service workers and the camera need a secure context, which
browsers grant to ``localhost`` — a phone reaches it over USB with ``adb reverse tcp:PORT tcp:PORT``. For
other devices, put the site on an HTTPS static host (which receives no rows: download them instead).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mocar.bench.rows import decode_json_bytes, parse_imported_rows
from mocar.errors import InputError
from mocar.mobile.web_layout import ROWS_FOLDER, SITE_FILE
from mocar.utils.io import atomic_write_text

ROWS_PATH = "/bench_rows"
MAX_ROWS_BYTES = 1_000_000  # a benchmark of a few files is a few kB; refuse anything absurd
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-cache"}
MIME_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
              ".onnx": "application/octet-stream", ".json": "application/json",
              ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml", ".bin": "application/octet-stream"}


def save_rows(site: Path, body: bytes) -> Path:
    """Validates posted benchmark rows and stores them under ``SITE/bench_rows/``; returns the file.

    Raises:
        InputError: If the body is not a valid import file (the validator's message, naming the row and field).
    """
    where = f"POST {ROWS_PATH}"
    data = decode_json_bytes(body, where)
    rows = parse_imported_rows(data, where)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    device = re.sub(r"[^A-Za-z0-9]+", "_", str(rows[0]["device"])).strip("_")[:60] or "device"
    target = Path(site) / ROWS_FOLDER / f"{stamp}-{device}.json"
    atomic_write_text(target, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return target


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files with isolation headers and MIME types; ``POST /bench_rows`` stores benchmark rows."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def _reply_json(self, status: HTTPStatus, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # the name http.server dispatches to
        if self.path.split("?")[0] != ROWS_PATH:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: only {ROWS_PATH} takes POST"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": "Content-Length is not a number"})
            return
        if not 0 < length <= MAX_ROWS_BYTES:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": f"body of {length} bytes; expected 1..{MAX_ROWS_BYTES}"})
            return
        try:
            saved = save_rows(Path(self.directory), self.rfile.read(length))
        except InputError as err:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self.log_message("benchmark rows saved to %s", saved)
        self._reply_json(HTTPStatus.OK, {"saved": str(saved.relative_to(self.directory))})


def make_server(site: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server for a built site (port 0: a free port, see ``server.server_port``); call serve_forever().

    Raises:
        InputError: If ``site`` is not a site written by ``mocar web build``.
    """
    site = Path(site).resolve()
    if not (site / SITE_FILE).is_file():
        raise InputError(f"{site}: no {SITE_FILE}; build the site first (`mocar web build --export DIR --out {site}`)")
    handler = functools.partial(SiteHandler, directory=str(site))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as err:  # a busy port or an unknown host: say which, not a traceback
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}; pick another --port "
                         "(0: a free one) or --host") from err


@contextlib.contextmanager
def serving(site: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves a site from a background thread while the block runs; yields its base URL (``http://host:port/``).

    For tests and benchmarks: leaving the block stops the server, so a page reloaded afterwards shows
    whether the app works offline.
    """
    server = make_server(site, host, port)
    thread = threading.Thread(target=server.serve_forever, name="mocar-web-serve", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
