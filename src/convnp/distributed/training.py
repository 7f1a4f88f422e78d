"""Data-parallel ``fit`` with Horovod's semantics: what each rank does differently from one process.

``fit(..., distributed="mpi")`` runs the ordinary training loop on every rank, with four changes
(:func:`start` makes the :class:`DataParallel` object that ``convnp.model.training.fit`` calls):

1. At the start every rank checks that its model, data and settings match rank 0's, then adopts
   rank 0's weights, buffers, optimizer state and shuffling-generator state (so every rank
   shuffles alike), and gives each Dropout layer its own random stream per rank.
2. Each step takes the global batch of ``batch_size`` samples the single process would take,
   augments it whole (the same draws as one process: the generators stay in step), and trains on
   rank ``r``'s contiguous 1/K of it. The gradients, each multiplied by the rank's sample count,
   and the loss sum, correct count and sample count travel in one flat buffer through one
   Allreduce; dividing by the total count gives exactly the global batch's mean gradient, also for
   a last batch of the epoch that does not split evenly (its slices differ by one sample).
3. After every epoch the BatchNorm running statistics are averaged over the ranks; validation
   is split across ranks and its sums reduced.
4. Rank 0 alone prints progress and runs callbacks marked ``rank_zero_only`` (``Checkpoint``).
"""

from __future__ import annotations

import math

import numpy as np

from ..model import training
from ..model.checkpoint import Checkpoint
from .group import MPIGroup, connect

TAIL = 4  # buffer slots after the gradients: loss sum, correct count, sample count, non-classifying ranks


