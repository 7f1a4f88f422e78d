"""The capstone: the learner's five classes as a CNN, trained by the checker on mnist-sample.

Conv(8 filters 5x5) -> Relu -> MaxPool(2x2, stride 2) -> Affine(1152 -> 10) -> SoftmaxWithLoss,
Adam (lr 3e-3, then 1e-3 for the second epoch), batches of 50, two epochs over the 8,000
training digits; then the accuracy on the 2,000 test digits must reach :data:`TARGET` (the
reference reaches 95.95% in about 25 s of CPU time).
"""

from __future__ import annotations

import time

import numpy as np

from .. import datasets
from ..model import Sequential
from ..optim import Adam
from .conv_specs import ConvSpec
from .harness import LearnerLayer
from .layer_specs import ActivationSpec, AffineSpec
from .learner import definition
from .loss_norm_specs import SoftmaxWithLossSpec, _LossAdapter
from .pool_specs import PoolSpec
from .stages import StageFailure, compare_case

TARGET = 0.95
EPOCHS, BATCH, LR, FILTERS = 2, 50, 3e-3, 8
SECOND_EPOCH_LR = 1e-3  # a smaller step for the last epoch settles the weights
PROBE_BATCHES, MAX_SECONDS = 5, 600  # after 5 batches, give up if the run would take over 10 min
CLASSES = ("Convolution", "Relu", "MaxPool", "Affine", "SoftmaxWithLoss")


def classes_stage(namespace, reference) -> str:
    for name in CLASSES:
        definition(namespace, name)
    return "found " + ", ".join(CLASSES)


def layers_stage(namespace, reference) -> str:
    """Each class on its exercise's first case and two random cases."""
    specs = [("Convolution", ConvSpec(backward=True)), ("Relu", ActivationSpec("Relu")),
             ("MaxPool", PoolSpec(backward=True)), ("Affine", AffineSpec()),
             ("SoftmaxWithLoss", SoftmaxWithLossSpec())]
    for name, spec in specs:
        cases = [spec.first_case()] + spec.random_cases(np.random.default_rng(0))[:4]
        for case in cases:
            failure = compare_case(spec, namespace, reference, case)
            if failure:
                raise StageFailure(f"{name} (run `convnp exercise check` on its own exercise for "
                                   f"every stage): {failure}")
    return "each class matches the reference on small cases"


def build(namespace, rng):
    """The CNN of the module docstring from ``namespace``'s classes, with He-initialised weights."""
    conv_cls, relu_cls, pool_cls, affine_cls = (definition(namespace, name) for name in CLASSES[:4])
    weight1 = rng.standard_normal((FILTERS, 1, 5, 5)) * np.sqrt(2 / 25)
    weight2 = rng.standard_normal((FILTERS * 12 * 12, 10)) * np.sqrt(2 / (FILTERS * 144))
    layers = [
        LearnerLayer(lambda W, b: conv_cls(W, b, 1, 0),
                     {"W": (weight1, "dW"), "b": (np.zeros(FILTERS), "db")},
                     "Convolution", watch=False),
        LearnerLayer(relu_cls, {}, "Relu", watch=False),
        LearnerLayer(lambda: pool_cls(2, 2, 2, 0), {}, "MaxPool", watch=False),
        LearnerLayer(affine_cls, {"W": (weight2, "dW"), "b": (np.zeros(10), "db")}, "Affine", watch=False),
    ]
    return Sequential(*layers), _LossAdapter(definition(namespace, "SoftmaxWithLoss"))


def training_stage(namespace, reference) -> str:
    (x_train, y_train), (x_test, y_test) = datasets.load("mnist-sample")
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)  # as the weights
    model, loss = build(namespace, np.random.default_rng(0))
    optimizer = Adam(model.parameters(), lr=LR)
    order_rng = np.random.default_rng(1)
    started = time.perf_counter()
    for epoch in range(EPOCHS):
        optimizer.lr = LR if epoch == 0 else SECOND_EPOCH_LR
        order = order_rng.permutation(len(x_train))
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            value = loss(model.forward(x_train[batch]), y_train[batch])
            if not np.isfinite(value):
                raise StageFailure(f"epoch {epoch + 1}: the loss became {value} at image {start}")
            model.backward(loss.backward())
            optimizer.step()
            if epoch == 0 and start == (PROBE_BATCHES - 1) * BATCH:
                _check_speed(model, time.perf_counter() - started, len(x_train))
    accuracy = evaluate(model, x_test, y_test)
    seconds = time.perf_counter() - started
    summary = (f"{EPOCHS} epochs of Adam on {len(x_train)} mnist-sample digits: test accuracy "
               f"{accuracy:.2%} (target {TARGET:.0%}), {seconds:.0f} s")
    if accuracy < TARGET:
        raise StageFailure(summary)
    return summary


def _check_speed(model, seconds, images) -> None:
    """Give up early, naming the slowest layer, when the whole run would take over MAX_SECONDS."""
    projected = seconds / (PROBE_BATCHES * BATCH) * images * EPOCHS
    if projected > MAX_SECONDS:
        slowest = max(model.layers, key=lambda layer: layer.seconds)
        raise StageFailure(
            f"too slow: {PROBE_BATCHES} batches of {BATCH} took {seconds:.1f} s, so training would "
            f"take about {projected / 60:.0f} minutes; {slowest!r} took {slowest.seconds:.1f} s of it. "
            f"Vectorise it with im2col (see docs/workbook.md, steps 3 to 7).")


def evaluate(model, x, labels, batch=500) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(x), batch):
        predicted = model.forward(x[start:start + batch]).argmax(axis=1)
        correct += int(np.sum(predicted == labels[start:start + batch]))
    model.train()
    return correct / len(x)
