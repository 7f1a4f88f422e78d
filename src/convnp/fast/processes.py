"""Worker processes: a training step's batch split over processes, which share no interpreter lock.

Why: the engine's threads (:mod:`.parallel`) split the convolutions of a step, but every NumPy
call gives up the interpreter lock and takes it back, so two threads running many short calls
take turns more than they run side by side, and the element-wise passes between layers stay on
one core. Two processes share no lock. Measured on the 2-core host, two processes each training
the model on half the batch, with nothing exchanged, ran 1.32–1.51× as fast as one process on
its threads (cifar-resnet14), 1.43–1.49× (deep-cnn) — two threads doing the same, 1.10–1.13×
(docs/performance.md, "Threads").

How: with ``set_num_processes(K)`` (or ``CONVNP_NUM_PROCESSES=K``), a ``Sequential`` training on
the fast engine splits each large enough batch into K parts of whole images: it runs the first,
and worker processes (``python -m convnp.fast.worker``), each holding a replica of the model,
run the others (:mod:`.split`). What couples the images of a batch is exchanged while the parts
run, so the step computes what one process computes:

* each BatchNorm's per-channel statistics, twice a layer: in forward each part's sum and sum of
  squares about its own mean, merged into the whole batch's mean and variance by Chan et al.'s
  rule (:func:`gathered`: every process gets every part's, in part order); in backward the
  parts' ``sum(dy)`` and ``sum(dy * (x - mean))``, gathered the same way and added in part
  order by every process (:func:`combined`);
* each Dropout's mask — drawn by the caller for the whole batch from the layer's generator, as
  one process would, each worker sent its rows (:meth:`Exchange.mask_rows`);
* the weights (the caller's, copied into memory both processes map, before every forward) and
  the weight gradients (each worker's, added to the caller's after backward);
* each layer's mode: a Dropout in eval mode in a training model is in eval mode in the workers.

Small messages go over pipes, as raw bytes after a one-byte tag and JSON headers — no pickle;
the weights, the gradients and the images over shared memory (a ``memfd`` both map: Linux only).
Workers start in the background (about a second: a fresh interpreter) when ``set_num_processes``
is called, or, set from the environment, on the first batch that would use them — until they are
ready, batches run in this process — and stop with it. A worker that fails or stops mid-step is
closed with a warning and the step is run again in this process, from the state it started in.

Measured with the exchanges, training at batch 64 against the threads: cifar-resnet14 1.23×,
deep-cnn 1.17–1.39×, cifar-small 1.09–1.13× (docs/performance.md, "Processes").
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import warnings
from contextlib import contextmanager
from multiprocessing.connection import Connection

import numpy as np

from .._checks import environment_count, positive_int
from .pipes import Arena, WorkerFailed, receive, receive_array, send

ENV_VAR = "CONVNP_NUM_PROCESSES"
_state = threading.local()  # .group: the exchange of the split step running on this thread
_forced = {"every_batch": False}
_split_steps = [0]


def available() -> bool:
    """Whether worker processes can run here (shared memory by ``memfd``: Linux)."""
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def _checked(count, who: str) -> int:
    count = positive_int(count, "the number of processes", who)
    if count > 1 and not available():
        raise ValueError(f"{who}: worker processes need Linux (shared memory by memfd); got {count} "
                         f"processes on {sys.platform}")
    return count


_count = _checked(environment_count(ENV_VAR, "the number of processes", 1), f"${ENV_VAR}")
_workers: list[Worker] = []
_workers_lock = threading.Lock()


def get_num_processes() -> int:
    """How many processes a training step's batch is split over (1: no worker processes)."""
    return _count


def set_num_processes(count: int) -> int:
    """Split training steps over ``count`` processes from now on (1: none); returns the previous
    count. Missing workers start now, in the background; workers beyond the new count stop."""
    global _count
    count = _checked(count, "set_num_processes")
    previous, _count = _count, count
    with _workers_lock:
        stopping, _workers[count - 1:] = _workers[count - 1:], []
    for worker in stopping:
        worker.close()
    release_workers(take_workers(count - 1) or [])  # starts them; the first steps need not wait
    return previous


