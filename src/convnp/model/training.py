"""The Keras-like loop: ``fit`` (mini-batch training), ``evaluate`` and ``predict``.

Each training step is exactly the explicit loop a reader would write by hand::

    logits = model.forward(x_batch)
    value = loss(logits, y_batch)
    model.backward(loss.backward())
    optimizer.step()
"""

from __future__ import annotations

import math
import numbers
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from .. import engines
from .._checks import positive_int
from .callbacks import History, call_hook
from .checks import check_data, check_labels, check_loss, check_optimizer, check_seed


class NonFiniteLossError(FloatingPointError, RuntimeError):
    """The loss became NaN or infinite during ``fit`` (message names epoch and batch)."""


def model_dtype(model) -> np.dtype:
    """The dtype of the model's parameters (float32 if it has none)."""
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float32)


def correct_count(output, y) -> int | None:
    """Correct predictions in a batch, or None when the task is not classification.

    Classification means (N, K) outputs with K > 1 and integer labels (N,) or probabilities (N, K).
    """
    if output.ndim != 2 or output.shape[1] < 2:
        return None
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        labels = y
    elif y.shape == output.shape:
        labels = y.argmax(axis=1)
    else:
        return None
    return int(np.count_nonzero(output.argmax(axis=1) == labels))


def batch_slices(n: int, batch_size: int):
    """Consecutive ``slice`` objects covering ``range(n)`` in steps of ``batch_size``."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def fit(model, x, y, *, loss, optimizer, epochs=1, batch_size=32, validation_data=None,
        shuffle=True, seed=None, callbacks=(), verbose=True, initial_epoch=0, augment=None,
        clip_grad_norm=None, distributed=None) -> History:
    """Train ``model`` with mini-batches; see :meth:`convnp.Sequential.fit`."""
    check_data(x, y, "fit")
    check_optimizer(model, optimizer, "fit")
    check_loss(loss, "fit")
    check_seed(seed, "fit")
    epochs = positive_int(epochs, "epochs", "fit")
    if not isinstance(initial_epoch, numbers.Integral) or not 0 <= initial_epoch < epochs:
        raise ValueError(f"fit: initial_epoch must be an int in [0, epochs), got {initial_epoch!r}")
    batch_size = positive_int(batch_size, "batch_size", "fit")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        check_data(*validation_data, "fit (validation_data)")
    rng = np.random.default_rng(seed)  # a Generator passed as seed is used (and advanced) as is
    parallel = None  # with distributed="mpi": the few points where K processes act as one
    if distributed is not None:
        from ..distributed import start

        parallel = start(distributed, model, optimizer, rng, x, {
            "batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch})
        callbacks, verbose = parallel.rank_callbacks(callbacks), verbose and parallel.group.is_root
    history = History()
    callbacks = [*callbacks, history]  # last, as in Keras: it records what the others add to logs
    for callback in callbacks:
        if hasattr(callback, "set_model"):
            callback.set_model(model)
    model.stop_training = False
    call_hook(callbacks, "on_train_begin", {})
    for epoch in range(initial_epoch, epochs):
        call_hook(callbacks, "on_epoch_begin", epoch, {})
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        started = time.perf_counter()
        step = (_TrainStep if parallel is None else parallel.train_step)(
            model, loss, optimizer, augment, clip_grad_norm, rng)
        if epoch == initial_epoch and parallel is None:  # all labels, checked once K (the model's
            step.label_checks = [(y, "fit"), *([] if validation_data is None else  # outputs) is known
                                               [(validation_data[1], "fit (validation_data)")])]
        logs = _train_epoch(x, y, order, step, batch_size, callbacks, f"Epoch {epoch + 1}/{epochs}", verbose)
        seconds = time.perf_counter() - started
        if parallel is not None:
            parallel.end_epoch(model)
        if validation_data is not None:
            scores = (evaluate if parallel is None else parallel.evaluate)(
                model, *validation_data, loss=loss, batch_size=max(batch_size, 256))
            logs.update({f"val_{key}": value for key, value in scores.items()})
        call_hook(callbacks, "on_epoch_end", epoch, logs)
        if verbose:
            summary = "  ".join(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}"
                                for key, value in logs.items())
            print(f"Epoch {epoch + 1}/{epochs}  {summary}  ({seconds:.1f} s, "
                  f"{len(x) / seconds:.0f} img/s training)", file=sys.stderr)
        if model.stop_training:
            break
    call_hook(callbacks, "on_train_end", dict(history.history))
    engines.release_workspace()  # the work arrays kept for the next step go back
    return history


class _TrainStep:
    """One optimisation step on a batch: (augment) → forward → loss → backward → (clip) → step."""

    def __init__(self, model, loss, optimizer, augment, clip_grad_norm, rng):
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"fit: clip_grad_norm must be positive, got {clip_grad_norm!r}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.augment, self.clip_grad_norm, self.rng = augment, clip_grad_norm, rng
        self.dtype = model_dtype(model)
        self.label_checks = []  # (labels, who): checked against the first output, before any step

    def __call__(self, x_batch, y_batch):
        """Train on one batch; return (loss value, correct predictions or None)."""
        x_batch = x_batch.astype(self.dtype, copy=False)
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.rng)
        output = self.model.forward(x_batch)
        for labels, who in self.label_checks:
            check_labels(output, labels, who)
        self.label_checks = []
        value = self.loss(output, y_batch)
        if math.isfinite(value):
            self.model.backward(self.loss.backward(), input_grad=False)
            if self.clip_grad_norm is not None:
                clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
        return value, correct_count(output, y_batch)


def clip_grad_norm_(params, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most ``max_norm``.

    torch.nn.utils.clip_grad_norm_'s rule: ``total = sqrt(sum ||g||^2)``; if ``total > max_norm``
    every gradient is multiplied by ``max_norm / (total + 1e-6)``. Returns ``total``.
    """
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for p in params:
            p.grad *= scale
    return total


