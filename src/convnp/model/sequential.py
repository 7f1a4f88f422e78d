"""Sequential: layers applied in order, with the explicit forward/backward loop and Keras' fit."""

from __future__ import annotations

import math

import numpy as np

from .. import engines
from .._checks import positive_int
from ..fast import inference, planner, split
from ..layers.container import Chain
from . import training

MAX_SUMMARY_VALUES = 2**26  # numbers in one sample that summary() will run through the model


class Sequential(Chain):
    """A stack of layers: ``forward`` runs them in order, ``backward`` in reverse.

    Parameters
    ----------
    *layers : Layer
        Applied first to last. ``model.layers`` is the list; ``model[i]`` one layer,
        ``model[a:b]`` a Sequential sharing those layers.

    Names of parameters follow torch (``"0.weight"``, ``"3.bias"``, ``"2.1.weight"`` for a
    nested Sequential), so ``state_dict`` / ``load_state_dict`` exchange weights with an
    equivalent ``torch.nn.Sequential`` without transposes.

    Under the reference engine ``forward`` is the plain loop of :class:`~convnp.layers.Chain`:
    each layer's ``forward(x)`` once, in order. Under the fast engine (the default) the same
    layers run by the engine's plan (:func:`convnp.fast.planner.plan`), which may reorder a
    ReLU past a max-pool or fuse a convolution with its ReLU: the same numbers, less work.
    """

    def __init__(self, *layers):
        super().__init__(*layers)
        self.stop_training = False
        self.metadata = {}  # JSON-compatible facts saved with the model, e.g. class names
        self._plan = None  # the fast engine's plan of the last forward pass

    def forward(self, x):
        """Apply every layer in order. Errors name the failing layer's index.

        What the last pass kept for ``backward`` is dropped first (a ``backward`` after this
        pass needs this pass's), so a training step never holds two steps' caches at once."""
        threaded = self._plan is not None and self._plan.threaded  # the last pass split its work
        self._drop_caches()  # kept while this pass runs, the last pass's caches would double the memory
        if engines.get_engine() != "fast":
            return super().forward(x)
        self._plan = split.split_plan(self.layers, x) if self.training else None  # over processes
        if self._plan is None:
            self._plan = planner.plan(self.layers, self.training)
            self._plan.threaded = threaded  # then BLAS stays on one thread (parallel.single_threaded_blas)
        return self._plan.forward(x)

    def _drop_caches(self) -> None:
        super()._drop_caches()
        self._plan = None  # its steps hold the fast engine's caches

    def _inference_forward(self, x):
        """``forward`` for ``predict`` and ``evaluate`` (eval mode, no ``backward`` to follow):
        on the fast engine a large batch runs in parts, one per engine thread, each through the
        whole model (:mod:`convnp.fast.inference`); the same numbers up to float rounding."""
        if engines.get_engine() != "fast" or self.training:
            return self.forward(x)
        return inference.infer(self.layers, x, self.forward)

    def backward(self, dy, *, input_grad=True):
        """Back-propagate ``dy`` (d loss / d output) through every layer in reverse.

        Fills each Parameter's ``grad`` and returns d loss / d input. With ``input_grad=False``
        (what ``fit`` uses) the first layer may skip computing it — nothing consumes the
        gradient of the data — and None is returned.
        """
        if self._plan is not None:
            return self._plan.backward(dy, input_grad)
        dx = super().backward(dy)
        return dx if input_grad else None

    def summary(self, input_shape) -> str:
        """A table of layers, output shapes and parameter counts (Keras' ``summary``).

        Parameters
        ----------
        input_shape : tuple
            Shape of one sample without the batch axis, e.g. ``(1, 28, 28)``. A forward pass
            on a zero batch of one sample (in eval mode) finds the output shapes.
        """
        if not isinstance(input_shape, (tuple, list)):
            raise TypeError(f"summary: input_shape must be a tuple such as (1, 28, 28), got {input_shape!r}")
        input_shape = tuple(positive_int(size, "every size in input_shape", "summary")
                            for size in input_shape)
        if math.prod(input_shape) > MAX_SUMMARY_VALUES:
            raise ValueError(f"summary: input_shape {input_shape} holds {math.prod(input_shape):,} values a "
                             f"sample, more than the {MAX_SUMMARY_VALUES:,} summary will allocate")
        x = np.zeros((1, *input_shape), dtype=training.model_dtype(self))
        rows, was_training = [], self.training
        self.eval()
        try:
            for index, layer in enumerate(self.layers):
                x = self[index:index + 1].forward(x)
                count = sum(p.size for p in layer.parameters())
                rows.append((f"{index}: {layer!r}", f"(N, {', '.join(map(str, x.shape[1:]))})", count))
        finally:
            self.train(was_training)
        widths = [max(len(row[0]) for row in rows + [("Layer", "", 0)]) + 2, 22, 12]
        line = "=" * sum(widths)
        text = [f"{'Layer':<{widths[0]}}{'Output shape':<{widths[1]}}{'Param #':>{widths[2]}}", line]
        text += [f"{name:<{widths[0]}}{shape:<{widths[1]}}{count:>{widths[2]},}"
                 for name, shape, count in rows]
        total = sum(math.prod(p.shape) for p in self.parameters())
        text += [line, f"Input shape: (N, {', '.join(map(str, input_shape))})",
                 f"Total params: {total:,}"]
        return "\n".join(text)

    def fit(self, x, y, *, loss, optimizer, epochs=1, batch_size=32, validation_data=None,
            shuffle=True, seed=None, callbacks=(), verbose=True, initial_epoch=0, augment=None,
            clip_grad_norm=None, distributed=None):
        """Train on ``(x, y)`` in mini-batches (Keras' ``fit``).

        Parameters
        ----------
        x : ndarray (N, ...) floating; y : ndarray (N,) int labels or (N, K) targets
        loss : a loss object, e.g. ``cn.CrossEntropyLoss()``
        optimizer : e.g. ``cn.optim.Adam(model.parameters())``
        epochs, batch_size : int
        validation_data : (x_val, y_val), optional, evaluated after every epoch
        shuffle : bool
        seed : int, numpy.random.Generator or None
            Makes the shuffling order reproducible; a Generator is used and advanced in place
            (so a checkpoint can save its state and a resumed run continue it exactly).
        callbacks : iterable of :class:`convnp.Callback` (or objects with some of its hooks)
        verbose : bool, a progress bar per epoch (loss, accuracy, img/s) and an epoch line
        initial_epoch : int, default 0
            Epoch to start at (Keras' meaning): ``fit(epochs=5, initial_epoch=2)`` runs the
            epochs numbered 3 to 5, e.g. to resume an interrupted run.
        augment : callable ``(x_batch, rng) -> x_batch``, optional
            Applied to every training batch (never to validation data), e.g.
            ``cn.datasets.transforms``; ``rng`` is fit's shuffling generator.
        clip_grad_norm : float, optional
            Rescale gradients so their joint L2 norm is at most this (torch's clip_grad_norm_).
        distributed : None, "mpi" or an mpi4py communicator
            Data-parallel training on the processes ``mpiexec`` started (``convnp.distributed``,
            Horovod's semantics): ``batch_size`` is the global batch, split over the processes,
            and must be divisible by their number; rank 0 alone prints and runs ``Checkpoint``.
            Needs the ``mpi`` extra; run the script with ``mpiexec -n K python -m mpi4py``.

        Returns
        -------
        History, with ``history.history["loss"]``, ``["accuracy"]`` and ``val_*`` per epoch.

        Raises
        ------
        NonFiniteLossError (a FloatingPointError) if the loss becomes NaN/inf, naming the batch.
        """
        return training.fit(self, x, y, loss=loss, optimizer=optimizer, epochs=epochs,
                            batch_size=batch_size, validation_data=validation_data,
                            shuffle=shuffle, seed=seed, callbacks=callbacks, verbose=verbose,
                            initial_epoch=initial_epoch, augment=augment,
                            clip_grad_norm=clip_grad_norm, distributed=distributed)

    def evaluate(self, x, y, *, loss=None, batch_size=256) -> dict:
        """``{"loss": …, "accuracy": …}`` over ``(x, y)`` in eval mode (loss only if given)."""
        return training.evaluate(self, x, y, loss=loss, batch_size=batch_size)

    def predict(self, x, batch_size=256) -> np.ndarray:
        """Model outputs (e.g. logits) for ``x``, in eval mode, computed in batches."""
        return training.predict(self, x, batch_size=batch_size)

    def save(self, path) -> None:
        """Write the architecture (JSON), ``metadata`` and weights to one ``.npz``, atomically."""
        from .serialization import save_model

        save_model(self, path)