@contextmanager
def force_processes(count: int, every_batch: bool = False):
    """Split training steps over ``count`` processes inside the ``with`` block, the workers
    started and ready first (a test hook; afterwards the count goes back, which stops workers
    beyond it).

    ``every_batch``: split every batch of two or more images, however little work its parts
    get (normally a part must be worth a process), so small test models take the split step."""
    previous = set_num_processes(count)
    saved, _forced["every_batch"] = _forced["every_batch"], bool(every_batch)
    try:
        if not start_workers():
            raise RuntimeError(f"force_processes: the {count - 1} worker process(es) did not start")
        yield
    finally:
        _forced["every_batch"] = saved
        set_num_processes(previous)


def every_batch_forced() -> bool:
    """Whether :func:`force_processes` asked for every batch to be split."""
    return _forced["every_batch"]


def start_workers(timeout: float = 60.0) -> bool:
    """Start the workers now and wait until they are ready (else the first split batches run in
    this process while they start). Returns whether all ``get_num_processes() - 1`` are ready."""
    import time

    deadline = time.monotonic() + timeout
    while _count > 1 and time.monotonic() < deadline:
        taken = take_workers(_count - 1)
        if taken is not None:
            release_workers(taken)
            return True
        time.sleep(0.02)
    return _count == 1


def take_workers(count: int):
    """``count`` ready, idle workers, locked for the caller (give them back with
    :func:`release_workers`), or None; starts any that are missing."""
    with _workers_lock:
        _workers[:] = [worker for worker in _workers if worker.alive]
        while len(_workers) < count:
            _workers.append(Worker())
        taken = []
        for worker in _workers[:count]:
            if worker.ready() and worker.lock.acquire(blocking=False):
                taken.append(worker)
    if len(taken) < count:
        release_workers(taken)
        return None
    return taken


def release_workers(workers) -> None:
    """Give back workers this thread took (:func:`take_workers`)."""
    for worker in workers:
        worker.lock.release()


def split_steps() -> int:
    """How many forward passes ran split over processes so far (a test hook, as
    :func:`.parallel.split_count` is for threads)."""
    return _split_steps[0]


def count_split_step() -> None:
    """Count one split forward pass (:func:`split_steps`)."""
    _split_steps[0] += 1


def worker_pids() -> list[int]:
    """The process ids of the running workers."""
    with _workers_lock:
        return [worker.process.pid for worker in _workers if worker.alive]


def stop_workers() -> None:
    """Stop every worker process (they also stop when this process exits)."""
    with _workers_lock:
        workers, _workers[:] = list(_workers), []
    for worker in workers:
        worker.close()


def _forget_workers_in_child():  # a forked child has the objects, not the workers' attention
    _workers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_in_child)
atexit.register(stop_workers)


# ---- the exchange inside a split step ---------------------------------------------------------
def active():
    """The exchange of the split step running on this thread, or None."""
    return getattr(_state, "group", None)


def combined(totals: np.ndarray) -> np.ndarray:
    """``totals`` (one part's float64 sums) plus every other part's, in part order, where a split
    step is running; else ``totals``."""
    group = active()
    return totals if group is None else group.gather(totals).sum(axis=0)  # the same sum in every process


def gathered(values: np.ndarray) -> np.ndarray:
    """``values`` (one part's float64 numbers) and every other part's, stacked in part order:
    shape (parts, ...) — (1, ...) where no split step is running."""
    group = active()
    return np.asarray(values, np.float64)[None] if group is None else group.gather(values)


def whole_batch(images: int) -> int:
    """The number of images of the whole batch whose part of ``images`` this is."""
    group = active()
    return images if group is None else group.images


