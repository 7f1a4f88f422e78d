"""``convnp bench``: training and inference speed of zoo models on this machine."""

from __future__ import annotations

import importlib.util
import math

from .. import models
from ..benchmark import ConvnpStep, TorchStep, compare, make_model_and_batch, throughput
from ..interop import to_torch
from .common import CLIError, set_processes

MAX_BATCH = 4096  # a benchmark batch beyond this only measures the allocator (or runs out of memory)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "bench", help="measure training and inference speed (img/s), optionally against PyTorch",
        description="Time training steps (forward, loss, backward, SGD step) and inference of zoo "
                    "models on random float32 data. With --torch, PyTorch runs the same model with "
                    "the same weights, alternating with convnp, and the ratio is the median of the "
                    "pairwise ratios. benchmarks/bench_vs_torch.py has the full suite.")
    parser.add_argument("--models", nargs="+", choices=[*models.names(), "all"], default=["simple-cnn"],
                        help="zoo models to time, or 'all' (default simple-cnn)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--torch", action="store_true", help="compare with PyTorch (if installed)")
    parser.add_argument("--processes", type=int, metavar="K",
                        help="split each training batch over K processes, as convnp train --processes "
                             "does (Linux; default $CONVNP_NUM_PROCESSES or 1)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.torch and importlib.util.find_spec("torch") is None:
        raise CLIError("--torch needs PyTorch: pip install torch (convnp's dev extra pins torch==2.13.0)")
    if min(args.batch_sizes) < 1 or not args.seconds > 0 or args.rounds < 1:
        raise CLIError(f"--batch-sizes, --seconds and --rounds must be positive, got "
                       f"{args.batch_sizes}, {args.seconds} and {args.rounds}")
    if max(args.batch_sizes) > MAX_BATCH or not math.isfinite(args.seconds):
        raise CLIError(f"--batch-sizes must be at most {MAX_BATCH} and --seconds finite, got "
                       f"{args.batch_sizes} and {args.seconds}")
    set_processes(args.processes, None)
    header = f"{'model':<13}{'batch':>6}{'mode':>7}{'convnp img/s':>14}"
    print(header + (f"{'torch img/s':>13}{'ratio':>7}" if args.torch else ""))
    names = models.names() if "all" in args.models else args.models
    for name in names:
        for batch_size in args.batch_sizes:
            model, x, y = make_model_and_batch(name, batch_size)
            mine = ConvnpStep(model, x, y)
            theirs = TorchStep(to_torch(model), x, y) if args.torch else None
            for mode in ("train", "infer"):
                line = f"{name:<13}{batch_size:>6}{mode:>7}"
                if theirs is None:
                    rate = throughput(getattr(mine, mode), batch_size, args.seconds, args.rounds)
                    print(f"{line}{rate:>14.0f}", flush=True)
                else:
                    a, b, ratio = compare(getattr(mine, mode), getattr(theirs, mode), batch_size,
                                          args.seconds, args.rounds)
                    print(f"{line}{a:>14.0f}{b:>13.0f}{ratio:>7.2f}", flush=True)
    return 0
