"""The two engines compute the same numbers: the textbook (``reference``) and ``fast``.

For every layer, every zoo model and random configurations (stride, padding incl. 'same',
rectangular kernels, ties, float32 and float64), outputs, input gradients and parameter
gradients agree to 1e-10 (float64) and 1e-4 relative (float32); the reference engine runs no
code from ``convnp/fast`` and calls each layer once, in order.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convnp as cn
from helpers import CONV_ROUTES, DX_ROUTES, maybe_pair, use_conv_route
from test_zoo import as_float64

FAST_DIR = str(Path(cn.fast.__file__).parent)


def run(engine, model, x, dy=None, training=True, input_grad=True):
    """Forward and backward on ``engine``: (y, dx, {name: grad}) of a deep copy of ``model``."""
    model = copy.deepcopy(model)  # same weights, same dropout generator state
    model.train(training)
    with cn.engine(engine):
        y = model.forward(x)
        dy = np.ones_like(y) if dy is None else dy
        backward = model.backward if isinstance(model, cn.Sequential) else None
        dx = backward(dy, input_grad=input_grad) if backward else model.backward(dy)
    grads = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    return y, dx, grads


def assert_engines_agree(model, x, seed=0, training=True, label=""):
    """Both engines on ``model``: equal outputs and gradients within the dtype's tolerance."""
    y = copy.deepcopy(model).train(training).forward(x)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    results = [run(engine, model, x, dy, training) for engine in ("reference", "fast")]
    (y_ref, dx_ref, grads_ref), (y_fast, dx_fast, grads_fast) = results
    pairs = [("output", y_ref, y_fast), ("dx", dx_ref, dx_fast)]
    pairs += [(name, grads_ref[name], grads_fast[name]) for name in grads_ref]
    for what, reference, fast in pairs:
        assert fast.dtype == reference.dtype == x.dtype, f"{label} {what}: dtype"
        assert_close(fast, reference, f"{label} {what}")


def assert_close(fast, reference, what):
    if reference.dtype == np.float64:
        difference = np.max(np.abs(fast - reference), initial=0.0)
        assert difference <= 1e-10, f"{what}: max |fast - reference| = {difference:.3g}"
    else:
        scale = max(np.max(np.abs(reference), initial=0.0), 1e-30)
        difference = np.max(np.abs(fast - reference), initial=0.0) / scale
        assert difference <= 1e-4, f"{what}: max |fast - reference| / max |reference| = {difference:.3g}"


def random_conv(rng, dtype):
    """A random Conv2d (kernel, stride, padding incl. 'same' and pairs) and an input that fits it."""
    kernel = maybe_pair(rng, 1, 5)
    pair = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    padding = [0, 1, 2, "same", "valid", pair][int(rng.integers(6))]
    stride = 1 if padding == "same" else maybe_pair(rng, 1, 3)
    layer = cn.Conv2d(int(rng.integers(1, 7)), int(rng.integers(1, 7)), kernel, stride, padding,
                      bool(rng.random() < 0.75), dtype=dtype, rng=rng)
    kh, kw = layer.kernel_size
    x = rng.standard_normal((int(rng.integers(1, 5)), layer.in_channels, int(rng.integers(kh, kh + 9)),
                             int(rng.integers(kw, kw + 9)))).astype(dtype)
    return layer, x


