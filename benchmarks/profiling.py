"""Where the time goes: one training step or one inference pass, per plan step of convnp, per
operator of PyTorch and, for inference, per node of onnxruntime.

Used by ``bench_vs_torch.py --profile [--modes train infer]``. convnp's rows are its plan steps
(a Conv2d with what it fuses, a BatchNorm2d, a residual block's add + ReLU, ...; time inside
nested steps counts for them, not for their block). The "cores" column is CPU time over wall
time: for a training step the whole process's (the layers split their own work over the
engine's threads: 1.0 is one core busy), for inference each part's thread's own (inference runs
whole parts side by side: below 1.0 the thread waited, for the interpreter lock or for memory).
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time

import numpy as np

from convnp.benchmark import ConvnpStep, OnnxRuntimeStep, TorchStep
from convnp.fast import inference, parallel, planner


class _StepTimes:
    """Wraps every step of the plans made while it is installed, summing each kind's time."""

    def __init__(self, clock):
        self.clock = clock  # CPU time: time.process_time (training) or time.thread_time (inference)
        self.rows = collections.defaultdict(lambda: np.zeros(5))  # kind -> fwd s, CPU s, bwd s, CPU s, calls
        self.local = threading.local()  # .inner: (wall, CPU) spent in nested steps, per open step
        self.lock = threading.Lock()

    def _timed(self, original, kind, phase):
        def wrapped(*args):
            inner = self.local.__dict__.setdefault("inner", [])
            inner.append(np.zeros(2))
            start = np.array([time.perf_counter(), self.clock()])
            result = original(*args)
            spent = np.array([time.perf_counter(), self.clock()]) - start
            with self.lock:
                self.rows[kind][2 * phase:2 * phase + 2] += spent - inner.pop()
                self.rows[kind][4] += phase == 0
            if inner:
                inner[-1] += spent
            return result
        return wrapped

    def _plan(self, *args, **kwargs):
        plan = self.make_plan(*args, **kwargs)
        for _, plan_step in plan.steps:
            kind = _step_kind(plan_step)
            plan_step.forward = self._timed(plan_step.forward, kind, 0)
            plan_step.backward = self._timed(plan_step.backward, kind, 1)
        return plan

    def __enter__(self):
        self.make_plan = planner.plan
        planner.plan = inference.plan = self._plan  # inference imported the name itself
        return self

    def __exit__(self, *exc):
        planner.plan = inference.plan = self.make_plan


def profile_training(model, twin, x, y, steps=20):
    """Print one training step's time per plan step (convnp) and per operator (PyTorch)."""
    step = ConvnpStep(model, x, y)
    with _StepTimes(time.process_time) as times:
        _warm_up(step.train)
        times.rows.clear()
        total, cores = _timed_loop(step.train, steps, time.process_time)
    print(f"\nprofile: training, batch {len(x)}, one step = {total:.2f} ms (convnp), {cores:.2f} cores busy")
    print(f"{'plan step (per step of training)':<52}{'calls':>6}{'forward ms':>12}{'cores':>7}"
          f"{'backward ms':>13}{'cores':>7}")
    for kind, row in sorted(times.rows.items(), key=lambda item: -(item[1][0] + item[1][2])):
        forward, forward_cpu, backward, backward_cpu, calls = row
        print(f"{kind:<52}{int(calls) // steps:>6}{forward / steps * 1e3:>12.2f}"
              f"{_cores(forward_cpu, forward):>7}{backward / steps * 1e3:>13.2f}"
              f"{_cores(backward_cpu, backward):>7}")
    layers_ms = sum(row[0] + row[2] for row in times.rows.values()) / steps * 1e3
    print(f"{'loss + optimizer step + overhead':<58}{total - layers_ms:>12.2f}")
    torch_step = TorchStep(twin, x, y)
    _torch_operators(torch_step.train, steps, "training step")


