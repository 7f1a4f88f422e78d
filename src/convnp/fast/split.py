"""A training step split over processes: the caller's side (see :mod:`.processes` for why and how).

``Sequential.forward`` asks :func:`split_plan` for a plan when it trains on the fast engine; the
answer is None (one process runs the batch, as before) unless worker processes are set, ready,
and the batch is large enough to be worth them. A :class:`SplitPlan` has the plan's interface:
``forward(x)`` runs the first part here and sends the others to the workers, ``backward(dy)``
the same, then adds the workers' weight gradients to this process's.

The same numbers as one process, up to float rounding: BatchNorm's sums and Dropout's masks
are exchanged (:class:`NormStep`, :class:`DropoutStep`); the parts' weight gradients are added
in part order, as the engine's threads add theirs.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..layers import BatchNorm1d, BatchNorm2d, Dropout
from ..layers.container import Chain
from . import parallel, processes
from .normalization import batch_norm_train_forward, values_per_channel
from .pipes import Arena, WorkerFailed, receive_array, receive_header, send
from .processes import Exchange

NORMS = (BatchNorm1d, BatchNorm2d)
_steps = itertools.count(1)  # every split forward pass gets a number; backward names it


def split_plan(layers, x):
    """A :class:`SplitPlan` for a training batch ``x``, or None where one process should run it:
    one process set, a layer a worker cannot rebuild, an input the layers will reject (they
    then report it themselves), too little work per part, or workers not ready yet."""
    count = processes.get_num_processes()
    if count < 2 or processes.active() is not None or not isinstance(x, np.ndarray) or x.ndim < 2:
        return None
    from ..model.serialization import describe  # convnp.model imports the planner, which imports this
    from .inference import multiply_adds_per_image

    layers = list(layers)
    params = Chain(*layers).named_parameters()
    if not params or any(p.data.dtype != x.dtype for p in params.values()):
        return None
    if any(isinstance(layer, NORMS) and not layer.training for layer in all_layers(layers)):
        return None  # a frozen BatchNorm (folded into its convolution): its gradients stay per part
    work = multiply_adds_per_image(layers, x.shape[1:], training=True)
    if work is None:
        return None
    worth = len(x) if processes.every_batch_forced() else len(x) * work / parallel.PART_MIN_MACS
    parts = int(min(count, len(x), worth))
    if parts < 2:
        return None
    try:
        architecture = describe(Chain(*layers))
    except TypeError:  # a user's own layer
        return None
    workers = processes.take_workers(parts - 1)
    if workers is None:
        return None
    processes.release_workers(workers)
    bounds = [len(x) * k // parts for k in range(parts + 1)]
    slices = [slice(bounds[k], bounds[k + 1]) for k in range(parts)]  # contiguous images, in order
    return SplitPlan(layers, architecture, params, workers, slices)


class SplitPlan:
    """``Plan``'s interface for one training step whose batch is split over processes."""

    def __init__(self, layers, architecture, params, workers, parts):
        self.layers, self.architecture, self.params = layers, architecture, params
        self.workers, self.parts = workers, parts
        self.plan = self.fallback = self.x = self.saved = None
        self.offsets = []  # per worker: where its weights, gradients and images lie in its arena
        self.threaded = False
        self.step = next(_steps)
        norms = [layer for layer in all_layers(layers) if isinstance(layer, NORMS)]
        self.shared = {id(p) for layer in norms for p in layer.parameters()}  # gradients already whole

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, x):
        """The model's output for the whole batch ``x``."""
        self.x, self.saved = x, _saved_state(self.layers)
        try:
            with _holding(self.workers):
                return self._forward(x)
        except WorkerFailed as error:
            return self._fall_back(error).forward(x)
        except BaseException:
            _close(self.workers)  # they may be waiting in an exchange this process left
            raise

    def _forward(self, x):
        names, self.offsets = list(self.params), []
        specs = [(p.data.dtype, p.data.shape) for p in self.params.values()] * 2  # weights, gradients
        for worker, part in zip(self.workers, self.parts[1:], strict=True):
            offsets, size = Arena.layout(specs + [(x.dtype, x[part].shape)])
            fresh = worker.arena is None or worker.arena.size < size
            arena = worker.arena_for(size)
            for offset, p in zip(offsets, self.params.values(), strict=False):  # the weights' offsets
                np.copyto(arena.view(offset, p.data.dtype, p.data.shape), p.data)
            np.copyto(arena.view(offsets[-1], x.dtype, x[part].shape), x[part])
            weights = list(self.params.values()) * 2  # then the gradients, the same shapes
            arrays = [[name, offset, p.data.dtype.str, list(p.data.shape)]
                      for name, offset, p in zip(names * 2, offsets, weights, strict=False)]
            send(worker.outgoing, b"C", header={
                "op": "forward", "step": self.step, "images": len(x), "rows": [part.start, part.stop],
                "parts": len(self.parts),
                "architecture": None if worker.architecture == self.architecture else self.architecture,
                "modes": [layer.training for layer in all_layers(self.layers)],  # e.g. a Dropout set to eval
                "arena": [arena.fd, arena.size] if fresh else None, "weights": arrays[:len(names)],
                "gradients": arrays[len(names):], "x": [offsets[-1], x.dtype.str, list(x[part].shape)]})
            worker.architecture = self.architecture
            self.offsets.append(offsets)
        with Exchange(len(x), self.workers, self.parts, rows=self.parts[0]), parallel.as_part():
            self.plan = _planned(self.layers)
            first = self.plan.forward(x[self.parts[0]])
        outputs = [first] + [_received(worker.incoming) for worker in self.workers]
        processes.count_split_step()
        return np.concatenate(outputs, axis=0)

    # ---- backward --------------------------------------------------------------------------
    def backward(self, dy, input_grad: bool = True):
        """Fill every parameter's ``grad`` for the whole batch; d loss / d input (or None)."""
        if self.fallback is not None:
            return self.fallback.backward(dy, input_grad)
        try:
            with _holding(self.workers):
                return self._backward(dy, input_grad)
        except WorkerFailed as error:
            self._fall_back(error).forward(self.x)
            return self.fallback.backward(dy, input_grad)
        except BaseException:
            _close(self.workers)
            raise

    def _backward(self, dy, input_grad):
        for worker, part in zip(self.workers, self.parts[1:], strict=True):
            send(worker.outgoing, b"C", header={"op": "backward", "step": self.step, "input_grad": input_grad,
                                               "dy": [dy.dtype.str, list(dy[part].shape)]})
            send(worker.outgoing, b"A", np.ascontiguousarray(dy[part]))
        with Exchange(len(dy), self.workers, self.parts, rows=self.parts[0]), parallel.as_part():
            first = self.plan.backward(dy[self.parts[0]], input_grad)
        inputs = [first]
        for worker in self.workers:
            done = receive_header(worker.incoming, b"G")
            if input_grad:
                inputs.append(_received(worker.incoming))
            if done.get("step") != self.step:
                raise WorkerFailed(f"a worker answered for step {done.get('step')}, not {self.step}")
        for worker, offsets in zip(self.workers, self.offsets, strict=True):  # part order
            for offset, p in zip(offsets[len(self.params):], self.params.values(), strict=False):
                if id(p) not in self.shared:
                    p.grad += worker.arena.view(offset, p.grad.dtype, p.grad.shape)
        return np.concatenate(inputs, axis=0) if input_grad else None

    def _fall_back(self, error):
        """Close the workers, put back what the step changed, and run it in this process."""
        processes.warn(f"a worker process failed during a training step ({error}); the step runs "
                       f"in this process")
        if not isinstance(error, WorkerBusy):  # else another thread's step is using them
            _close(self.workers)
        _restore_state(self.saved)
        self.fallback = _planned(self.layers)
        return self.fallback


