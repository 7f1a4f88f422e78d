"""Plots: written, non-empty, titled; the core imports and explains itself without matplotlib."""

import subprocess
import sys

import numpy as np
import pytest

import convnp as cn
import convnp.viz as viz
from convnp.cli import main

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


def small_model(in_channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return cn.Sequential(cn.Conv2d(in_channels, 4, 3, rng=rng), cn.ReLU(), cn.MaxPool2d(2), cn.Flatten(),
                         cn.Linear(4 * 3 * 3, 3, rng=rng))


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 50
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, "the picture is blank"


@pytest.mark.parametrize("in_channels, layout", [(1, "one panel per filter"), (3, "RGB"),
                                                 (2, "rows: filters, columns: input channels")])
def test_plot_kernels_shows_every_filter(tmp_path, in_channels, layout):
    model = small_model(in_channels)
    figure = viz.plot_kernels(model, path=tmp_path / "kernels.png")
    assert_png(tmp_path / "kernels.png")
    title = figure.axes[0].get_title()
    assert f"(4, {in_channels}, 3, 3)" in title and layout in title and "Conv2d" in title


def test_plot_kernels_rejects_models_without_convolutions():
    with pytest.raises(ValueError, match="no Conv2d"):
        viz.plot_kernels(cn.Sequential(cn.Flatten(), cn.Linear(4, 2)))


def test_find_conv_searches_nested_models():
    conv = cn.Conv2d(1, 2, 3)
    assert viz.find_conv(cn.Sequential(cn.ReLU(), cn.Sequential(conv))) is conv
    assert viz.find_conv(cn.Sequential(cn.ReLU())) is None


def test_plot_feature_maps_shows_chosen_layers_and_keeps_the_mode(tmp_path):
    model = small_model().train()
    x = np.random.default_rng(1).random((1, 8, 8), dtype=np.float32)
    figure = viz.plot_feature_maps(model, x, layers=[0, 2], path=tmp_path / "maps.png")
    assert_png(tmp_path / "maps.png")
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert titles[0].startswith("input") and "[0] Conv2d" in titles[1] and "(4, 6, 6)" in titles[1]
    assert "[2] MaxPool2d" in titles[2] and "(4, 3, 3)" in titles[2]
    assert model.training
    with pytest.raises(ValueError, match="out of range"):
        viz.plot_feature_maps(model, x, layers=[9])


def test_plot_misclassified(tmp_path):
    model = small_model()
    x = np.random.default_rng(2).random((12, 1, 8, 8), dtype=np.float32)
    predicted = model.predict(x).argmax(axis=1)
    y = (predicted + np.arange(12) % 2) % 3  # every other image wrong
    figure = viz.plot_misclassified(model, x, y, ["a", "b", "c"], path=tmp_path / "wrong.png")
    assert_png(tmp_path / "wrong.png")
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert len(titles) == 6 and all("→" in title for title in titles)
    none_wrong = viz.plot_misclassified(model, x, predicted)
    assert "0 of 12" in none_wrong.texts[0].get_text()


def test_train_writes_kernels_and_evaluate_writes_misclassified(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "seed000", "--limit", "200", "--epochs", "1", "--out", str(run)]) == 0
    assert_png(run / "kernels.png")
    assert main(["evaluate", str(run), "--limit", "300"]) == 0
    assert_png(run / "misclassified.png")
    assert str(run / "misclassified.png") in capsys.readouterr().out


def test_core_works_without_matplotlib():
    code = """
import sys
sys.modules["matplotlib"] = None
import convnp as cn
import convnp.viz, convnp.explain
assert not cn.viz.available()
for call in (lambda: cn.viz.plot_history({"loss": [1.0]}),
             lambda: cn.viz.plot_kernels(cn.Conv2d(1, 2, 3)),
             lambda: cn.explain.animate("im2col", "unused", size=4)):
    try:
        call()
    except ImportError as error:
        assert str(error) == cn.viz.VIZ_HINT, error
    else:
        raise SystemExit("no ImportError")
print("ok", cn.viz.VIZ_HINT)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "convnp[viz]" in result.stdout