def _train_epoch(x, y, order, step, batch_size, callbacks, title, verbose):
    """One pass over ``x`` in the given sample order; returns the epoch's mean loss/accuracy."""
    step.model.train()
    total_loss, total_correct, seen, classification = 0.0, 0, 0, True
    started = time.perf_counter()
    parts = batch_slices(len(x), batch_size)
    bar = tqdm(parts, desc=title, unit="batch", leave=False, disable=not verbose, file=sys.stderr)
    for batch, part in enumerate(bar):
        index = order[part]
        call_hook(callbacks, "on_train_batch_begin", batch, {"size": len(index)})
        value, correct = step(x[index], y[index])
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"fit: the loss became {value} in {title.lower()}, batch {batch + 1}/{len(parts)} (samples "
                f"{part.start}..{part.stop - 1} of the shuffled order); lower the learning rate or "
                f"check the data for NaN/inf")
        classification = classification and correct is not None
        total_loss, seen = total_loss + value * len(index), seen + len(index)
        total_correct += correct or 0
        logs = {"loss": value}
        if correct is not None:
            logs["accuracy"] = correct / len(index)
        call_hook(callbacks, "on_train_batch_end", batch, logs)
        rate = seen / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{total_correct / seen:.4f}",
                        img_s=f"{rate:.0f}", refresh=False)
    bar.close()
    logs = {"loss": total_loss / seen}
    if classification:
        logs["accuracy"] = total_correct / seen
    return logs


def evaluate(model, x, y, *, loss=None, batch_size=256) -> dict:
    """Mean loss (when ``loss`` is given) and accuracy (classification) over ``x``, in eval mode."""
    check_data(x, y, "evaluate")
    check_loss(loss, "evaluate", required=False)
    batch_size = positive_int(batch_size, "batch_size", "evaluate")
    was_training, dtype = model.training, model_dtype(model)
    model.eval()
    try:
        total_loss, total_correct, classification = 0.0, 0, True
        for part in batch_slices(len(x), batch_size):
            output = _inference_forward(model, x[part].astype(dtype, copy=False))
            check_labels(output, y[part], "evaluate")
            if loss is not None:
                total_loss += loss(output, y[part]) * len(output)
            correct = correct_count(output, y[part])
            classification = classification and correct is not None
            total_correct += correct or 0
    finally:
        model.train(was_training)
    scores = {} if loss is None else {"loss": total_loss / len(x)}
    if classification:
        scores["accuracy"] = total_correct / len(x)
    return scores


def _inference_forward(model, x_batch):
    """The model's output in eval mode with no backward to follow: its ``_inference_forward`` (a
    Sequential may split the batch over the engine's threads), else its ``forward``."""
    return getattr(model, "_inference_forward", model.forward)(x_batch)


def predict(model, x, batch_size=256) -> np.ndarray:
    """Model outputs for every sample of ``x``, computed in eval mode in batches."""
    check_data(x, None, "predict", need_y=False)
    batch_size = positive_int(batch_size, "batch_size", "predict")
    was_training, dtype = model.training, model_dtype(model)
    model.eval()
    try:
        outputs = [_inference_forward(model, x[part].astype(dtype, copy=False))
                   for part in batch_slices(len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outputs, axis=0)