class Exchange:
    """What one process of a split step does at a coupling point; ``images``: the whole batch.

    The caller's side (``workers`` given) receives every worker's message and answers each; a
    worker's side (``caller`` given: its two connections) sends and waits for the answer."""

    def __init__(self, images: int, workers=None, parts=None, rows=None, caller=None, count=None):
        self.images, self.workers, self.parts, self.rows, self.caller = images, workers, parts, rows, caller
        self.count = len(parts) if parts is not None else count  # how many parts (processes)

    def __enter__(self):
        _state.group = self
        return self

    def __exit__(self, *exc):
        _state.group = None

    def gather(self, values):
        values = np.ascontiguousarray(values, np.float64)
        if self.caller is not None:
            send(self.caller[1], b"S", values)
            return receive_array(self.caller[0], b"T", (self.count,) + values.shape, np.float64)
        stack = np.stack([values] + [receive_array(worker.incoming, b"S", values.shape, np.float64)
                                     for worker in self.workers])  # part order
        for worker in self.workers:
            send(worker.outgoing, b"T", stack)
        return stack

    def mask_rows(self, draw, shape, dtype):
        """This part's rows of a mask over the whole batch (``shape``: this part's input):
        ``draw(whole batch's shape)`` on the caller's side, which sends each worker its rows;
        received on a worker's side."""
        if self.caller is not None:
            return receive_array(self.caller[0], b"M", shape, dtype)
        mask = draw((self.images,) + tuple(shape[1:]))
        for worker, part in zip(self.workers, self.parts[1:], strict=True):
            send(worker.outgoing, b"M", mask[part])
        return mask[self.rows]


# ---- a worker, seen from the caller ---------------------------------------------------------
class Worker:
    """One worker process, its pipes and its shared memory (see the module's docstring)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.alive, self._ready, self.architecture, self.arena = True, False, None, None
        worker_reads, caller_writes = os.pipe()
        caller_reads, worker_writes = os.pipe()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   CONVNP_NUM_THREADS="1", CONVNP_NUM_PROCESSES="1", CONVNP_ENGINE="fast")
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "convnp.fast.worker", str(worker_reads), str(worker_writes)],
                pass_fds=(worker_reads, worker_writes), stdin=subprocess.DEVNULL, env=env)
        except OSError as error:
            os.close(caller_writes), os.close(caller_reads)
            self.alive = False
            warn(f"a worker process could not start ({error}); steps run in this process")
        finally:
            os.close(worker_reads), os.close(worker_writes)  # the worker's ends: it has them now
        if self.alive:
            _widen(caller_writes), _widen(caller_reads)
            self.outgoing = Connection(caller_writes, readable=False)
            self.incoming = Connection(caller_reads, writable=False)

    def ready(self) -> bool:
        """Whether the worker has started and said so (never waits)."""
        if self.alive and not self._ready:
            try:
                if self.incoming.poll():
                    self._ready = receive(self.incoming, b"R") == b""
            except (OSError, EOFError, WorkerFailed) as error:
                warn(f"a worker process did not start ({error}); steps run in this process")
                self.close()
        return self.alive and self._ready

    def arena_for(self, size: int) -> Arena:
        """Shared memory of at least ``size`` bytes (a new one when the last is too small)."""
        if self.arena is None or self.arena.size < size:
            if self.arena is not None:
                self.arena.close()
            self.arena = Arena(size)
        return self.arena

    def close(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.outgoing.close(), self.incoming.close()  # the worker reads the end and exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.arena is not None:
            self.arena.close()
            self.arena = None


def _widen(pipe_fd: int) -> None:
    """A 1 MB pipe buffer where Linux allows it (64 KB by default): fewer waits on large messages."""
    try:
        import fcntl

        fcntl.fcntl(pipe_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def warn(message: str) -> None:
    """A RuntimeWarning about the workers (the step itself still runs, in this process)."""
    warnings.warn(f"convnp: {message}", RuntimeWarning, stacklevel=4)
