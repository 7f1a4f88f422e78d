"""The studio's HTTP server: the standard library's threaded server, the JSON API of DESIGN §5,
and the page's static files, served only from this package's ``static`` folder.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .validation import MAX_BODY, ApiError, explain_request, parse_body, train_request

STATIC = Path(__file__).resolve().parent / "static"
DRAIN_LIMIT = 4 * MAX_BODY  # an oversized body up to this size is read and dropped before the 413
STATIC_FILES = {"/": "index.html", "/index.html": "index.html"}  # plus every file listed below
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


def static_files() -> dict:
    """URL path → file name for every file directly inside ``static/`` (a fixed allow-list)."""
    files = dict(STATIC_FILES)
    for path in STATIC.iterdir():
        if path.is_file() and not path.name.startswith("."):
            files["/" + path.name] = path.name
    return files


class StudioHandler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`~convnp.studio.session.Studio` held by the server."""

    server_version = "convnp-studio"
    timeout = 60  # seconds a slow client may take per read, so no thread waits forever
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the standard library's name)
        self._answer(self._get)

    def do_POST(self):  # noqa: N802
        self._answer(self._post)

    def _answer(self, route):
        try:
            status, payload = route(urlsplit(self.path))
        except ApiError as error:
            status, payload = error.status, {"error": str(error)}
        except Exception as error:  # a bug must still answer in JSON, and the server keeps serving
            status, payload = 500, {"error": f"internal error: {type(error).__name__}: {error}"}
        if isinstance(payload, tuple):  # a static file: (content type, bytes)
            self._send(status, *payload)
        else:
            self._send(status, "application/json", json.dumps(payload, allow_nan=False).encode())

    def _get(self, url):
        studio = self.server.studio
        if url.path == "/api/model":
            return 200, studio.describe()
        if url.path == "/api/train":
            return 200, studio.training_state()
        if url.path == "/api/sample":
            query = parse_qs(url.query)
            try:
                index = int(query.get("index", ["0"])[0])
            except ValueError:
                raise ApiError(f"index must be an integer, got {query['index'][0]!r}") from None
            return 200, studio.sample(index)
        name = static_files().get(url.path)
        if name is None:
            raise ApiError(f"not found: {url.path}", 404)
        path = STATIC / name
        return 200, (CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(name)[0]
                     or "application/octet-stream", path.read_bytes())

    def _post(self, url):
        studio = self.server.studio
        if url.path not in ("/api/explain", "/api/train"):
            raise ApiError(f"not found: POST {url.path}", 404)
        value = parse_body(self._read_body())
        if url.path == "/api/explain":
            image, target = explain_request(value, studio.input_shape, len(studio.classes))
            return 200, studio.explain(image, target)
        request = train_request(value)
        studio.configure(request["lr"], request["batch_size"])
        if request["action"] == "start":
            studio.start()
        elif request["action"] == "pause":
            studio.pause()
        elif request["action"] == "step":
            studio.pause()
            studio.step()
        return 200, studio.training_state()

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError("a POST needs a Content-Length header with the body's size", 411) from None
        if length < 0:
            raise ApiError(f"invalid Content-Length {length}")
        if length > MAX_BODY:
            self.close_connection = True  # any unread rest must not be parsed as the next request
            if length <= DRAIN_LIMIT:  # let a client that is still sending read the answer
                self._discard(length)
            raise ApiError(f"the body is {length} bytes; the limit is {MAX_BODY} (2 MB)", 413)
        return self.rfile.read(length)

    def _discard(self, count: int) -> None:
        """Read and drop ``count`` bytes of the request body (in 64 kB chunks)."""
        while count > 0:
            chunk = self.rfile.read(min(count, 65536))
            if not chunk:
                return
            count -= len(chunk)

    def _send(self, status, content_type, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the standard library's signature)
        if self.server.verbose:
            sys.stderr.write(f"convnp studio: {self.address_string()} {format % args}\n")


class StudioServer(ThreadingHTTPServer):
    """A threaded HTTP server holding one :class:`Studio`."""

    daemon_threads = True

    def __init__(self, studio, host="127.0.0.1", port=8000, verbose=False):
        super().__init__((host, port), StudioHandler)
        self.studio, self.verbose = studio, verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def handle_error(self, request, client_address):
        """A browser that leaves mid-answer is normal; anything else is reported on one line."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"convnp studio: {type(error).__name__}: {error}\n")

    def start_background(self) -> threading.Thread:
        """Serve in a daemon thread (tests); stop with ``shutdown()`` then ``server_close()``."""
        thread = threading.Thread(target=self.serve_forever, name="convnp-studio-server", daemon=True)
        thread.start()
        return thread

    def server_close(self):
        self.studio.pause()
        super().server_close()
