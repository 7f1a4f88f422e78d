"""Animation 5, training: the first convolution's kernels and feature maps evolving while a small
model learns mnist-sample.

:class:`KernelSnapshots` is a :class:`convnp.Callback` that records the first Conv2d's weights and
its feature maps for a fixed probe image (computed with :func:`convnp.functional.conv2d_forward`,
so the model's cached activations are untouched) before training and then every ``every`` batches
(or at every epoch end when ``every`` is None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from ..losses import CrossEntropyLoss
from ..model import Callback, Sequential
from ..optim import Adam
from ..viz.weights import find_conv


@dataclass
class TrainingFrame:
    """One snapshot of the first convolution."""

    step: int  # batches trained so far
    epoch: int
    loss: float | None  # loss of the last batch (None before training)
    weight: np.ndarray  # (O, C, KH, KW)
    feature_maps: np.ndarray  # (O, OH, OW) conv output (with bias) for the probe image


class KernelSnapshots(Callback):
    """Record the first Conv2d's weights and feature maps during ``fit``.

    Parameters
    ----------
    probe : ndarray, shape (1, C, H, W)
        The image whose feature maps are recorded.
    every : int or None
        Snapshot after every ``every`` batches; None: at the end of every epoch.

    Attributes
    ----------
    frames : list[TrainingFrame]
        One before training, then ``floor(batches / every)`` (or one per epoch).
    """

    def __init__(self, probe, every=None):
        super().__init__()
        self.probe, self.every = probe, every
        self.frames, self.step, self.epoch, self.losses = [], 0, 0, []

    def snapshot(self, loss=None):
        conv = find_conv(self.model)
        if conv is None:
            raise ValueError("KernelSnapshots: the model has no Conv2d layer")
        bias = None if conv.bias is None else conv.bias.data
        maps, _ = F.conv2d_forward(self.probe.astype(conv.weight.dtype), conv.weight.data, bias,
                                   conv.stride, conv.padding)
        self.frames.append(TrainingFrame(self.step, self.epoch, loss, conv.weight.data.copy(),
                                         np.array(maps[0])))

    def on_train_begin(self, logs=None):
        self.snapshot()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.losses.append(float((logs or {}).get("loss", np.nan)))
        if self.every is not None and self.step % self.every == 0:
            self.snapshot(self.losses[-1])

    def on_epoch_end(self, epoch, logs=None):
        if self.every is None:
            self.snapshot(self.losses[-1] if self.losses else None)


def training_frame_count(images, batch_size=32, epochs=1, every=None) -> int:
    """``1 + floor(epochs * ceil(images / batch_size) / every)``, or ``1 + epochs`` for ``every=None``."""
    if every is None:
        return 1 + epochs
    return 1 + epochs * math.ceil(images / batch_size) // every


def small_cnn(kernel=3, stride=1, padding=0, filters=6, seed=0) -> Sequential:
    """Conv(1→filters) → ReLU → MaxPool 2 → Linear(→10) for 28×28 images."""
    conv = Conv2d(1, filters, kernel, stride, padding, rng=seed)
    side = ((28 + 2 * padding - kernel) // stride + 1) // 2
    if side < 1:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding} leave nothing of a "
                         f"28×28 image")
    return Sequential(conv, ReLU(), MaxPool2d(2), Flatten(), Linear(filters * side * side, 10, rng=seed + 1))


def record_training(kernel=3, stride=1, padding=0, seed=0, images=4000, epochs=2, batch_size=32, every=10,
                    filters=6, model=None):
    """Train a small CNN on mnist-sample, recording snapshots; return ``(model, callback)``."""
    from .. import datasets
    from .inputs import _mnist_test_images

    (x, y), _ = datasets.load("mnist-sample")
    model = small_cnn(kernel, stride, padding, filters, seed) if model is None else model
    probe = _mnist_test_images()[seed % 2000][None, None].astype(np.float32)  # (1, 1, 28, 28)
    snapshots = KernelSnapshots(probe, every)
    model.fit(x[:images], y[:images], loss=CrossEntropyLoss(), optimizer=Adam(model.parameters(), lr=3e-3),
              epochs=epochs, batch_size=batch_size, seed=seed, callbacks=[snapshots], verbose=False)
    return model, snapshots
