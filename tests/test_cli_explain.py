"""``convnp explain``: writes a GIF and a PNG, prints their paths; bad options exit 2 on one line."""

import numpy as np
import pytest

from helpers import run_cli

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


@pytest.mark.parametrize("name, options, frames", [
    ("conv-forward", ["--size", "4", "--kernel", "3", "--stride", "1", "--padding", "0"], 4),
    ("pool", ["--size", "4", "--channels", "2", "--random", "--max-frames", "2"], 6),
])
def test_explain_writes_gif_and_png(tmp_path, capsys, name, options, frames):
    status, out, err = run_cli(capsys, "explain", name, *options, "--out", tmp_path, "--fps", "8")
    assert status == 0, err
    gif, png = out.split()
    assert gif == str(tmp_path / f"{name}.gif") and png == str(tmp_path / f"{name}.png")
    with Image.open(gif) as animation:
        assert animation.n_frames == frames
        animation.seek(animation.n_frames - 1)
        last = np.asarray(animation.convert("RGB"))
    with Image.open(png) as still:
        assert still.size == last.shape[1::-1]


@pytest.mark.parametrize("argv, message", [
    (["conv-forward", "--size", "4", "--kernel", "7"], "larger than the padded input"),
    (["conv-backward", "--stride", "0"], "stride must be an integer >= 1"),
    (["im2col", "--size", "40"], "MNIST crop"),
    (["pool", "--kernel", "2", "--padding", "2"], "padding"),
    (["training", "--size", "5"], "--size"),
    (["conv-forward", "--fps", "0"], "--fps"),
])
def test_invalid_options_are_one_line_errors(tmp_path, capsys, argv, message):
    status, out, err = run_cli(capsys, "explain", *argv, "--out", tmp_path)
    assert status == 2
    assert err.startswith("convnp: error:") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_unknown_animation_is_a_usage_error(capsys):
    status, _, err = run_cli(capsys, "explain", "nonsense")
    assert status == 2 and "invalid choice" in err
