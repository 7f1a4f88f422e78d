"""Stages of the dense exercises: relu, sigmoid, affine, softmax-with-loss."""

from __future__ import annotations

import numpy as np

from ..layers import Linear, ReLU
from ..model import Sequential
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, attribute, call, definition
from .stages import Case, Spec, same_trajectory


def _away_from_zero(rng, shape, scale=1.0):
    """Normal values pushed at least 0.1 away from 0 (ReLU's kink)."""
    values = rng.standard_normal(shape) * scale
    return values + np.where(values >= 0, 0.1, -0.1)


class ActivationSpec(Spec):
    """``Relu()`` / ``Sigmoid()``: forward(x), backward(dout)."""

    outputs = ("out", "dx")
    gradient_inputs = {"x": "dx"}

    def __init__(self, class_name: str):
        self.class_name = class_name

    def first_case(self) -> Case:
        x = np.arange(-3, 3).reshape(2, 3) + 0.5
        return Case("the first case (x = [[-2.5 -1.5 -0.5] [0.5 1.5 2.5]], dout = ones)",
                    {"x": x, "dout": np.ones_like(x)})

    def random_cases(self, rng) -> list[Case]:
        cases = []
        for index, shape in enumerate([(4, 5), (2, 3, 4, 5), (7,)], start=1):
            cases.append(Case(f"case {index}/4: x {shape} normal", {
                "x": _away_from_zero(rng, shape), "dout": rng.standard_normal(shape)}))
        x = np.array([[-1000.0, -50.0, 0.5, 50.0, 1000.0]])
        cases.append(Case("case 4/4: large inputs x = [[-1000 -50 0.5 50 1000]]",
                          {"x": x, "dout": np.ones_like(x)}, {"large": True}))
        return cases

    def gradient_case(self, rng) -> Case:
        shape = (3, 4)
        return Case("x (3, 4) normal",
                    {"x": _away_from_zero(rng, shape), "dout": rng.standard_normal(shape)})

    def forward_value(self, namespace, case: Case):
        layer = call(f"{self.class_name}()", definition(namespace, self.class_name))
        return call(f"{self.class_name}.forward", layer.forward, case.inputs["x"], names=("x",))

    def run(self, namespace, case: Case) -> dict:
        layer = call(f"{self.class_name}()", definition(namespace, self.class_name))
        out = call(f"{self.class_name}.forward", layer.forward, case.inputs["x"], names=("x",))
        out = as_array(out, f"{self.class_name}.forward's return value")
        dx = call(f"{self.class_name}.backward", layer.backward, case.inputs["dout"], names=("dout",))
        return {"out": out, "dx": as_array(dx, f"{self.class_name}.backward's return value (dx)")}

    def clues(self, case: Case, name: str, reference) -> dict:
        x = case.inputs["x"]
        if self.class_name == "Relu" and name == "dx":
            return {"alternatives": [(x > 0, "backward returned the mask, not dout * mask."),
                                     (np.where(x > 0, x, 0.0), "backward returned relu(x); it "
                                      "must return dout where x > 0.")]}
        if self.class_name == "Sigmoid" and name == "dx":
            s = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
            return {"alternatives": [(case.inputs["dout"] * s, "backward multiplied by out; the "
                                      "derivative is out * (1 - out).")]}
        return {}

    def train(self, namespace, reference) -> str:
        x, labels = toy_data((6,), count=16)
        losses = []
        for source in (namespace, reference):
            cls = definition(source, self.class_name)
            act = LearnerLayer(lambda cls=cls: cls(), {}, self.class_name)
            model = Sequential(Linear(6, 8, dtype=np.float64, rng=np.random.default_rng(1)), act,
                               Linear(8, 3, dtype=np.float64, rng=np.random.default_rng(2)))
            losses.append(train_steps(model, x, labels, steps=5, lr=0.5))
        return same_trajectory(losses[0], losses[1],
                               f"Linear -> your {self.class_name} -> Linear, 5 SGD steps")


class AffineSpec(Spec):
    """``Affine(W, b)``: forward flattens x; backward returns dx of x's shape, sets dW and db."""

    outputs = ("out", "dx", "dW", "db")
    gradient_inputs = {"x": "dx", "W": "dW", "b": "db"}

    def first_case(self) -> Case:
        inputs = {"x": np.arange(6.0).reshape(2, 3), "W": np.arange(6.0).reshape(3, 2) / 10,
                  "b": np.array([0.5, -0.5]), "dout": np.ones((2, 2))}
        return Case("the first case (x = arange(6) as 2x3, W = arange(6)/10 as 3x2, b = [0.5 -0.5], "
                    "dout = ones)", inputs)

    def random_cases(self, rng) -> list[Case]:
        cases = []
        for index, (x_shape, m) in enumerate([((4, 5), 3), ((3, 2, 3, 4), 5), ((1, 7), 2)], start=1):
            d = int(np.prod(x_shape[1:]))
            inputs = {"x": rng.standard_normal(x_shape), "W": rng.standard_normal((d, m)),
                      "b": rng.standard_normal(m), "dout": rng.standard_normal((x_shape[0], m))}
            cases.append(Case(f"case {index}/3: x {x_shape}, W {(d, m)}", inputs))
        return cases

    def gradient_case(self, rng) -> Case:
        return self.random_cases(rng)[1]

    def _layer(self, namespace, case):
        return call("Affine(W, b)", definition(namespace, "Affine"), case.inputs["W"].copy(),
                    case.inputs["b"].copy())

    def forward_value(self, namespace, case: Case):
        return call("Affine.forward", self._layer(namespace, case).forward, case.inputs["x"], names=("x",))

    def run(self, namespace, case: Case) -> dict:
        layer = self._layer(namespace, case)
        out = as_array(call("Affine.forward", layer.forward, case.inputs["x"], names=("x",)),
                       "Affine.forward's return value")
        dx = call("Affine.backward", layer.backward, case.inputs["dout"], names=("dout",))
        return {"out": out, "dx": as_array(dx, "Affine.backward's return value (dx)"),
                "dW": attribute(layer, "dW", "Affine"), "db": attribute(layer, "db", "Affine")}

    def clues(self, case: Case, name: str, reference) -> dict:
        n = case.inputs["x"].shape[0]
        return {"factors": [(n, "the batch size N")]}

    def train(self, namespace, reference) -> str:
        x, labels = toy_data((3, 2, 2), count=16)
        rng = np.random.default_rng(1)
        weight, bias = rng.standard_normal((12, 8)) * 0.3, np.zeros(8)
        losses = []
        for source in (namespace, reference):
            cls = definition(source, "Affine")
            affine = LearnerLayer(lambda W, b, cls=cls: cls(W, b), {"W": (weight, "dW"), "b": (bias, "db")},
                                  "Affine")
            model = Sequential(affine, ReLU(), Linear(8, 3, dtype=np.float64, rng=np.random.default_rng(2)))
            losses.append(train_steps(model, x, labels, steps=5, lr=0.2))
        return same_trajectory(losses[0], losses[1], "your Affine (x (16, 3, 2, 2)) -> ReLU -> Linear, "
                               "5 SGD steps")