def random_pool(rng, kind, dtype, ties):
    kernel = maybe_pair(rng, 1, 4)
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
    layer = kind(kernel, stride=[None, 1, 2, (1, 2)][int(rng.integers(4))], padding=padding)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 20)), int(rng.integers(kh, kh + 7)),
             int(rng.integers(kw, kw + 7)))
    x = rng.integers(-1, 2, shape) if ties else rng.standard_normal(shape)
    return layer, x.astype(dtype)


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_engines_agree_alone_and_fused_with_relu(seed, dtype):
    rng = np.random.default_rng(seed)
    layer, x = random_conv(rng, dtype)
    assert_engines_agree(layer, x, seed, label=repr(layer))
    assert_engines_agree(cn.Sequential(layer, cn.ReLU()), x, seed, label=f"{layer!r} + ReLU")


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize("dx_route", [None, *DX_ROUTES])
@pytest.mark.parametrize("seed", range(4))
def test_every_fast_conv_route_equals_the_textbook(routes, route, dx_route, seed):
    use_conv_route(routes, route, dx=dx_route, chunk_bytes=int(np.random.default_rng(seed).integers(1, 4000)))
    rng = np.random.default_rng(100 + seed)
    layer, x = random_conv(rng, np.float64)
    assert_engines_agree(cn.Sequential(layer, cn.ReLU()), x, seed, label=f"{route} {dx_route} {layer!r}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [cn.MaxPool2d, cn.AvgPool2d])
@pytest.mark.parametrize("gather", [None, True, False])
@pytest.mark.parametrize("seed", range(6))
def test_pooling_engines_agree_with_ties(routes, kind, gather, seed, dtype):
    routes.enter_context(cn.fast.force_pool_route(gather=gather))
    rng = np.random.default_rng(seed)
    layer, x = random_pool(rng, kind, dtype, ties=seed % 2 == 0)
    for training in (True, False):
        assert_engines_agree(layer, x, seed, training, label=repr(layer))
        assert_engines_agree(cn.Sequential(cn.ReLU(), layer), x, seed, training, label=f"ReLU, {layer!r}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make, shape", [
    (lambda d: cn.Linear(7, 5, dtype=d, rng=0), (4, 7)),
    (lambda d: cn.Linear(7, 5, bias=False, dtype=d, rng=0), (4, 7)),
    (lambda d: cn.Flatten(), (2, 3, 4, 5)),
    (lambda d: cn.ReLU(), (3, 4, 5, 2)),
    (lambda d: cn.LeakyReLU(0.1), (3, 7)), (lambda d: cn.Sigmoid(), (3, 7)), (lambda d: cn.Tanh(), (3, 7)),
    (lambda d: cn.ELU(0.7), (3, 7)), (lambda d: cn.SELU(), (3, 7)), (lambda d: cn.Softplus(2.0, 5.0), (3, 7)),
    (lambda d: cn.Softmax(dim=1), (3, 7)),
    (lambda d: cn.Dropout(0.3), (6, 9)),
    (lambda d: cn.BatchNorm1d(7, dtype=d), (5, 7)),
    (lambda d: cn.BatchNorm2d(3, dtype=d), (4, 3, 5, 6)),
    (lambda d: cn.GlobalAvgPool2d(), (2, 3, 5, 4)),
    (lambda d: cn.Residual(cn.Conv2d(3, 3, 3, padding=1, dtype=d, rng=0), cn.ReLU()), (2, 3, 6, 5)),
    (lambda d: cn.Residual(cn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=d, rng=0),
                           shortcut=[cn.Conv2d(3, 4, 1, stride=2, dtype=d, rng=1)]), (2, 3, 7, 6)),
], ids=["linear", "linear-no-bias", "flatten", "relu", "leaky-relu", "sigmoid", "tanh", "elu", "selu",
        "softplus", "softmax", "dropout", "batchnorm1d", "batchnorm2d", "global-avg-pool", "residual",
        "residual-projection"])
def test_every_other_layer_engines_agree(make, shape, dtype):
    layer = make(dtype)
    x = (np.random.default_rng(3).standard_normal(shape) * 3).astype(dtype)
    for training in (True, False):
        assert_engines_agree(layer, x, training=training, label=repr(layer))
        assert_engines_agree(cn.Sequential(layer), x, training=training, label=f"Sequential({layer!r})")


@pytest.mark.parametrize("name", cn.models.names())
def test_every_zoo_model_engines_agree(name):
    """float64: 1e-10 in training and eval mode. float32: 1e-4 relative in eval mode; in training
    mode BatchNorm's batch statistics can amplify float32 rounding (a channel of near-zero variance
    divides by ~sqrt(eps)), so there the fast engine must be as close to the float64 result as the
    textbook's float32 is (or within 1e-4)."""
    shape = (3, 32, 32) if "cifar" in name else (1, 28, 28)
    model = cn.models.build(name, shape, 10, rng=0)
    wide = as_float64(model)
    x = np.random.default_rng(1).random((3, *shape))
    for training in (True, False):
        assert_engines_agree(wide, x, training=training, label=f"{name} float64 training={training}")
    assert_engines_agree(model, x.astype(np.float32), training=False, label=f"{name} float32 eval")
    dy = np.random.default_rng(2).standard_normal((3, 10))
    truth = run("reference", wide, x, dy)
    results = {engine: run(engine, model, x.astype(np.float32), dy.astype(np.float32))
               for engine in ("reference", "fast")}
    for position, what in enumerate(("output", "dx", "grads")):
        exact, error = flat(truth, position), {}
        for engine, result in results.items():
            error[engine] = np.max(np.abs(flat(result, position) - exact)) / np.max(np.abs(exact))
        assert error["fast"] <= max(1e-4, 2 * error["reference"]), f"{name} float32 training {what}: {error}"


