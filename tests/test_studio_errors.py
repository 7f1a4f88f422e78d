"""convnp studio refuses bad input: malformed or wrong-shaped requests get 400 and a JSON error,
large bodies 413, unknown paths and traversal attempts 404; the CLI binds loopback by default."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from convnp.studio import MAX_BODY, open_studio
from studio_helpers import request, serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    with serving(open_studio()) as running:
        yield running


ROW = [0.0] * 28
BAD_EXPLAIN = [
    (b"{not json", "could not parse"),
    (b"[1, 2]", "JSON object"),
    (b'{"image": [[NaN]]}', "finite"),
    (b"\xff\xfe", "could not parse"),
    ({"target": 1}, 'missing "image"'),
    ({"image": [ROW] * 27}, "(28, 28)"),
    ({"image": [ROW] * 27 + [[0.0] * 27]}, "rectangular"),
    ({"image": [[0.0] * 28 for _ in range(28)], "target": 10}, "class index"),
    ({"image": [[0.0] * 28 for _ in range(28)], "target": True}, "class index"),
    ({"image": [[0.0] * 28 for _ in range(28)], "target": "3"}, "class index"),
    ({"image": [[2.0] * 28 for _ in range(28)]}, "[0, 1]"),
    ({"image": [["a"] * 28 for _ in range(28)]}, "numbers"),
    ({"image": [[0.0] * 28 for _ in range(28)], "colour": 1}, "unknown field"),
]


@pytest.mark.parametrize(("body", "message"), BAD_EXPLAIN)
def test_bad_explain_requests_get_400(server, body, message):
    status, answer = request(server, "POST", "/api/explain", body)
    assert status == 400
    assert message in answer["error"]


@pytest.mark.parametrize(("body", "message"), [
    ({"action": "run"}, '"action"'), ({"lr": -1}, '"lr"'), ({"lr": "fast"}, '"lr"'),
    ({"batch_size": 0}, '"batch_size"'), ({"batch_size": 2.5}, '"batch_size"'),
    (b'{"lr": Infinity}', "finite"),
])
def test_bad_train_requests_get_400(server, body, message):
    status, answer = request(server, "POST", "/api/train", body)
    assert status == 400 and message in answer["error"]
    assert request(server, "GET", "/api/train")[1]["running"] is False  # nothing changed


def test_body_over_two_megabytes_gets_413(server):
    status, answer = request(server, "POST", "/api/explain", b" " * (MAX_BODY + 1))
    assert status == 413 and "2 MB" in answer["error"]


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/%2e%2e/server.py", "/..%2fserver.py", "/static/../server.py",
    "/server.py", "/__init__.py", "//etc/passwd", "/etc/passwd", "/api/nothing", "/index.html/..",
    "/.%2e/.%2e/README.md",
])
def test_unknown_paths_and_traversal_get_404(server, path):
    status, answer = request(server, "GET", path)
    assert status == 404 and "not found" in answer["error"]


def test_post_to_unknown_path_gets_404(server):
    assert request(server, "POST", "/api/model", {})[0] == 404


def test_sample_index_must_be_an_integer(server):
    status, answer = request(server, "GET", "/api/sample?index=../../x")
    assert status == 400 and "integer" in answer["error"]
    status, answer = request(server, "GET", "/api/sample?index=3")
    assert status == 200 and len(answer["image"][0]) == 28 and 0 <= answer["label"] < 10


def test_static_files_come_from_the_package(server):
    status, page = request(server, "GET", "/")
    assert status == 200 and b'<canvas id="draw"' in page
    assert b"http" not in page.replace(b"http-equiv", b"")  # no CDN: everything is local
    for name in ("colors.js", "draw.js", "explore.js", "window.js", "learn.js", "app.js", "studio.css"):
        assert request(server, "GET", "/" + name)[0] == 200


def run_cli(*args):
    """Start ``convnp studio ARGS --no-browser`` in a subprocess (text pipes)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "convnp", "studio", *args, "--no-browser"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return process


def test_cli_prints_its_url_and_serves(tmp_path):
    process = run_cli("--port", "0")
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("convnp studio: http://127.0.0.1:") and line.endswith("/")
        url = line.split(": ", 1)[1]
        with urllib.request.urlopen(url + "api/model", timeout=30) as response:
            assert b'"seed002"' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cli_warns_when_binding_beyond_loopback():
    process = run_cli("--port", "0", "--host", "0.0.0.0")
    try:
        assert process.stdout.readline().startswith("convnp studio: http://0.0.0.0:")
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert "convnp: warning: binding 0.0.0.0" in errors


@pytest.mark.parametrize(("args", "message"), [
    (["no/such/run"], "no model at"), (["--dataset", "nope"], "unknown dataset"),
    (["--port", "70000"], "--port"),
])
def test_cli_errors_are_one_line(args, message):
    process = run_cli(*args)
    out, errors = process.communicate(timeout=60)
    assert process.returncode == 2 and errors.startswith("convnp: error:") and message in errors


def test_a_model_that_does_not_fit_the_data_is_refused(tmp_path):
    import convnp as cn

    model = cn.models.build("seed002", (1, 28, 28), 5)
    with pytest.raises(ValueError, match="5 classes|has 10 classes"):
        open_studio(model, "mnist-sample")
    model = cn.models.build("cifar-small", (3, 32, 32), 10)
    with pytest.raises(ValueError, match="cannot take dataset 'mnist-sample'"):
        open_studio(model, "mnist-sample")


def test_cli_serves_a_run_directory_under_its_name(tmp_path):
    import convnp as cn

    model = cn.models.build("seed002", (1, 28, 28), 10)
    model.metadata = {"dataset": "mnist-sample", "classes": [f"digit {k}" for k in range(10)],
                      "input_shape": [1, 28, 28]}
    (tmp_path / "lesson").mkdir()
    model.save(tmp_path / "lesson" / "model.npz")
    process = run_cli(str(tmp_path / "lesson"), "--port", "0")
    try:
        url = process.stdout.readline().strip().split(": ", 1)[1]
        with urllib.request.urlopen(url + "api/model", timeout=30) as response:
            description = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert description["model"] == "lesson" and description["classes"][3] == "digit 3"


def test_a_huge_announced_body_is_refused_without_reading_it(server):
    status, answer = request(server, "POST", "/api/explain", None, {"Content-Length": str(10**12)})
    assert status == 413 and "limit" in answer["error"]
