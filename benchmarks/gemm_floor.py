"""The GEMM floor: how fast any engine that computes its convolutions as OpenBLAS products could be.

    python benchmarks/gemm_floor.py [--nets all] [--batch-size 64] [--modes train infer]
        [--seconds 0.5] [--rounds 5] [--no-onnxruntime]

For every Conv2d and Linear layer of a zoo net, the matrix products one training step needs
(forward ``(M, K) @ (K, O)``, input gradient ``(M, O) @ (O, K)``, weight gradient ``(M, K).T @
(M, O)``; M = N*OH*OW rows, K = C*KH*KW; no input gradient for the first layer, as ``fit``
skips it) or one inference pass needs (the forward products), each timed alone on one core
with its operands in cache (in chunks of rows), in the fastest of the forms NumPy offers (one
``matmul``, the transposed product, blocks of rows for OpenBLAS's small-matrix kernels). The
floor is their sum spread perfectly over the cores: what these products cost at best, whatever
an engine does about window copies, BatchNorm, the activations and the interpreter (all free
here). Other matrix forms of the same convolutions multiply more numbers (bands, shifted rows)
or fewer (Winograd); benchmarks/RESULTS.md has what they cost.

The same run times PyTorch's step (and onnxruntime's inference), alternating with convnp's, and
prints the best ratio the floor allows (PyTorch's time / the floor) beside the measured one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

THREADS = os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", THREADS)

import numpy as np  # noqa: E402

import convnp as cn  # noqa: E402
from convnp.benchmark import make_model_and_batch  # noqa: E402


def product_shapes(net, batch_size, mode):
    """``[(kind, (M, K, O)), ...]``: the products a step of ``mode`` needs, layer by layer."""
    model, x, _ = make_model_and_batch(net, 1)
    found = []

    def watch(layer):
        if isinstance(layer, (cn.Conv2d, cn.Linear)):
            forward = layer.forward

            def recorded(a, forward=forward, layer=layer):
                y = forward(a)
                found.append((layer, a.shape, y.shape))
                return y
            layer.forward = recorded
        for child in layer.children().values():
            watch(child)

    for layer in model.layers:
        watch(layer)
    with cn.engine("reference"):  # layer by layer, so that every layer's forward is called
        model.eval()
        for layer in model.layers:
            x = layer.forward(x)
    shapes = []
    for index, (layer, x_shape, y_shape) in enumerate(found):
        if isinstance(layer, cn.Conv2d):
            rows = batch_size * y_shape[2] * y_shape[3]
            depth = x_shape[1] * layer.kernel_size[0] * layer.kernel_size[1]
        else:
            rows, depth = batch_size, x_shape[1]
        mkn = (rows, depth, y_shape[1])
        shapes.append(("forward", mkn))
        if mode == "train":
            shapes.append(("weight", mkn))
            if index > 0:
                shapes.append(("input", mkn))
    return shapes


CHUNK_ROWS = 8192  # a product with more rows is timed on this many, its operands in cache, and scaled


def best_time(kind, mkn, seconds):
    """The least time of one product (median of its timed calls) over the forms NumPy offers;
    above ``CHUNK_ROWS`` rows, the time of that many rows (operands in cache) times the chunks."""
    from convnp.fast import force_conv_route, products

    rows, depth, out = mkn
    if rows > CHUNK_ROWS:
        return best_time(kind, (CHUNK_ROWS, depth, out), seconds) * rows / CHUNK_ROWS
    rng = np.random.default_rng(0)
    if kind == "weight":  # (K, O) = a.T @ b, a sum over the M rows
        a, b = rng.random((rows, depth), np.float32), rng.random((rows, out), np.float32)
        forms = [lambda: a.T @ b, lambda: b.T @ a]
        stacked = lambda: products.rows_product(a, b)  # noqa: E731
    else:  # (M, N) = lhs @ rhs: the forward product, or the input gradient's (M, O) @ (O, K)
        inner, width = (depth, out) if kind == "forward" else (out, depth)
        lhs, rhs = rng.random((rows, inner), np.float32), rng.random((inner, width), np.float32)
        result = np.empty((rows, width), np.float32)
        forms = [lambda: np.matmul(lhs, rhs, out=result), lambda: np.matmul(rhs.T, lhs.T).T]
        stacked = lambda: products.product_into(lhs, rhs, result)  # noqa: E731
    times = [median_call(form, seconds) for form in forms]
    with force_conv_route(stacked=True):
        times.append(median_call(stacked, seconds))
    return min(times)


def median_call(function, seconds):
    """Median seconds of one call, over about ``seconds`` of calls after a warm-up."""
    function(), function()
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 5:
        begin = time.perf_counter()
        function()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def floor_child(args):
    """In a process with OpenBLAS on one thread: print the floor of each net as JSON."""
    result = {}
    for net in args.nets:
        for mode in args.modes:
            size = args.batch_size if mode == "train" else args.infer_batch_size
            shapes = product_shapes(net, size, mode)
            cache = {}
            total = sum(cache.setdefault(s, best_time(*s, args.product_seconds)) for s in shapes)
            flops = sum(2 * m * k * o for _, (m, k, o) in shapes)
            result[f"{net}/{mode}"] = {"core_seconds": total, "gflop": flops / 1e9}
    print(json.dumps(result))


def measured(net, mode, batch_size, seconds, rounds, onnxruntime):
    """Median seconds per step of convnp, PyTorch (and onnxruntime), alternating."""
    import torch

    from convnp.benchmark import ConvnpStep, OnnxRuntimeStep, TorchStep, compare_many

    model, x, y = make_model_and_batch(net, batch_size)
    twin = cn.interop.to_torch(model)
    steps = [getattr(ConvnpStep(model, x, y), mode), getattr(TorchStep(twin, x, y), mode)]
    if onnxruntime and mode == "infer":
        steps.append(OnnxRuntimeStep(twin, x, int(THREADS)).infer)
    torch.set_num_threads(int(THREADS))
    rates, _ = compare_many(steps, batch_size, seconds, rounds)
    return [batch_size / rate for rate in rates]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["all"], choices=[*cn.models.names(), "all"])
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (the targets': 64)")
    parser.add_argument("--infer-batch-size", type=int, default=256, help="inference batch")
    parser.add_argument("--modes", nargs="+", choices=["train", "infer"], default=["train", "infer"])
    parser.add_argument("--seconds", type=float, default=0.5, help="one timed run of a step")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the steps")
    parser.add_argument("--product-seconds", type=float, default=0.2, help="timing of one product form")
    parser.add_argument("--no-onnxruntime", action="store_true", help="skip onnxruntime's inference")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for option in ("batch_size", "infer_batch_size", "seconds", "rounds", "product_seconds"):
        if not getattr(args, option) > 0:
            parser.error(f"--{option.replace('_', '-')} must be positive, got {getattr(args, option)}")
    if "all" in args.nets:
        args.nets = cn.models.names()
    if args.child:
        return floor_child(args)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    child = subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:]], env=env,
                           capture_output=True, text=True)
    if child.returncode != 0:
        sys.exit(f"gemm_floor: timing the products failed:\n{child.stderr}")
    floors = json.loads(child.stdout.strip().splitlines()[-1])
    cores = int(THREADS)
    ort = "" if args.no_onnxruntime else f"{'ort ms':>8}{'best vs ort':>13}"
    print(f"{'net':<15}{'mode':>6}{'batch':>6}{'GFLOP':>8}{'floor ms':>10}{'convnp ms':>11}{'torch ms':>10}"
          f"{'ratio':>7}{'best ratio':>12}{ort}")
    for net in args.nets:
        for mode in args.modes:
            size = args.batch_size if mode == "train" else args.infer_batch_size
            floor = floors[f"{net}/{mode}"]
            floor_s = floor["core_seconds"] / cores
            times = measured(net, mode, size, args.seconds, args.rounds, not args.no_onnxruntime)
            line = (f"{net:<15}{mode:>6}{size:>6}{floor['gflop']:>8.3f}{floor_s * 1e3:>10.4g}"
                    f"{times[0] * 1e3:>11.4g}{times[1] * 1e3:>10.4g}{times[1] / times[0]:>7.2f}"
                    f"{times[1] / floor_s:>12.2f}")
            if len(times) > 2:
                line += f"{times[2] * 1e3:>8.4g}{times[2] / floor_s:>13.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
