"""Stages of the convolution exercises: conv-forward, conv-backward (class Convolution)."""

from __future__ import annotations

import numpy as np

from ..layers import Flatten, Linear, MaxPool2d, ReLU
from ..model import Sequential
from . import geometry
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, attribute, call, definition
from .stages import Case, Spec, same_trajectory

FLIP_CAUSE = ("convolution vs cross-correlation -- your output equals the expected one computed "
              "with every kernel rotated by 180°. Deep-learning 'convolution' does not flip the "
              "kernel: out[i, j] = sum W[p, q] * x[i*stride + p, j*stride + q].")


class ConvSpec(Spec):
    """``Convolution(W, b, stride, pad)``: forward only, or forward and backward."""

    def __init__(self, backward: bool):
        self.backward = backward
        self.outputs = ("out", "dx", "dW", "db") if backward else ("out",)
        self.gradient_inputs = {"x": "dx", "W": "dW", "b": "db"} if backward else {}

    def first_case(self) -> Case:
        x = np.arange(16.0).reshape(1, 1, 4, 4)
        inputs = {"x": x, "W": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), "b": np.zeros(1),
                  "stride": 1, "pad": 0, "dout": np.ones((1, 1, 3, 3))}
        return Case("the first case (x = arange(16) as 1x1x4x4, one 2x2 filter [[1, 2], [3, 4]], "
                    "dout = ones)", inputs, {"stride": 1, "pad": 0})

    def random_cases(self, rng) -> list[Case]:
        total = len(geometry.CONV_GEOMETRIES)
        return [geometry.conv_case(rng, g, i, total) for i, g in enumerate(geometry.CONV_GEOMETRIES, 1)]

    def gradient_case(self, rng) -> Case:
        return geometry.conv_case(rng, (2, 2, 5, 5, 3, (3, 2), 2, 1))

    def _layer(self, namespace, case: Case):
        cls = definition(namespace, "Convolution")
        inputs = case.inputs
        return call("Convolution(W, b, stride, pad)", cls, inputs["W"].copy(), inputs["b"].copy(),
                    inputs["stride"], inputs["pad"])

    def forward_value(self, namespace, case: Case):
        layer = self._layer(namespace, case)
        return call("Convolution.forward", layer.forward, case.inputs["x"], names=("x",))

    def run(self, namespace, case: Case) -> dict:
        layer = self._layer(namespace, case)
        out = call("Convolution.forward", layer.forward, case.inputs["x"], names=("x",))
        result = {"out": as_array(out, "Convolution.forward's return value")}
        if self.backward:
            dx = call("Convolution.backward", layer.backward, case.inputs["dout"], names=("dout",))
            result["dx"] = as_array(dx, "Convolution.backward's return value (dx)")
            result["dW"] = attribute(layer, "dW", "Convolution")
            result["db"] = attribute(layer, "db", "Convolution")
        return result

    def clues(self, case: Case, name: str, reference) -> dict:
        inputs = case.inputs
        n, _, h, w = inputs["x"].shape
        fn, _, fh, fw = inputs["W"].shape
        stride, pad = inputs["stride"], inputs["pad"]
        out_h, out_w = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        factors = [(n, "the batch size N"), (out_h * out_w, "the number of output positions OH*OW"),
                   (n * out_h * out_w, "the number of output rows N*OH*OW")]
        alternatives = [(self._variant(reference, case, name, W=inputs["W"][:, :, ::-1, ::-1]), FLIP_CAUSE)]
        if name == "dW":
            expected = self.run(reference, case)["dW"]
            alternatives.append((expected[:, :, ::-1, ::-1], "convolution vs cross-correlation -- your "
                                 "dW is the expected one rotated by 180°: dW[f, c, p, q] = sum dout[n, f, "
                                 "i, j] * x_padded[n, c, i*stride + p, j*stride + q], no flip."))
        if pad:
            alternatives.append((self._variant(reference, case, name, pad=0),
                                 "padding -- it is what pad=0 gives: pad x with `pad` zeros on each "
                                 "side of H and W (and count 2*pad in OH, OW)."))
        if stride > 1:
            alternatives.append((self._variant(reference, case, name, stride=1),
                                 "stride -- it is what stride=1 gives: window (i, j) starts at "
                                 "(i*stride, j*stride), and OH = (H + 2*pad - FH) // stride + 1."))
        regions = []
        if name == "dx":
            regions = [(geometry.border_region(inputs["x"].shape, pad),
                        "padding -- only the border is wrong: col2im must cut off exactly the "
                        "`pad` rows and columns that im2col added."),
                       (geometry.overlap_region(inputs["x"].shape, (fh, fw), stride, pad),
                        "only pixels covered by several windows are wrong: their gradients must "
                        "add up (+= in col2im), not overwrite each other.")]
        return {"factors": factors, "alternatives": alternatives, "regions": regions}

    def _variant(self, reference, case: Case, name: str, **changes):
        inputs = dict(case.inputs, **changes)
        if "pad" in changes or "stride" in changes:
            if name != "out":
                return np.zeros(0)  # only the forward shape tells
        try:
            return self.run(reference, Case(case.label, inputs))[name]
        except Exception:  # noqa: BLE001 - a variant that cannot run is just not a clue
            return np.zeros(0)

    def train(self, namespace, reference) -> str:
        cls, reference_cls = definition(namespace, "Convolution"), definition(reference, "Convolution")
        rng = np.random.default_rng(3)
        weight, bias = rng.standard_normal((4, 2, 3, 3)) * 0.3, np.zeros(4)
        x, labels = toy_data((2, 8, 8), classes=3, count=16)
        losses = []
        for owner in (cls, reference_cls):
            backward_owner = None if self.backward else (
                lambda W, b: reference_cls(W, b, 1, 1))
            conv = LearnerLayer(lambda W, b, owner=owner: owner(W, b, 1, 1),
                                {"W": (weight, "dW"), "b": (bias, "db")}, "Convolution",
                                backward_factory=backward_owner)
            head = Linear(4 * 4 * 4, 3, dtype=np.float64, rng=np.random.default_rng(4))
            model = Sequential(conv, ReLU(), MaxPool2d(2), Flatten(), head)
            losses.append(train_steps(model, x, labels, steps=5, lr=0.05))
        return same_trajectory(losses[0], losses[1], "Convolution(W (4, 2, 3, 3), pad 1) -> ReLU -> "
                               "MaxPool2d(2) -> Flatten -> Linear, 5 SGD steps")