class WorkerBusy(WorkerFailed):
    """A worker this step needs is running another thread's step (or has stopped)."""


class NormStep:
    """A BatchNorm in training mode inside a split step: ``BatchNorm.forward`` with the whole
    batch's statistics (the engine's twin exchanges its sums; :func:`.processes.combined`) and
    the whole batch's count in the running variance's ``m / (m - 1)``."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        layer = self.layer
        layer._check(x)
        count = values_per_channel(x)  # of the whole batch
        if count <= 1:
            raise ValueError(f"{layer!r}: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape}; use a larger batch or call eval()")
        y, cache, mean, var = batch_norm_train_forward(x, layer.weight.data, layer.bias.data, layer.eps)
        layer._update_running_stats(mean, var * (count / (count - 1)))
        layer._cache = ("fast", True, cache, y.shape)
        return y

    def backward(self, dy, need_input_grad=True):
        return self.layer.backward(dy)


class DropoutStep:
    """A Dropout in training mode inside a split step: this part's rows of the mask one process
    would draw for the whole batch (drawn by the caller, :meth:`.processes.Exchange.mask_rows`)."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        layer = self.layer
        layer._check_input(x, None, "(N, ...)")
        mask = processes.active().mask_rows(lambda shape: layer.mask_for(shape, x.dtype), x.shape, x.dtype)
        layer._cache = (mask, x.shape)
        return x * mask

    def backward(self, dy, need_input_grad=True):
        return self.layer.backward(dy)


def split_step(layer):
    """The step for ``layer`` inside a split training step, or None (the planner's own)."""
    if isinstance(layer, NORMS) and layer.training:
        return NormStep(layer)
    if type(layer) is Dropout and layer.training and layer.p > 0:
        return DropoutStep(layer)
    return None


def _planned(layers):
    from .planner import plan

    return plan(layers, True)


def _received(connection) -> np.ndarray:
    header = receive_header(connection, b"Y")
    return receive_array(connection, b"A", header["shape"], np.dtype(header["dtype"]))


class _holding:
    """The workers' locks for one pass (another thread's split step may not use them meanwhile)."""

    def __init__(self, workers):
        self.workers, self.taken = workers, []

    def __enter__(self):
        for worker in self.workers:
            if not worker.alive or not worker.lock.acquire(blocking=False):
                processes.release_workers(self.taken)
                raise WorkerBusy("a worker is busy with another thread's step or has stopped")
            self.taken.append(worker)

    def __exit__(self, *exc):
        processes.release_workers(self.taken)


def _close(workers) -> None:
    for worker in workers:
        worker.close()


def all_layers(layers):
    """Every layer and sub-layer, depth first (the same order in the caller and in a worker)."""
    for layer in layers:
        yield layer
        yield from all_layers(layer.children().values())


def _saved_state(layers):
    """What a forward pass changes besides caches: BatchNorm buffers, Dropout generators."""
    state = []
    for layer in all_layers(layers):
        if isinstance(layer, NORMS):
            state += [(buffer, buffer.copy()) for buffer in (layer.running_mean, layer.running_var,
                                                             layer.num_batches_tracked)]
        if isinstance(getattr(layer, "rng", None), np.random.Generator):
            state.append((layer.rng, layer.rng.bit_generator.state))
    return state


def _restore_state(state) -> None:
    for target, value in state:
        if isinstance(target, np.random.Generator):
            target.bit_generator.state = value
        else:
            target[...] = value
