"""The studio's state: one model, its lock, the data, and a training loop in a background thread.

Training mutates the weights and runs the model in training mode; explaining needs a consistent
snapshot in eval mode. Both happen under ``Studio.lock``: a training step holds it from forward
to ``optimizer.step()``, and :meth:`Studio.explain` switches to eval mode and back inside it, so
an explanation never sees half-updated weights and never leaves the model in the wrong mode.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .. import optim
from ..losses import CrossEntropyLoss
from . import layerwise

VALIDATE_EVERY = 25  # training steps between two validation-accuracy points
VALIDATION_SIZE = 500  # test images used for each validation point
CURVE_POINTS = 1000  # the API returns at most this many of the latest per-step points
MAX_BATCH = 1024


class Studio:
    """A model being explored and trained.

    Parameters
    ----------
    model : Sequential
    data : ((x_train, y_train), (x_test, y_test)), x (N, C, H, W) float32 in [0, 1]
    classes : list of str
    lr, batch_size : the training settings (editable while training runs)
    seed : int, for the order of the training batches
    name : str, how the page and its shared links name the model
    """

    def __init__(self, model, data, classes, *, lr=0.01, batch_size=32, seed=0, name="model"):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = data
        self.model, self.classes = model, list(classes)
        self.input_shape = tuple(int(v) for v in self.x_train.shape[1:])
        self.lock = threading.Lock()
        self.optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.step_count = 0
        self.loss, self.accuracy, self.val_steps, self.val_accuracy = [], [], [], []
        self.running = False
        self.error = None  # why training stopped by itself (a non-finite loss), for the page
        self._thread = None
        self._stop = threading.Event()
        self._control = threading.Lock()  # one start/pause at a time (requests run in threads)
        with self.lock:
            self._description = self._in_eval(
                lambda: layerwise.describe_model(model, self.input_shape, self.classes))
        self._description = {"model": str(name), **self._description}

    # ----- explore -------------------------------------------------------------------------
    def describe(self) -> dict:
        """``GET /api/model``."""
        return self._description

    def explain(self, image, target=None) -> dict:
        """``POST /api/explain`` for one validated image (C, H, W); adds the training step."""
        with self.lock:
            result = self._in_eval(lambda: layerwise.explain(self.model, image, target))
            result["step"] = self.step_count
        return result

    def sample(self, index: int) -> dict:
        """Test image ``index`` (wrapped around the test set) and its label."""
        index = int(index) % len(self.x_test)
        return {"index": index, "label": int(self.y_test[index]),
                "image": self.x_test[index].astype(np.float64).tolist()}

    def _in_eval(self, compute):
        """Run ``compute()`` in eval mode and restore every layer's training flag afterwards."""
        flags = [(layer, layer.training) for layer in _all_layers(self.model)]
        self.model.eval()
        try:
            return compute()
        finally:
            for layer, flag in flags:
                layer.training = flag

    # ----- learn ---------------------------------------------------------------------------
    def configure(self, lr=None, batch_size=None) -> None:
        """Change the learning rate and/or batch size (takes effect at the next step)."""
        with self.lock:
            if lr is not None:
                self.optimizer.lr = float(lr)
            if batch_size is not None:
                self.batch_size = int(batch_size)

    def step(self) -> None:
        """One SGD step on a random batch, in training mode (holds the lock throughout)."""
        with self.lock:
            picks = self.rng.integers(0, len(self.x_train), size=min(self.batch_size, len(self.x_train)))
            x, y = self.x_train[picks], self.y_train[picks]
            self.model.train()
            loss = CrossEntropyLoss()
            logits = self.model.forward(x)
            value = loss(logits, y)
            before = [param.data.copy() for param in self.optimizer.params]
            self.optimizer.zero_grad()
            self.model.backward(loss.backward(), input_grad=False)
            self.optimizer.step()
            if not (np.isfinite(value) and all(np.isfinite(p.data).all() for p in self.optimizer.params)):
                for param, saved in zip(self.optimizer.params, before, strict=True):
                    param.data[...] = saved  # undo: the weights the page shows stay finite
                self.error = (f"training stopped at step {self.step_count}: the loss or the weights "
                              f"became non-finite; lower the learning rate (now {self.optimizer.lr:g})")
                self._stop.set()
                return
            self.error = None
            self.step_count += 1
            self.loss.append(float(value))
            self.accuracy.append(float(np.mean(np.argmax(logits, axis=1) == y)))
            if self.step_count % VALIDATE_EVERY == 0:
                self._validate()

    def _validate(self) -> None:
        """Accuracy on the first ``VALIDATION_SIZE`` test images, in eval mode (lock held); once per step."""
        if self.val_steps and self.val_steps[-1] == self.step_count:
            return
        x, y = self.x_test[:VALIDATION_SIZE], self.y_test[:VALIDATION_SIZE]
        logits = self._in_eval(lambda: self.model.predict(x))
        self.val_steps.append(self.step_count)
        self.val_accuracy.append(float(np.mean(np.argmax(logits, axis=1) == y)))

    def start(self) -> None:
        """Train in a background thread until :meth:`pause`."""
        with self._control:
            if self.running:
                return
            self.running = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="convnp-studio-training", daemon=True)
            self._thread.start()

    def pause(self) -> None:
        """Stop the training thread after its current step and wait for it."""
        with self._control:
            self._stop.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=30)
            self.running = False
            self._thread = None
        if thread is not None and self.step_count:
            with self.lock:
                self._validate()  # the test accuracy where training paused

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
                time.sleep(0.002)  # let explain requests take the lock between steps
        finally:
            self.running = False

    def training_state(self) -> dict:
        """``GET /api/train``: progress, the latest curve points, first-layer kernels and dW."""
        with self.lock:
            first = len(self.loss) - min(len(self.loss), CURVE_POINTS)
            kernels = layerwise.kernels(self.model)[:1]
            return {"running": self.running, "step": self.step_count,
                    "loss": self.loss[first:], "accuracy": self.accuracy[first:], "curve_start": first + 1,
                    "val_accuracy": list(self.val_accuracy), "val_steps": list(self.val_steps),
                    "lr": float(self.optimizer.lr), "batch_size": self.batch_size, "error": self.error,
                    "optimizer": f"SGD, momentum {self.optimizer.momentum:g}",
                    "first_kernels": kernels[0] if kernels else None}


def _all_layers(layer) -> list:
    """``layer`` and every layer inside it (Sequential, Residual branches and shortcuts)."""
    found = [layer]
    for child in layer.children().values():
        found += _all_layers(child)
    return found
