"""Stages of the im2col and col2im exercises (functions of *Deep Learning from Scratch*)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..layers import Flatten, Linear, ReLU
from ..model import Sequential
from . import geometry
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, call, definition
from .stages import Case, Spec, StageFailure, same_trajectory

COLUMN_ORDER_CAUSE = ("layout -- your columns are ordered (kh, kw, c); the layout is (c, kh, kw): "
                      "column (c*FH + p)*FW + q holds channel c at kernel offset (p, q).")
ROW_ORDER_CAUSE = ("layout -- your rows are ordered (oh, ow, n) or (n, ow, oh); the layout is "
                   "(n, oh, ow): row (n*OH + i)*OW + j is window (i, j) of image n.")
UNIT_STEP_CAUSE = ("stride -- your windows move by 1 pixel, not by `stride`: window (i, j) starts "
                   "at row i*stride, column j*stride.")


def _unit_steps(inputs):
    """What im2col gives if windows step by 1 but OH, OW are counted with the stride."""
    x, (kh, kw), stride, pad = inputs["x"], inputs["kernel"], inputs["stride"], inputs["pad"]
    n, c, h, w = x.shape
    out_h, out_w = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    full = F.im2col(x, kh, kw, 1, pad)  # (N*FH1*FW1, C*KH*KW), stride-1 windows
    full_h, full_w = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    return full.reshape(n, full_h, full_w, -1)[:, :out_h, :out_w].reshape(n * out_h * out_w, -1)


class _ConvWith:
    """A Convolution built on given im2col/col2im functions (for the training stage)."""

    def __init__(self, im2col, col2im, W, b):
        self.im2col, self.col2im, self.W, self.b = im2col, col2im, W, b

    def forward(self, x):
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        self.x, self.col = x, self.im2col(x, fh, fw, 1, 1)  # (N*OH*OW, C*FH*FW)
        out = self.col @ self.W.reshape(fn, -1).T + self.b  # (N*OH*OW, FN)
        return out.reshape(n, h, w, fn).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)  # (N*OH*OW, FN)
        self.db, self.dW = dout.sum(axis=0), (dout.T @ self.col).reshape(fn, c, fh, fw)
        return self.col2im(dout @ self.W.reshape(fn, -1), self.x.shape, fh, fw, 1, 1)


class FoldSpec(Spec):
    """``im2col(input_data, filter_h, filter_w, stride, pad)`` or its adjoint ``col2im``."""

    def __init__(self, function: str):
        self.function = function
        self.outputs = ("col",) if function == "im2col" else ("img",)

    def first_case(self) -> Case:
        if self.function == "im2col":
            inputs = {"x": np.arange(16.0).reshape(1, 1, 4, 4), "kernel": (2, 2), "stride": 2, "pad": 0}
            return Case("the first case (x = arange(16) as 1x1x4x4, 2x2 windows, stride 2)", inputs,
                        {"stride": 2, "pad": 0})
        inputs = {"x": np.zeros((1, 1, 3, 3)), "kernel": (2, 2), "stride": 1, "pad": 0,
                  "col": np.ones((4, 4))}
        return Case("the first case (col = ones (4, 4): the four 2x2 windows of a 1x1x3x3 image)",
                    inputs, {"stride": 1, "pad": 0})

    def random_cases(self, rng) -> list[Case]:
        cases = []
        total = len(geometry.CONV_GEOMETRIES)
        for index, (n, c, h, w, _, kernel, stride, pad) in enumerate(geometry.CONV_GEOMETRIES, 1):
            x = rng.standard_normal((n, c, h, w))
            out_h, out_w = (h + 2 * pad - kernel[0]) // stride + 1, (w + 2 * pad - kernel[1]) // stride + 1
            col = rng.standard_normal((n * out_h * out_w, c * kernel[0] * kernel[1]))
            label = f"case {index}/{total}: " + geometry.describe(x.shape, stride, pad, kernel, "window")
            cases.append(Case(label, {"x": x, "kernel": kernel, "stride": stride, "pad": pad,
                                      "col": col}, {"stride": stride, "pad": pad}))
        return cases

    def run(self, namespace, case: Case) -> dict:
        function = definition(namespace, self.function, "function")
        inputs = case.inputs
        (kh, kw), stride, pad = inputs["kernel"], inputs["stride"], inputs["pad"]
        if self.function == "im2col":
            value = call("im2col", function, inputs["x"], kh, kw, stride, pad, names=("input_data",))
            return {"col": as_array(value, "im2col's return value")}
        value = call("col2im", function, inputs["col"], inputs["x"].shape, kh, kw, stride, pad,
                     names=("col",))
        return {"img": as_array(value, "col2im's return value")}

    def clues(self, case: Case, name: str, reference) -> dict:
        expected = self.run(reference, case)[name]
        inputs = case.inputs
        c = inputs["x"].shape[1]
        (kh, kw), stride, pad = inputs["kernel"], inputs["stride"], inputs["pad"]
        if name == "col":
            kkc = expected.reshape(-1, c, kh, kw).transpose(0, 2, 3, 1).reshape(expected.shape)
            alternatives = [(kkc, COLUMN_ORDER_CAUSE), (_unit_steps(inputs), UNIT_STEP_CAUSE)]
            regions = []
        else:
            alternatives = []
            regions = [(geometry.border_region(expected.shape, pad),
                        "padding -- only the border is wrong: cut off exactly `pad` rows and "
                        "columns on each side, after adding everything up."),
                       (geometry.overlap_region(expected.shape, (kh, kw), stride, pad),
                        "only pixels covered by several windows are wrong: overlapping windows "
                        "must add up (+=), not overwrite each other.")]
        for changes, cause in (({"pad": 0}, "padding -- it is what pad=0 gives."),
                               ({"stride": 1}, "stride -- it is what stride=1 gives.")):
            if any(inputs[key] != value for key, value in changes.items()) and name == "col":
                variant = Case(case.label, dict(inputs, **changes))
                alternatives.append((self.run(reference, variant)[name], cause))
        return {"alternatives": alternatives, "regions": regions}

    def adjoint(self, namespace, reference) -> str:
        """<im2col(x), col> == <x, col2im(col)>: the learner's function against convnp's partner."""
        for case in self.random_cases(np.random.default_rng(5)):
            x, col = case.inputs["x"], case.inputs["col"]
            (kh, kw), stride, pad = case.inputs["kernel"], case.inputs["stride"], case.inputs["pad"]
            mine = self.run(namespace, case)[self.outputs[0]]
            if mine.shape != (col.shape if self.function == "im2col" else x.shape):
                raise StageFailure(f"{case.label}: {self.function} returned shape {mine.shape}")
            if self.function == "im2col":
                left, right = np.sum(mine * col), np.sum(x * F.col2im(col, x.shape, kh, kw, stride, pad))
            else:
                left, right = np.sum(F.im2col(x, kh, kw, stride, pad) * col), np.sum(x * mine)
            if abs(left - right) > 1e-5 * max(abs(left), abs(right), 1.0):
                raise StageFailure(f"{case.label}: sum(im2col(x) * col) = {left:.6g} but "
                                   f"sum(x * col2im(col)) = {right:.6g}: col2im must be exactly "
                                   f"im2col's transpose (checked against convnp.functional's).")
        return "sum(im2col(x) * col) == sum(x * col2im(col)) in every case"

    def train(self, namespace, reference) -> str:
        mine = definition(namespace, self.function, "function")
        functions = {"im2col": F.im2col, "col2im": F.col2im}
        rng = np.random.default_rng(3)
        weight, bias = rng.standard_normal((4, 2, 3, 3)) * 0.3, np.zeros(4)
        x, labels = toy_data((2, 6, 6), classes=3, count=16)
        losses = []
        for chosen in (mine, functions[self.function]):
            pair = dict(functions, **{self.function: chosen})
            conv = LearnerLayer(lambda W, b, pair=pair: _ConvWith(pair["im2col"], pair["col2im"], W, b),
                                {"W": (weight, "dW"), "b": (bias, "db")}, "Convolution")
            model = Sequential(conv, ReLU(), Flatten(),
                               Linear(4 * 36, 3, dtype=np.float64, rng=np.random.default_rng(4)))
            losses.append(train_steps(model, x, labels, steps=5, lr=0.05))
        return same_trajectory(losses[0], losses[1], f"a convolution built on your {self.function}, "
                               "-> ReLU -> Flatten -> Linear, 5 SGD steps")
