"""Stages of the optimizer exercises: sgd, momentum, adam (``update(params, grads)`` in place)."""

from __future__ import annotations

import numpy as np

from ..layers import Linear, ReLU
from ..losses import CrossEntropyLoss
from ..model import Sequential
from .diagnosis import compare
from .harness import toy_data
from .learner import LearnerError, as_array, call, definition
from .stages import StageFailure, same_trajectory

SETTINGS = {"SGD": {"lr": 0.1}, "Momentum": {"lr": 0.1, "momentum": 0.9},
            "Adam": {"lr": 0.1, "beta1": 0.9, "beta2": 0.999}}
FIRST_CASES = {"SGD": ({"W": [1.0, 2.0, 3.0]}, [{"W": [10.0, 0.0, -10.0]}]),
               "Momentum": ({"W": [1.0, 2.0]}, [{"W": [1.0, -1.0]}] * 2),
               "Adam": ({"W": [1.0, 2.0]}, [{"W": [0.5, -2.0]}])}


class OptimizerSpec:
    """Runs the learner's optimizer and the reference on the same parameters, step by step."""

    def __init__(self, class_name: str):
        self.class_name = class_name

    def _make(self, namespace):
        settings = SETTINGS[self.class_name]
        text = ", ".join(f"{key}={value}" for key, value in settings.items())
        cls = definition(namespace, self.class_name)
        return call(f"{self.class_name}({text})", lambda: cls(**settings))

    def _steps(self, namespace, params, grad_steps, label):
        """Apply ``update`` once per grads dict; return the params after each step (copies)."""
        optimizer = self._make(namespace)
        params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
        history = []
        for step, grads in enumerate(grad_steps, start=1):
            grads = {key: np.array(value, dtype=np.float64) for key, value in grads.items()}
            before = {key: value for key, value in params.items()}
            grads_before = {key: value.copy() for key, value in grads.items()}
            call(f"{self.class_name}.update", optimizer.update, params, grads)
            for key, array in before.items():
                if params.get(key) is not array:
                    raise LearnerError(
                        f"{label}, step {step}: update put a new array in params[{key!r}] instead of "
                        f"changing the old one in place -- the layers hold the old array and never "
                        f"see the update. Use params[key] -= ... (or params[key][...] = ...).")
            for key, value in grads.items():
                if not np.array_equal(value, grads_before[key]):
                    raise LearnerError(f"{label}, step {step}: update changed grads[{key!r}] in place "
                                       f"-- diagnosis: in-place modification of its input.")
            history.append({key: as_array(value, f"params[{key!r}]").copy()
                            for key, value in params.items()})
        return history

    def _compare_runs(self, namespace, reference, params, grad_steps, label) -> None:
        got = self._steps(namespace, params, grad_steps, label)
        expected = self._steps(reference, params, grad_steps, label)
        for step, (mine, theirs) in enumerate(zip(got, expected, strict=False), start=1):
            for key in theirs:
                start = np.asarray(params[key], dtype=np.float64)
                change = compare(f"the change of params[{key!r}]", mine[key] - start,
                                 theirs[key] - start,
                                 factors=[(SETTINGS[self.class_name]["lr"], "lr", "learning rate")])
                if change:
                    raise StageFailure(f"{label}, after step {step} of {len(grad_steps)}:\n{change}")

    def shapes(self, namespace, reference) -> str:
        params, grads = FIRST_CASES[self.class_name]
        self._steps(namespace, params, grads[:1], "the first case")
        return f"{self.class_name} built with {SETTINGS[self.class_name]}; update changes params in place"

    def first_case(self, namespace, reference) -> str:
        params, grads = FIRST_CASES[self.class_name]
        self._compare_runs(namespace, reference, params, grads, f"the first case (params {params}, "
                           f"grads {grads[0]})")
        return f"params {params}, grads {grads[0]}, {len(grads)} step(s): same as the reference"

    def random_cases(self, namespace, reference) -> str:
        rng = np.random.default_rng(0)
        shapes = {"W1": (3, 4), "b1": (4,), "W2": (2, 3, 2, 2)}
        params = {key: rng.standard_normal(shape) for key, shape in shapes.items()}
        grad_steps = [{key: rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
                       for key, shape in shapes.items()} for _ in range(6)]
        self._compare_runs(namespace, reference, params, grad_steps, "params W1 (3, 4), b1 (4,), W2 "
                           "(2, 3, 2, 2)")
        return "3 arrays, 6 steps with new gradients each step: same as the reference"

    def train(self, namespace, reference) -> str:
        x, labels = toy_data((6,), count=16)
        losses = []
        for source in (namespace, reference):
            model = Sequential(Linear(6, 8, dtype=np.float64, rng=np.random.default_rng(1)), ReLU(),
                               Linear(8, 3, dtype=np.float64, rng=np.random.default_rng(2)))
            named = model.named_parameters()
            optimizer, loss, run = self._make(source), CrossEntropyLoss(), []
            for _ in range(5):
                run.append(loss(model.forward(x), labels))
                model.backward(loss.backward())
                call(f"{self.class_name}.update", optimizer.update,
                     {key: p.data for key, p in named.items()}, {key: p.grad for key, p in named.items()})
            losses.append(run)
        # Adam's eps sits in different places in the book and in torch: tiny gradients differ
        tolerance = 1e-3 if self.class_name == "Adam" else 1e-5
        return same_trajectory(losses[0], losses[1], f"Linear -> ReLU -> Linear trained by your "
                               f"{self.class_name}, 5 steps", tolerance=tolerance)
