"""Stages of softmax-with-loss and batchnorm."""

from __future__ import annotations

import numpy as np

from ..layers import Linear, ReLU
from ..model import Sequential
from .diagnosis import close, compare
from .harness import LearnerLayer, toy_data, train_steps
from .learner import as_array, attribute, call, definition
from .stages import Case, Spec, StageFailure, same_trajectory


class SoftmaxWithLossSpec(Spec):
    """``SoftmaxWithLoss()``: forward(x, t) -> mean loss; backward(dout=1) -> dx."""

    outputs = ("loss", "dx")
    gradient_inputs = {"x": "dx"}

    def first_case(self) -> Case:
        inputs = {"x": np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), "t": np.array([2, 0]), "dout": 1.0}
        return Case("the first case (x = [[1 2 3] [1 1 1]], t = [2 0])", inputs)

    def random_cases(self, rng) -> list[Case]:
        cases = []
        for index, (n, k) in enumerate([(5, 4), (8, 10), (1, 3)], start=1):
            inputs = {"x": rng.standard_normal((n, k)) * 2, "t": rng.integers(0, k, n), "dout": 1.0}
            cases.append(Case(f"case {index}/5: x {(n, k)}, labels t ({n},)", inputs))
        x = rng.standard_normal((6, 4))
        t = np.eye(4)[rng.integers(0, 4, 6)]
        cases.append(Case("case 4/5: x (6, 4), one-hot t (6, 4)", {"x": x, "t": t, "dout": 1.0},
                          {"one_hot": True}))
        x = np.array([[1e4, 1e4, -1e4, 0.0], [-1e4, 5e3, 1e4, 0.0], [1e4, -1e4, 1e4, 1e4]])
        cases.append(Case("case 5/5: large logits (±1e4), t = [0 2 3]",
                          {"x": x, "t": np.array([0, 2, 3]), "dout": 1.0}, {"large": True}))
        return cases

    def gradient_case(self, rng) -> Case:
        return Case("x (4, 5), t (4,)", {"x": rng.standard_normal((4, 5)), "t": rng.integers(0, 5, 4),
                                         "dout": 1.0})

    def forward_value(self, namespace, case: Case):
        layer = call("SoftmaxWithLoss()", definition(namespace, "SoftmaxWithLoss"))
        return call("SoftmaxWithLoss.forward", layer.forward, case.inputs["x"], case.inputs["t"],
                    names=("x", "t"))

    def run(self, namespace, case: Case) -> dict:
        layer = call("SoftmaxWithLoss()", definition(namespace, "SoftmaxWithLoss"))
        loss = call("SoftmaxWithLoss.forward", layer.forward, case.inputs["x"], case.inputs["t"],
                    names=("x", "t"))
        loss = as_array(loss, "SoftmaxWithLoss.forward's return value (the loss)")
        if loss.size != 1:
            raise StageFailure(f"SoftmaxWithLoss.forward returned an array of shape {loss.shape}; "
                               f"expected one number, the mean loss over the batch")
        dx = call("SoftmaxWithLoss.backward", layer.backward)
        return {"loss": loss.reshape(()), "dx": as_array(dx, "SoftmaxWithLoss.backward's return value")}

    def clues(self, case: Case, name: str, reference) -> dict:
        return {"factors": [(case.inputs["x"].shape[0], "the batch size N")]}

    def accepted(self, case: Case, name: str) -> list:
        """The book's cross_entropy_error adds 1e-7 inside the log: right too."""
        if name != "loss":
            return []
        x, t = case.inputs["x"], case.inputs["t"]
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        shifted = x - x.max(axis=1, keepdims=True)
        y = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return [np.array(-np.mean(np.log(y[np.arange(len(x)), labels] + 1e-7)))]

    def train(self, namespace, reference) -> str:
        x, labels = toy_data((6,), count=16)
        losses = []
        for source in (namespace, reference):
            model = Sequential(Linear(6, 8, dtype=np.float64, rng=np.random.default_rng(1)), ReLU(),
                               Linear(8, 3, dtype=np.float64, rng=np.random.default_rng(2)))
            loss = _LossAdapter(definition(source, "SoftmaxWithLoss"))
            losses.append(train_steps(model, x, labels, steps=5, lr=0.5, loss=loss))
        return same_trajectory(losses[0], losses[1], "Linear -> ReLU -> Linear with your loss, 5 SGD steps")


class _LossAdapter:
    """Use a learner's SoftmaxWithLoss where convnp expects a loss: value = loss(out, y); backward()."""

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, output, target):
        self.layer = self.cls()
        return float(as_array(call("SoftmaxWithLoss.forward", self.layer.forward, output, target,
                                   names=("x", "t")), "the loss").reshape(-1)[0])

    def backward(self):
        return as_array(call("SoftmaxWithLoss.backward", self.layer.backward), "dx")


