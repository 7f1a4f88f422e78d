"""Stages of the max-pooling exercises: maxpool-forward, maxpool-backward (class MaxPool)."""

from __future__ import annotations

import numpy as np

from ..layers import Conv2d, Flatten, Linear, ReLU
from ..model import Sequential
from . import geometry
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, call, definition
from .stages import Case, Spec, same_trajectory

TIES_CAUSE = ("which maximum gets the gradient -- only windows with tied maxima are wrong: the "
              "gradient goes to the *first* maximum in row-major window order (np.argmax), and "
              "only to it, not to every tied element.")
OVERLAP_CAUSE = ("only pixels shared by overlapping windows (stride < pool) are wrong: the "
                 "gradients of all windows that chose a pixel must add up (+=, col2im), not overwrite.")


class PoolSpec(Spec):
    """``MaxPool(pool_h, pool_w, stride, pad)``: forward only, or forward and backward."""

    def __init__(self, backward: bool):
        self.backward = backward
        self.outputs = ("out", "dx") if backward else ("out",)
        self.gradient_inputs = {"x": "dx"} if backward else {}

    def first_case(self) -> Case:
        x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0],
                        [0.0, 6.0, 2.0, 2.0], [7.0, 1.0, 2.0, 3.0]]]])
        inputs = {"x": x, "pool": (2, 2), "stride": 2, "pad": 0,
                  "dout": np.array([[[[1.0, 2.0], [3.0, 4.0]]]])}
        return Case("the first case (the 4x4 example of the skeleton, 2x2 windows, stride 2, "
                    "dout = [[1, 2], [3, 4]])", inputs, {"stride": 2, "pad": 0})

    def random_cases(self, rng) -> list[Case]:
        total = len(geometry.POOL_GEOMETRIES)
        return [geometry.pool_case(rng, g, i, total) for i, g in enumerate(geometry.POOL_GEOMETRIES, 1)]

    def gradient_case(self, rng) -> Case:
        return geometry.pool_case(rng, (2, 2, 5, 5, (3, 3), 2, 1, False))

    def _layer(self, namespace, case: Case):
        cls = definition(namespace, "MaxPool")
        (ph, pw), stride, pad = case.inputs["pool"], case.inputs["stride"], case.inputs["pad"]
        return call("MaxPool(pool_h, pool_w, stride, pad)", cls, ph, pw, stride, pad)

    def forward_value(self, namespace, case: Case):
        layer = self._layer(namespace, case)
        return call("MaxPool.forward", layer.forward, case.inputs["x"], names=("x",))

    def run(self, namespace, case: Case) -> dict:
        layer = self._layer(namespace, case)
        out = call("MaxPool.forward", layer.forward, case.inputs["x"], names=("x",))
        result = {"out": as_array(out, "MaxPool.forward's return value")}
        if self.backward:
            dx = call("MaxPool.backward", layer.backward, case.inputs["dout"], names=("dout",))
            result["dx"] = as_array(dx, "MaxPool.backward's return value (dx)")
        return result

    def clues(self, case: Case, name: str, reference) -> dict:
        inputs = case.inputs
        x, kernel, stride, pad = inputs["x"], inputs["pool"], inputs["stride"], inputs["pad"]
        if name == "out":
            padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
            windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(2, 3))
            windows = windows[:, :, ::stride, ::stride]  # (N, C, OH, OW, PH, PW)
            return {"alternatives": [
                (windows.mean(axis=(4, 5)), "mean instead of max: that is average pooling."),
                (windows.min(axis=(4, 5)), "min instead of max.")] + self._geometry_clues(case, reference)}
        regions = [(geometry.tie_region(x, kernel, stride, pad), TIES_CAUSE),
                   (geometry.border_region(x.shape, pad),
                    "padding -- only the border is wrong: cut the `pad` border off dx."),
                   (geometry.overlap_region(x.shape, kernel, stride, pad), OVERLAP_CAUSE)]
        return {"regions": regions}

    def _geometry_clues(self, case: Case, reference) -> list:
        clues = []
        for key, value, cause in (("pad", 0, "padding -- it is what pad=0 gives: pad H and W by "
                                              "`pad` on each side (with -inf, so padding never wins)."),
                                  ("stride", 1, "stride -- it is what stride=1 gives: window (i, j) "
                                                "starts at (i*stride, j*stride).")):
            if case.inputs[key] != value:
                variant = Case(case.label, dict(case.inputs, **{key: value}))
                try:
                    clues.append((self.run(reference, variant)["out"], cause))
                except Exception:  # noqa: BLE001 - an impossible variant is no clue
                    pass
        return clues

    def train(self, namespace, reference) -> str:
        cls, reference_cls = definition(namespace, "MaxPool"), definition(reference, "MaxPool")
        x, labels = toy_data((2, 8, 8), classes=3, count=16)
        losses = []
        for owner in (cls, reference_cls):
            backward_owner = None if self.backward else (lambda: reference_cls(2, 2, 2, 0))
            pool = LearnerLayer(lambda owner=owner: owner(2, 2, 2, 0), {}, "MaxPool",
                                backward_factory=backward_owner)
            conv = Conv2d(2, 4, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(3))
            head = Linear(4 * 4 * 4, 3, dtype=np.float64, rng=np.random.default_rng(4))
            model = Sequential(conv, ReLU(), pool, Flatten(), head)
            losses.append(train_steps(model, x, labels, steps=5, lr=0.05))
        return same_trajectory(losses[0], losses[1], "Conv2d -> ReLU -> your MaxPool(2, 2, stride 2) "
                               "-> Flatten -> Linear, 5 SGD steps")
