"""Downloads from a local HTTP server: verified atomic writes, fallback to the next URL, no leftovers."""

import dataclasses
import gzip
import hashlib
import http.server
import io
import struct
import sys
import threading
import time

import numpy as np
import pytest

import convnp as cn
from convnp.datasets import catalog
from convnp.datasets.download import download_file

COUNTS = {"train": 20, "t10k": 10}


def idx_bytes(array):
    """Serialize a uint8 array as an IDX file (magic 0 0 8 ndim, big-endian uint32 sizes, values)."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def tiny_mnist_files():
    files = {}
    for prefix, count in COUNTS.items():
        images = np.arange(count * 784, dtype=np.int64).reshape(count, 28, 28) % 256
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.arange(count) % 10), mtime=0)
    return files


FILES = tiny_mnist_files()


class Handler(http.server.BaseHTTPRequestHandler):
    """``/good/<f>``: the file; ``/corrupt/<f>``: wrong bytes; ``/truncated/<f>``: Content-Length too
    large, then the connection closes; ``/slow/<f>``: waits before answering; anything else: 404."""

    def do_GET(self):  # http.server's naming
        _, kind, name = self.path.split("/", 2)
        if name not in FILES or kind not in ("good", "corrupt", "truncated", "slow"):
            self.send_error(404)
            return
        body = FILES[name]
        if kind == "slow":
            time.sleep(1.0)
        if kind == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 1])
        declared = len(body) + (1000 if kind == "truncated" else 0)
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out closes the socket under the slow handler: expected


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SHA256 = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
NAME = "t10k-labels-idx1-ubyte.gz"


@pytest.fixture
def tiny_mnist(monkeypatch, server):
    """Point "mnist" at the tiny files; return a function that sets its mirror list."""

    def with_urls(*kinds):
        urls = tuple(f"{server}/{kind}/" for kind in kinds)
        source = dataclasses.replace(catalog.SOURCES["mnist"], sha256=SHA256, raw_sha256={}, counts=COUNTS,
                                     urls=urls)
        monkeypatch.setitem(catalog.SOURCES, "mnist", source)

    return with_urls


def test_download_then_load(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    tiny_mnist("good")
    (x_train, y_train), (x_test, _) = cn.datasets.load("mnist", root=tmp_path, download=True)
    assert x_train.shape == (20, 1, 28, 28) and x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(y_train, np.arange(20) % 10)
    assert sorted(path.name for path in (tmp_path / "mnist").iterdir()) == sorted(FILES)
    assert cn.datasets.status("mnist", root=tmp_path).verified == "ok"


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "missing"])
def test_bad_download_leaves_nothing(server, tmp_path, bad):
    with pytest.raises(cn.datasets.DownloadError) as caught:
        download_file(NAME, tmp_path, [f"{server}/{bad}/"], SHA256[NAME], timeout=5)
    message = str(caught.value)
    assert NAME in message and f"{server}/{bad}/{NAME}" in message
    assert {"corrupt": "SHA-256", "truncated": "truncated", "missing": "404"}[bad] in message
    assert isinstance(caught.value, cn.datasets.DatasetNotFoundError)
    assert list(tmp_path.iterdir()) == []  # neither the final file nor a temporary one


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "missing"])
def test_falls_back_to_the_next_url(server, tmp_path, bad, capsys):
    path = download_file(NAME, tmp_path, [f"{server}/{bad}/", f"{server}/good/"], SHA256[NAME], timeout=5)
    assert path == tmp_path / NAME and path.read_bytes() == FILES[NAME]
    assert list(tmp_path.iterdir()) == [path]


def test_unreachable_and_slow_servers_time_out(server, tmp_path):
    started = time.perf_counter()
    with pytest.raises(cn.datasets.DownloadError, match="timed out"):
        download_file(NAME, tmp_path, [f"{server}/slow/"], SHA256[NAME], timeout=0.2)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(cn.datasets.DownloadError, match="127.0.0.1:9"):
        download_file(NAME, tmp_path, ["http://127.0.0.1:9/"], SHA256[NAME], timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_load_download_fallback_and_failure(tiny_mnist, tmp_path):
    tiny_mnist("truncated", "good")
    (x_train, _), _ = cn.datasets.load("mnist", root=tmp_path / "a", download=True)
    assert x_train.shape == (20, 1, 28, 28)
    tiny_mnist("corrupt")
    with pytest.raises(cn.datasets.DownloadError, match="train-images-idx3-ubyte.gz"):
        cn.datasets.load("mnist", root=tmp_path / "b", download=True)
    assert list((tmp_path / "b" / "mnist").iterdir()) == []


def test_progress_bar_on_a_terminal_does_not_crash(server, tmp_path, monkeypatch):
    class FakeTerminal(io.StringIO):
        def isatty(self):
            return True

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    download_file(NAME, tmp_path, [f"{server}/good/"], SHA256[NAME], timeout=5, progress=True)
    assert (tmp_path / NAME).read_bytes() == FILES[NAME]
    assert NAME in terminal.getvalue()