def profile_inference(model, twin, x, steps=20, onnxruntime=True):
    """Print one inference pass's time per plan step (convnp: per part, as each part's thread
    spent it), per operator (PyTorch) and per node type (onnxruntime)."""
    step = ConvnpStep(model, x, None)
    with _StepTimes(time.thread_time) as times:
        _warm_up(step.infer)
        times.rows.clear()
        total, cores = _timed_loop(step.infer, steps, time.process_time)
    work = inference.multiply_adds_per_image(model.layers, x.shape[1:], training=True)  # as predict counts
    parts = 1 if work is None else len(parallel.image_parts(len(x), work, parallel.PART_MIN_MACS))
    print(f"\nprofile: inference, batch {len(x)}, one pass = {total:.2f} ms (convnp, {parts} part(s) side "
          f"by side), {cores:.2f} cores busy")
    print(f"{'plan step (per part of one pass)':<52}{'calls':>6}{'ms':>8}{'thread busy':>13}")
    for kind, row in sorted(times.rows.items(), key=lambda item: -item[1][0]):
        wall, cpu, calls = row[0], row[1], row[4]
        print(f"{kind:<52}{int(calls) // (steps * parts):>6}{wall / steps / parts * 1e3:>8.2f}"
              f"{_cores(cpu, wall):>13}")
    print(f"{'all steps of a part':<58}{sum(r[0] for r in times.rows.values()) / steps / parts * 1e3:>8.2f}")
    _torch_operators(TorchStep(twin, x, np.zeros(len(x), np.int64)).infer, steps, "inference pass")
    if onnxruntime:
        _onnxruntime_nodes(twin, x, steps)


def _warm_up(function, runs=5):
    """A few runs first: the workspace's blocks, BLAS's threads and the caches settle in."""
    for _ in range(runs):
        function()


def _timed_loop(function, steps, clock):
    start, cpu = time.perf_counter(), clock()
    for _ in range(steps):
        function()
    wall = time.perf_counter() - start
    return wall / steps * 1e3, (clock() - cpu) / wall


def _cores(cpu_seconds, wall_seconds) -> str:
    return f"{cpu_seconds / wall_seconds:.2f}" if wall_seconds > 0 else "-"


def _step_kind(plan_step) -> str:
    """A plan step as a row of the profile: the layer, and what the step fuses with it."""
    layer = getattr(plan_step, "conv", None) or getattr(plan_step, "layer", None)
    if layer is None:
        return "Residual add" + (" + ReLU" if plan_step.relu is not None else "")
    text = repr(layer)
    if getattr(plan_step, "norm", None) is not None:
        text += " + BatchNorm2d"
    return text + (" + ReLU" if getattr(plan_step, "relu", None) is not None else "")


def _torch_operators(function, steps, what):
    from torch.profiler import ProfilerActivity, profile

    _warm_up(function)
    with profile(activities=[ProfilerActivity.CPU]) as result:
        total, _ = _timed_loop(function, steps, time.process_time)
    print(f"PyTorch, the same {what} = {total:.2f} ms under its profiler; its operators (self time):")
    rows = sorted(result.key_averages(), key=lambda row: -row.self_cpu_time_total)[:8]
    for row in rows:
        print(f"  {row.key:<50}{row.count // steps:>6}{row.self_cpu_time_total / steps / 1e3:>12.2f} ms")


def _onnxruntime_nodes(twin, x, steps):
    ort = OnnxRuntimeStep(twin, x, int(os.environ.get("OMP_NUM_THREADS", "2")), profiling=True)
    _warm_up(ort.infer)
    total, _ = _timed_loop(ort.infer, steps, time.process_time)
    with open(ort.session.end_profiling()) as file:
        events = json.load(file)
    os.remove(file.name)
    nodes = collections.defaultdict(lambda: [0.0, 0])  # op type -> µs, calls
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            row = nodes[event["args"].get("op_name", "?")]
            row[0] += event["dur"]
            row[1] += 1
    runs = steps + 5  # the profile covers the warm-up runs too
    print(f"onnxruntime, the same inference pass = {total:.2f} ms under its profiler; its node types:")
    for op, (micros, calls) in sorted(nodes.items(), key=lambda item: -item[1][0]):
        print(f"  {op:<50}{calls // runs:>6}{micros / runs / 1e3:>12.2f} ms")
