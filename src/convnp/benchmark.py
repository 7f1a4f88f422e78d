"""Timing of training steps and inference: convnp alone, or against PyTorch in the same process.

Used by ``convnp bench`` and ``benchmarks/bench_vs_torch.py``. Comparisons alternate the two
frameworks (A B A B …) after a warm-up and report the median of the pairwise ratios, which
cancels most of the noise of a shared machine.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from . import models
from .losses import CrossEntropyLoss
from .optim import SGD

# The CIFAR nets take 3x32x32 images, all others 1x28x28.
INPUT_SHAPES = {name: (3, 32, 32) for name in models.names() if name.startswith("cifar")}


def make_model_and_batch(net, batch_size, image_size=None, seed=0):
    """A zoo model (float32) and one random batch ``(x, y)`` of its input shape."""
    shape = INPUT_SHAPES.get(net, (1, 28, 28))
    if image_size is not None:
        shape = (shape[0], image_size, image_size)
    model = models.build(net, shape, 10, rng=seed)
    rng = np.random.default_rng(seed)
    return model, rng.random((batch_size, *shape), dtype=np.float32), rng.integers(0, 10, batch_size)


MOMENTUM = 0.9  # both frameworks train with momentum SGD, the zoo recipes' optimizer


class ConvnpStep:
    """One training step (forward, cross-entropy, backward, momentum SGD step) or one inference pass."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.loss = CrossEntropyLoss()
        self.optimizer = SGD(model.parameters(), lr=0.01, momentum=MOMENTUM)

    def train(self):
        value = self.loss(self.model.forward(self.x), self.y)
        self.model.backward(self.loss.backward(), input_grad=False)  # as fit does
        self.optimizer.step()
        return value

    def infer(self):
        return self.model.predict(self.x, batch_size=len(self.x))


class OnnxRuntimeStep:
    """Inference of a torch twin exported to ONNX, run by onnxruntime on ``threads`` threads: the
    anchor a user would pick for CPU inference (needs torch, onnx and onnxruntime)."""

    def __init__(self, twin, x, threads=2, profiling=False):
        import io
        import warnings

        import onnxruntime
        import torch

        buffer = io.BytesIO()
        with warnings.catch_warnings():  # the exporter's notes about its own internals
            warnings.simplefilter("ignore")
            torch.onnx.export(twin.eval(), torch.from_numpy(x[:1]), buffer, dynamo=False,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}})
        twin.train()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        if profiling:  # then session.end_profiling() writes a JSON file there and returns its name
            import tempfile

            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(tempfile.gettempdir(), "convnp-onnxruntime-profile")
        self.session = onnxruntime.InferenceSession(buffer.getvalue(), options,
                                                    providers=["CPUExecutionProvider"])
        self.x = x

    def infer(self):
        return self.session.run(None, {"x": self.x})[0]


class TorchStep:
    """The same step for a torch.nn twin (torch imported by the caller)."""

    def __init__(self, twin, x, y):
        import torch

        self.torch, self.twin = torch, twin
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.loss = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=MOMENTUM)

    def train(self):
        self.optimizer.zero_grad(set_to_none=True)
        value = self.loss(self.twin(self.x), self.y)
        value.backward()
        self.optimizer.step()
        return value.item()

    def infer(self):
        self.twin.eval()
        with self.torch.no_grad():
            out = self.twin(self.x)
        self.twin.train()
        return out


def calls_per_second(function, seconds):
    """Run ``function`` repeatedly for about ``seconds``; return calls per second."""
    calls, start = 0, time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def throughput(function, batch_size, seconds, rounds):
    """Median images per second of ``function`` over ``rounds`` timed runs, after a warm-up."""
    function(), function()
    return statistics.median(calls_per_second(function, seconds) * batch_size for _ in range(rounds))


def compare(convnp_fn, torch_fn, batch_size, seconds, rounds):
    """Interleaved A B A B timing; returns (convnp img/s, torch img/s, median pairwise ratio)."""
    (a, b), (ratio,) = compare_many([convnp_fn, torch_fn], batch_size, seconds, rounds)
    return a, b, ratio


def compare_many(functions, batch_size, seconds, rounds):
    """Interleaved timing of several functions (A B C A B C …) after a warm-up.

    Returns ``(rates, ratios)``: each function's median img/s, and for each function after the
    first the median of the pairwise ratios first / it (measured in the same round).
    """
    for function in functions * 2:  # warm-up
        function()
    runs = [[calls_per_second(function, seconds) * batch_size for function in functions]
            for _ in range(rounds)]
    rates = [statistics.median(run[k] for run in runs) for k in range(len(functions))]
    ratios = [statistics.median(run[0] / run[k] for run in runs) for k in range(1, len(functions))]
    return rates, ratios
