"""Sequential: layers applied in order, with the explicit forward/backward loop and Keras' fit."""

from __future__ import annotations

import math

import numpy as np

from ..layers.activations import ReLU
from ..layers.base import Layer
from ..layers.conv import Conv2d
from ..layers.pooling import MaxPool2d
from . import training


def execution_order(layers) -> list[int]:
    """Indices of ``layers`` in the order ``forward`` runs them (``backward``: reversed).

    The given order, except that a ReLU directly followed by a MaxPool2d runs after the pool.
    Why it is allowed: ReLU is monotone, so ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly
    (NaN included), and the gradients agree too: both orders send ``dy`` to the window's first
    maximum when that maximum is positive, and nothing otherwise. Why it pays: after the pool the
    ReLU passes over 1/(KH*KW) of the numbers (simple-cnn's ReLU at batch 64, forward +
    backward: 1.4 -> 0.5 ms, benchmarks/RESULTS.md). Each layer still sees only its own forward and
    backward, so it works the same when called alone; only its cached input is the other one.
    """
    order = list(range(len(layers)))
    for k in range(len(order) - 1):  # a ReLU moves past consecutive pools, one at a time
        if type(layers[order[k]]) is ReLU and type(layers[order[k + 1]]) is MaxPool2d:
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def fused_relus(layers, order) -> dict[int, int]:
    """``{conv index: relu index}`` for each Conv2d that runs directly before a ReLU in ``order``.

    ``forward`` lets such a Conv2d apply the ReLU itself, to each piece of its output while it
    is still in cache, and hands the result to the ReLU as its output (``ReLU.adopt_output``):
    the same numbers, one pass over the whole activation in memory less (cifar-small's
    inference at batch 256: 5% faster). Backward is unchanged: each layer runs its own.
    """
    return {order[k]: order[k + 1] for k in range(len(order) - 1)
            if type(layers[order[k]]) is Conv2d and type(layers[order[k + 1]]) is ReLU}


class Sequential(Layer):
    """A stack of layers: ``forward`` runs them in order, ``backward`` in reverse (except that a
    ReLU feeding a MaxPool2d runs after it, and a Conv2d applies the ReLU that follows it, with
    the same results: :func:`execution_order`, :func:`fused_relus`).

    Parameters
    ----------
    *layers : Layer
        Applied first to last. ``model.layers`` is the list; ``model[i]`` one layer,
        ``model[a:b]`` a Sequential sharing those layers.

    Names of parameters follow torch (``"0.weight"``, ``"3.bias"``, ``"2.1.weight"`` for a
    nested Sequential), so ``state_dict`` / ``load_state_dict`` exchange weights with an
    equivalent ``torch.nn.Sequential`` without transposes.
    """

    def __init__(self, *layers):
        super().__init__()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: argument {index} must be a layer such as "
                                f"cn.Conv2d(...), got {type(layer).__name__}")
        self.layers = list(layers)
        self.stop_training = False
        self.metadata = {}  # JSON-compatible facts saved with the model, e.g. class names

    def children(self):
        return {str(index): layer for index, layer in enumerate(self.layers)}

    def forward(self, x):
        """Apply every layer in order (see :func:`execution_order`). Errors name the failing
        layer's index."""
        return self.forward_labelled(x, "layer ")

    def forward_labelled(self, x, prefix: str):
        """:meth:`forward`, naming a failing layer as ``prefix`` + its index in the error."""
        order = execution_order(self.layers)
        fused = fused_relus(self.layers, order)
        adopting = set(fused.values())
        for index in order:
            layer = self.layers[index]
            try:
                if index in fused:
                    x = layer.forward(x, relu=True)
                elif index in adopting:
                    x = layer.adopt_output(x)
                else:
                    x = layer.forward(x)
            except (ValueError, TypeError) as error:
                if type(error) not in (ValueError, TypeError):
                    raise
                raise type(error)(f"{prefix}{index} {error}") from None
        return x

    def backward(self, dy, *, input_grad=True):
        """Back-propagate ``dy`` (d loss / d output) through every layer in reverse.

        Fills each Parameter's ``grad`` and returns d loss / d input. With ``input_grad=False``
        (what ``fit`` uses) the first layer may skip computing it — nothing consumes the
        gradient of the data — and None is returned.
        """
        order = execution_order(self.layers)
        first = self.layers[order[0]] if order else None
        skip = not input_grad and getattr(first, "need_input_grad", False)
        if skip:
            first.need_input_grad = False
        try:
            for index in reversed(order):
                dy = self.layers[index].backward(dy)
        finally:
            if skip:
                first.need_input_grad = True
        return dy if input_grad else None

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def summary(self, input_shape) -> str:
        """A table of layers, output shapes and parameter counts (Keras' ``summary``).

        Parameters
        ----------
        input_shape : tuple
            Shape of one sample without the batch axis, e.g. ``(1, 28, 28)``. A forward pass
            on a zero batch of one sample (in eval mode) finds the output shapes.
        """
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

    def __repr__(self):
        inner = "".join(f"\n  ({index}): " + repr(layer).replace("\n", "\n  ")
                        for index, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)" if self.layers else "Sequential()"
