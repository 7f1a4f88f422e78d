"""Stages of the dropout exercise: random, so checked by its properties instead of values.

In training each element is either dropped (0) or kept and multiplied by one scale ``s`` -- 1
(*Deep Learning from Scratch*) or 1/(1 - ratio) (inverted dropout, torch); backward must use the
same mask and scale; test mode must give the mean of training, x * (1 - ratio) * s.
"""

from __future__ import annotations

import numpy as np

from ..layers import Linear, ReLU
from ..losses import CrossEntropyLoss
from ..model import Sequential
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, call, definition
from .stages import StageFailure


def _dropout(namespace, ratio):
    cls = definition(namespace, "Dropout")
    return call(f"Dropout({ratio})", cls, ratio)


def _scale(x, out, ratio, label) -> float | None:
    """The one factor kept elements were multiplied by (None if all were dropped), or StageFailure."""
    kept = out != 0
    if not kept.any():  # all dropped (rare on tiny inputs): the scale shows only at test time
        return None
    factors = out[kept] / x[kept]
    scale = float(np.median(factors))
    if not np.allclose(factors, scale, rtol=1e-5):
        raise StageFailure(f"{label}: kept elements must all be x times one factor; got factors from "
                           f"{factors.min():.4g} to {factors.max():.4g}")
    if not (np.isclose(scale, 1.0) or np.isclose(scale, 1 / (1 - ratio))):
        raise StageFailure(f"{label}: kept elements are x * {scale:.4g}; expected x (Deep Learning from "
                           f"Scratch) or x / (1 - ratio) = x * {1 / (1 - ratio):.4g} (inverted dropout)")
    return scale


def check_dropout_once(namespace, x, ratio, label, fraction_tolerance=None) -> str:
    """One forward/backward/test round on positive ``x``; return a summary or raise StageFailure."""
    layer = _dropout(namespace, ratio)
    out = as_array(call("Dropout.forward", layer.forward, x, True, names=("x",)),
                   "Dropout.forward (training)")
    if out.shape != x.shape:
        raise StageFailure(f"{label}: forward returned shape {out.shape}, expected {x.shape}")
    scale = _scale(x, out, ratio, label)
    dout = np.arange(1.0, x.size + 1).reshape(x.shape)
    dx = as_array(call("Dropout.backward", layer.backward, dout, names=("dout",)), "Dropout.backward")
    expected_dx = np.where(out != 0, dout * (scale or 1.0), 0.0)
    if dx.shape != x.shape or not np.allclose(dx, expected_dx, rtol=1e-5):
        raise StageFailure(f"{label}: backward must pass dout * {scale:.4g} where forward kept the "
                           f"element and 0 where it dropped it (the same mask as the last forward)")
    test = as_array(call("Dropout.forward", layer.forward, x, False, names=("x",)), "Dropout.forward (test)")
    scales = [scale] if scale is not None else [1.0, 1 / (1 - ratio)]
    if test.shape != x.shape or not any(np.allclose(test, x * (1 - ratio) * s, rtol=1e-5) for s in scales):
        how = "x * (1 - ratio)" if scale == 1.0 else "x unchanged"
        raise StageFailure(f"{label}: forward(x, train_flg=False) must be {how} (the mean of training's "
                           f"output for the scale you use)")
    dropped = float(np.mean(out == 0))
    if fraction_tolerance is not None and abs(dropped - ratio) > fraction_tolerance:
        raise StageFailure(f"{label}: {dropped:.1%} of the elements were dropped; expected about "
                           f"{ratio:.0%} (mask = random(x.shape) > ratio drops a fraction `ratio`)")
    return f"scale {scale or 1.0:.4g}, {dropped:.1%} dropped"


def shapes_stage(namespace, reference) -> str:
    x = np.arange(1.0, 9.0).reshape(2, 4)
    return "forward and backward keep x's shape: " + check_dropout_once(namespace, x, 0.5, "x (2, 4)")


def first_case_stage(namespace, reference) -> str:
    x = np.arange(1.0, 9.0).reshape(2, 4)
    summaries = [check_dropout_once(namespace, x, ratio, f"x = arange(1, 9) as 2x4, ratio {ratio}")
                 for ratio in (0.5, 0.25)]
    return "x = arange(1, 9) as 2x4: " + "; ".join(summaries)


def random_cases_stage(namespace, reference) -> str:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (100, 400))
    for ratio in (0.5, 0.2, 0.8):
        check_dropout_once(namespace, x, ratio, f"x (100, 400), ratio {ratio}", fraction_tolerance=0.02)
    layer = _dropout(namespace, 0.5)
    first = as_array(call("Dropout.forward", layer.forward, x, True, names=("x",)), "out")
    second = as_array(call("Dropout.forward", layer.forward, x, True, names=("x",)), "out")
    if np.array_equal(first != 0, second != 0):
        raise StageFailure("two training forwards dropped exactly the same elements: draw a new "
                           "mask on every forward")
    return "ratios 0.2, 0.5, 0.8 on x (100, 400): the right fraction dropped, a new mask each time"


def training_stage(namespace, reference) -> str:
    x, labels = toy_data((6,), count=32)
    cls = definition(namespace, "Dropout")
    dropout = LearnerLayer(lambda: cls(0.2), {}, "Dropout", train_flag=True)
    model = Sequential(Linear(6, 32, dtype=np.float64, rng=np.random.default_rng(1)), ReLU(), dropout,
                       Linear(32, 3, dtype=np.float64, rng=np.random.default_rng(2)))
    train_steps(model, x, labels, steps=40, lr=0.3)
    model.eval()
    first, second = model.forward(x), model.forward(x)
    if not np.array_equal(first, second):
        raise StageFailure("in eval mode (train_flg=False) the model's output changed between two calls")
    start = Sequential(Linear(6, 32, dtype=np.float64, rng=np.random.default_rng(1)), ReLU(),
                       Linear(32, 3, dtype=np.float64, rng=np.random.default_rng(2)))
    before, after = CrossEntropyLoss()(start.forward(x), labels), CrossEntropyLoss()(first, labels)
    if not after < before:
        raise StageFailure(f"40 SGD steps with your Dropout did not lower the loss "
                           f"({before:.4g} -> {after:.4g})")
    return (f"Linear -> ReLU -> your Dropout(0.2) -> Linear, 40 SGD steps: eval loss "
            f"{before:.4f} -> {after:.4f}")