def flat(result, position):
    """Output (0), dx (1) or all parameter gradients (2) of :func:`run`'s result, as one array."""
    return result[position] if position < 2 else np.concatenate([g.ravel() for g in result[2].values()])


def test_skipping_the_first_dx_changes_no_parameter_gradient():
    model = as_float64(cn.models.build("seed002", (1, 28, 28), 10, rng=0))
    x = np.random.default_rng(0).random((4, 1, 28, 28))
    _, dx, reference = run("reference", model, x)
    _, none, fast = run("fast", model, x, input_grad=False)
    assert none is None and dx.shape == x.shape
    for name, grad in reference.items():
        np.testing.assert_allclose(fast[name], grad, rtol=0, atol=1e-10, err_msg=name)


def test_the_reference_engine_runs_no_fast_code_and_each_layer_once_in_order():
    model = cn.models.build("simple-cnn", (1, 28, 28), 10, rng=0)
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    calls, fast_code = [], set()
    for index, layer in enumerate(model.layers):
        original = layer.forward
        layer.forward = lambda a, original=original, index=index: calls.append(index) or original(a)

    def watch(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(FAST_DIR):
            fast_code.add(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    with cn.engine("reference"):
        sys.setprofile(watch)
        try:
            model.fit(x, np.arange(8) % 10, loss=cn.CrossEntropyLoss(),
                      optimizer=cn.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=8,
                      verbose=False)
            model.predict(x)
        finally:
            sys.setprofile(None)
    assert fast_code == set()
    assert calls == list(range(len(model.layers))) * 2  # one training step, one prediction batch
    calls.clear()
    model.forward(x)  # the fast engine: the same model, by the engine's plan
    assert calls != list(range(len(model.layers)))  # fused and reordered steps call no layer forward


def test_engine_selection():
    assert cn.get_engine() == "fast"
    with cn.engine("reference") as name:
        assert name == cn.get_engine() == "reference"
        with cn.engine("fast"):
            assert cn.get_engine() == "fast"
        assert cn.get_engine() == "reference"
    assert cn.get_engine() == "fast"
    cn.set_engine("reference")
    try:
        assert cn.get_engine() == "reference"
    finally:
        cn.set_engine("fast")
    for bad in ("Fast", "numpy", None):
        with pytest.raises(ValueError, match=r"set_engine: the engine must be one of 'fast', 'reference'"):
            cn.set_engine(bad)
    assert cn.get_engine() == "fast"


@pytest.mark.parametrize("value, expected", [("reference", "reference"), ("fast", "fast"), ("", "fast")])
def test_convnp_engine_sets_the_default_at_import(value, expected):
    env = {**os.environ, "CONVNP_ENGINE": value}
    out = subprocess.run([sys.executable, "-c", "import convnp; print(convnp.get_engine())"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == expected, out.stderr


def test_a_bad_convnp_engine_is_a_clear_error():
    env = {**os.environ, "CONVNP_ENGINE": "turbo"}
    out = subprocess.run([sys.executable, "-c", "import convnp"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "$CONVNP_ENGINE: the engine must be one of 'fast', 'reference', got 'turbo'" in out.stderr


def test_the_cli_runs_train_evaluate_and_predict_on_the_chosen_engine(tmp_path, capsys, monkeypatch):
    PIL = pytest.importorskip("PIL.Image")
    from convnp.fast import planner
    from helpers import run_cli

    plans, make_plan = [], planner.plan
    monkeypatch.setattr(planner, "plan", lambda *args: plans.append(args) or make_plan(*args))
    run_dir = tmp_path / "run"
    status, _, err = run_cli(capsys, "train", "--model", "seed000", "--limit", "64", "--epochs", "1",
                             "--out", run_dir, "--engine", "reference")
    assert status == 0, err
    image = tmp_path / "digit.png"
    PIL.fromarray(np.eye(28, dtype=np.uint8) * 255).save(image)
    for arguments in (["evaluate", run_dir, "--limit", "64"], ["predict", run_dir, image]):
        status, _, err = run_cli(capsys, *arguments, "--engine", "reference")
        assert status == 0, err
    assert plans == [] and cn.get_engine() == "fast"  # restored after each command
    status, _, err = run_cli(capsys, "evaluate", run_dir, "--limit", "64")
    assert status == 0 and plans  # the default engine runs the model by its plan
