"""A worker process of a split training step (:mod:`.processes`, :mod:`.split`).

Run as ``python -m convnp.fast.worker READ_FD WRITE_FD`` by the caller, which holds the pipes'
other ends. It says it is ready (``R``), then answers commands until the caller closes its end:

* ``C {"op": "forward", ...}`` — rebuild the model when an architecture comes with it (only from
  convnp's fixed table of layers, as ``load_model`` does), map new shared memory when it comes,
  take the weights and this part's images from shared memory, and run the part's forward pass;
  BatchNorm sums (``S`` out, ``T`` back) and Dropout masks (``M``) are exchanged on the way.
  Answer: the output (``Y`` header, ``A`` bytes).
* ``C {"op": "backward", ...}`` and ``A`` (this part's ``dy``) — the backward pass of the last
  forward; the weight gradients go to shared memory. Answer: ``G`` (and ``dx``, when asked).

An error is answered with ``E`` and its message; the caller then closes this worker.
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection

import numpy as np

from .pipes import Arena, WorkerFailed, receive_array, receive_header, send
from .processes import Exchange


class _Replica:
    """The model as this worker holds it, with its weights in the caller's shared memory."""

    def __init__(self):
        self.model = self.arena = self.plan = self.step = None
        self.images = self.rows = self.parts = None
        self.gradients = []  # (parameter, its place in shared memory)

    def forward(self, command, caller):
        from ..model.serialization import build
        from .parallel import as_part
        from .planner import plan
        from .split import all_layers

        if command["architecture"] is not None:
            self.model = build(command["architecture"])
        for layer, training in zip(all_layers(self.model.layers), command["modes"], strict=True):
            layer.training = training  # each layer's mode as the caller's (say, a Dropout in eval)
        if command["arena"] is not None:
            fd, size = command["arena"]
            if self.arena is not None:
                self.arena.close()
            self.arena = Arena(size, os.open(f"/proc/{os.getppid()}/fd/{fd}", os.O_RDWR))
        params = self.model.named_parameters()
        for name, offset, dtype, shape in command["weights"]:
            params[name].data = self.arena.view(offset, dtype, shape)
        self.gradients = [(params[name], self.arena.view(offset, dtype, shape))
                          for name, offset, dtype, shape in command["gradients"]]
        offset, dtype, shape = command["x"]
        x = self.arena.view(offset, dtype, shape)
        self.images, self.rows, self.step = command["images"], slice(*command["rows"]), command["step"]
        self.parts, self.plan = command["parts"], None
        with Exchange(self.images, rows=self.rows, caller=caller, count=self.parts), as_part():
            self.plan = plan(self.model.layers, True)
            return self.plan.forward(x)

    def backward(self, command, dy, caller):
        from .parallel import as_part

        if self.plan is None or command["step"] != self.step:
            raise RuntimeError(f"backward for step {command['step']}, but the last forward was "
                               f"step {self.step}")
        with Exchange(self.images, rows=self.rows, caller=caller, count=self.parts), as_part():
            dx = self.plan.backward(dy, command["input_grad"])
        for param, target in self.gradients:
            np.copyto(target, param.grad)
        return dx


def serve(incoming: Connection, outgoing: Connection) -> None:
    """Answer commands until ``incoming`` reaches its end."""
    replica, caller = _Replica(), (incoming, outgoing)
    send(outgoing, b"R", np.empty(0, np.uint8))
    while True:
        try:
            command = receive_header(incoming, b"C", patient=True)  # idle until the next step
        except Exception:  # noqa: BLE001 - the caller closed its end (or broke the protocol): stop
            return
        try:
            if command["op"] == "forward":
                _send_array(outgoing, replica.forward(command, caller))
            else:
                dtype, shape = command["dy"]
                dy = receive_array(incoming, b"A", shape, np.dtype(dtype))
                dx = replica.backward(command, dy, caller)
                send(outgoing, b"G", header={"step": replica.step})
                if command["input_grad"]:
                    _send_array(outgoing, dx)
        except WorkerFailed:  # the caller closed its end mid-step (or broke the protocol): stop
            return
        except Exception as error:  # noqa: BLE001 - reported to the caller, which closes this worker
            replica.plan = None
            try:
                send(outgoing, b"E", np.frombuffer(f"{type(error).__name__}: {error}".encode(), np.uint8))
            except WorkerFailed:
                return


def _send_array(outgoing, array) -> None:
    array = np.ascontiguousarray(array)
    send(outgoing, b"Y", header={"dtype": array.dtype.str, "shape": list(array.shape)})
    send(outgoing, b"A", array)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle: it closes this worker
    serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