class BatchNormSpec(Spec):
    """``BatchNormalization(gamma, beta)``: forward(x, train_flg), backward(dout)."""

    outputs = ("out", "dx", "dgamma", "dbeta")
    gradient_inputs = {"x": "dx", "gamma": "dgamma", "beta": "dbeta"}

    def first_case(self) -> Case:
        inputs = {"x": np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]]), "gamma": np.ones(2),
                  "beta": np.zeros(2), "dout": np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])}
        return Case("the first case (x = [[1 10] [3 20] [5 60]], gamma = 1, beta = 0)", inputs)

    def random_cases(self, rng) -> list[Case]:
        cases = []
        for index, (n, d) in enumerate([(8, 3), (16, 5), (4, 7)], start=1):
            inputs = {"x": rng.standard_normal((n, d)) * 3 + 1, "gamma": rng.uniform(0.5, 2, d),
                      "beta": rng.standard_normal(d), "dout": rng.standard_normal((n, d))}
            cases.append(Case(f"case {index}/3: x {(n, d)}", inputs))
        return cases

    def gradient_case(self, rng) -> Case:
        return self.random_cases(rng)[0]

    def _layer(self, namespace, case):
        return call("BatchNormalization(gamma, beta)", definition(namespace, "BatchNormalization"),
                    case.inputs["gamma"].copy(), case.inputs["beta"].copy())

    def forward_value(self, namespace, case: Case):
        return call("BatchNormalization.forward", self._layer(namespace, case).forward, case.inputs["x"],
                    True, names=("x",))

    def run(self, namespace, case: Case) -> dict:
        layer = self._layer(namespace, case)
        out = call("BatchNormalization.forward", layer.forward, case.inputs["x"], True, names=("x",))
        out = as_array(out, "BatchNormalization.forward's return value")
        dx = call("BatchNormalization.backward", layer.backward, case.inputs["dout"], names=("dout",))
        return {"out": out, "dx": as_array(dx, "BatchNormalization.backward's return value (dx)"),
                "dgamma": attribute(layer, "dgamma", "BatchNormalization"),
                "dbeta": attribute(layer, "dbeta", "BatchNormalization")}

    def clues(self, case: Case, name: str, reference) -> dict:
        return {"factors": [(case.inputs["x"].shape[0], "the batch size N")]}

    def test_mode(self, namespace, reference) -> str:
        """Three training batches, then one test batch: the running averages are used."""
        rng = np.random.default_rng(6)
        batches = [rng.standard_normal((8, 4)) * 3 + 2 for _ in range(4)]
        gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
        layer = call("BatchNormalization(gamma, beta)", definition(namespace, "BatchNormalization"),
                     gamma, beta)
        for batch in batches[:3]:
            call("BatchNormalization.forward", layer.forward, batch, True, names=("x",))
        got = as_array(call("BatchNormalization.forward", layer.forward, batches[3], False, names=("x",)),
                       "BatchNormalization.forward(x, train_flg=False)")
        # running variance biased (the book) or unbiased (torch), starting at 0 (the book) or 1 (torch)
        candidates = [_test_output(batches[:3], batches[3], gamma, beta, ddof, start)
                      for ddof in (0, 1) for start in (0.0, 1.0)]
        if any(close(got, candidate) for candidate in candidates):
            return "after 3 training batches, forward(x, train_flg=False) uses the running averages"
        message = compare("forward(x, train_flg=False)", got, candidates[0])
        raise StageFailure("after 3 training batches (momentum 0.9), test mode should normalize with "
                           "running_mean, running_var = momentum * running + (1 - momentum) * batch "
                           f"statistics (starting from 0).\n{message}")

    def train(self, namespace, reference) -> str:
        x, labels = toy_data((6,), count=16)
        rng = np.random.default_rng(1)
        gamma, beta = rng.uniform(0.5, 2, 8), np.zeros(8)
        losses = []
        for source in (namespace, reference):
            cls = definition(source, "BatchNormalization")
            norm = LearnerLayer(lambda g, b, cls=cls: cls(g, b), {"gamma": (gamma, "dgamma"),
                                "beta": (beta, "dbeta")}, "BatchNormalization", train_flag=True)
            model = Sequential(Linear(6, 8, dtype=np.float64, rng=np.random.default_rng(1)), norm, ReLU(),
                               Linear(8, 3, dtype=np.float64, rng=np.random.default_rng(2)))
            losses.append(train_steps(model, x, labels, steps=5, lr=0.2))
        return same_trajectory(losses[0], losses[1], "Linear -> your BatchNormalization -> ReLU -> "
                               "Linear, 5 SGD steps")


def _test_output(train_batches, x, gamma, beta, ddof, start, momentum=0.9, eps=1e-5):
    mean, var = np.zeros(x.shape[1]), np.full(x.shape[1], start)
    for batch in train_batches:
        mean = momentum * mean + (1 - momentum) * batch.mean(axis=0)
        var = momentum * var + (1 - momentum) * batch.var(axis=0, ddof=ddof)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