def shard(n: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous part of ``range(n)`` split ``size`` ways (``np.array_split``'s
    sizes: the first ``n % size`` parts have one sample more)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def start(spec, model, optimizer, rng, x, settings: dict) -> DataParallel:
    """Connect to the group ``spec`` names, check every rank agrees, adopt rank 0's state.

    Parameters
    ----------
    spec : "mpi" or an mpi4py communicator
    model, optimizer : what ``fit`` trains
    rng : numpy.random.Generator, fit's shuffling generator (set to rank 0's state)
    x : ndarray, the training inputs (their count and sample shape are compared)
    settings : dict with ``batch_size`` and the other arguments that must agree across ranks

    Raises
    ------
    ImportError without mpi4py; ValueError when a rank's model, data or settings differ from
    rank 0's or when ``batch_size`` is not divisible by the number of processes: rank 0 raises it,
    and ends the whole job when it exits (see :meth:`MPIGroup.fail_together`).
    """
    group = connect(spec)
    facts = {f"parameter {name}": (p.shape, str(p.dtype)) for name, p in model.named_parameters().items()}
    facts.update({f"buffer {name}": (b.shape, str(b.dtype)) for name, b in model.named_buffers().items()})
    facts.update({"training samples": len(x), "sample shape": x.shape[1:],
                  "optimizer": type(optimizer).__name__, **settings})
    group.check_same("fit(distributed)", facts)
    batch_size = settings["batch_size"]
    if batch_size % group.size:
        below = batch_size - batch_size % group.size
        group.fail_together(ValueError(
            f"fit: batch_size {batch_size} is the global batch and must be divisible by the "
            f"{group.size} MPI processes; use e.g. {below or group.size} or {below + group.size}"))
    group.adopt_root_state(model, optimizer, rng)
    group.separate_layer_generators(model)
    return DataParallel(group)


class DataParallel:
    """What ``fit`` asks of the group at its few distributed points (see the module docstring)."""

    def __init__(self, group: MPIGroup):
        self.group = group

    def rank_callbacks(self, callbacks) -> list:
        """The callbacks this rank runs: all on rank 0; elsewhere all but the ``rank_zero_only``
        ones (by default, :class:`~convnp.Checkpoint`: one process writes the files)."""
        if self.group.is_root:
            return list(callbacks)
        return [c for c in callbacks if not getattr(c, "rank_zero_only", isinstance(c, Checkpoint))]

    def train_step(self, model, loss, optimizer, augment, clip_grad_norm, rng):
        """The step object ``fit`` calls on each global batch (see :class:`DistributedStep`)."""
        return DistributedStep(self.group, model, loss, optimizer, augment, clip_grad_norm, rng)

    def end_epoch(self, model) -> None:
        """Average the BatchNorm running statistics over the ranks."""
        self.group.average_buffers(model)

    def evaluate(self, model, x, y, *, loss=None, batch_size=256) -> dict:
        """:func:`convnp.model.training.evaluate` over all of ``x``, each rank taking 1/K of it."""
        part = shard(len(x), self.group.rank, self.group.size)
        count = part.stop - part.start
        scores = training.evaluate(model, x[part], y[part], loss=loss, batch_size=batch_size) if count else {}
        keys = self.group.share(list(scores))  # rank 0 always has samples (it gets the largest part)
        sums = np.array([scores.get(key, 0.0) * count for key in keys] + [count], dtype=np.float64)
        self.group.sum_(sums)
        return {key: float(sums[index] / sums[-1]) for index, key in enumerate(keys)}


class DistributedStep:
    """One data-parallel step: augment the global batch, train on this rank's slice, sum, step.

    ``__call__(x_batch, y_batch)`` takes the global batch and returns ``(loss, correct)`` of the
    whole global batch (``correct`` None when the task is not classification), as the
    single-process step does.
    """

    def __init__(self, group, model, loss, optimizer, augment, clip_grad_norm, rng):
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"fit: clip_grad_norm must be positive, got {clip_grad_norm!r}")
        self.group, self.model, self.loss, self.optimizer = group, model, loss, optimizer
        self.augment, self.clip_grad_norm, self.rng = augment, clip_grad_norm, rng
        self.dtype = training.model_dtype(model)
        self.params = model.parameters()
        self.buffer = np.zeros(sum(p.size for p in self.params) + TAIL, dtype=self.dtype)
        self.views, offset = [], 0  # self.views[i]: parameter i's part of the buffer, in its shape
        for param in self.params:
            self.views.append(self.buffer[offset:offset + param.size].reshape(param.shape))
            offset += param.size

    def __call__(self, x_batch, y_batch):
        x_batch = x_batch.astype(self.dtype, copy=False)
        if self.augment is not None:  # the whole batch, so every rank's generator draws the same
            x_batch = self.augment(x_batch, self.rng)
        part = shard(len(x_batch), self.group.rank, self.group.size)
        self._local_sums(x_batch[part], y_batch[part])
        self.group.sum_(self.buffer)  # the one Allreduce of the step
        loss_sum, correct, count, not_classifying = (float(v) for v in self.buffer[-TAIL:])
        value = loss_sum / count
        if math.isfinite(value):
            for param, view in zip(self.params, self.views, strict=True):
                np.divide(view, count, out=param.grad)  # the global batch's mean gradient
            if self.clip_grad_norm is not None:
                training.clip_grad_norm_(self.params, self.clip_grad_norm)
            self.optimizer.step()
        return value, None if not_classifying else round(correct)

    def _local_sums(self, x_local, y_local) -> None:
        """Fill the buffer with this rank's count-weighted gradients and its loss/accuracy sums."""
        self.buffer[...] = 0
        count = len(x_local)
        if count == 0:  # a last batch smaller than the number of ranks
            return
        output = self.model.forward(x_local)
        value = self.loss(output, y_local)
        correct = training.correct_count(output, y_local)
        self.buffer[-TAIL:] = (value * count, correct or 0, count, correct is None)
        if math.isfinite(value):  # otherwise the sum is not finite either and no rank steps
            self.model.backward(self.loss.backward(), input_grad=False)
            for param, view in zip(self.params, self.views, strict=True):
                np.multiply(param.grad, count, out=view)
