"""What the batch-split threads of convnp's elementwise kernels bring: 2 threads vs 1, same run.

    python benchmarks/bench_threads.py [--nets seed002 simple-cnn cifar-small]
        [--batch-sizes 32 64 128] [--seconds 0.5] [--rounds 5] [--threads 2]

For every net and batch size, times convnp training steps (forward + loss + backward + SGD
step) and inference at batch 256 with ``CONVNP_NUM_THREADS=1`` and ``=THREADS`` alternately
(A B A B …, the variable is read at every call) and prints the median pairwise speed-up. BLAS
keeps its own thread count (``OPENBLAS_NUM_THREADS``, default 2 here) in both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", os.environ["OPENBLAS_NUM_THREADS"])

from convnp.benchmark import ConvnpStep, calls_per_second, make_model_and_batch  # noqa: E402


def speedup(function, threads, seconds, rounds):
    """Median over rounds of (calls/s with ``threads``) / (calls/s with 1 thread), interleaved."""
    function(), function()  # warm-up
    ratios = []
    for _ in range(rounds):
        os.environ["CONVNP_NUM_THREADS"] = "1"
        single = calls_per_second(function, seconds)
        os.environ["CONVNP_NUM_THREADS"] = str(threads)
        ratios.append(calls_per_second(function, seconds) / single)
    return statistics.median(ratios), min(ratios), max(ratios)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["seed002", "simple-cnn", "cifar-small"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64, 128])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; convnp threads 1 vs {args.threads}")
    print(f"{'net':<12}{'pass':<10}{'batch':>6}   speed-up (median, min–max)")
    cases = [("training", b) for b in args.batch_sizes] + [("inference", 256)]
    for net in args.nets:
        for kind, batch_size in cases:
            model, x, y = make_model_and_batch(net, batch_size)
            step = ConvnpStep(model, x, y)
            function = step.train if kind == "training" else step.infer
            median, low, high = speedup(function, args.threads, args.seconds, args.rounds)
            print(f"{net:<12}{kind:<10}{batch_size:>6}   {median:.2f}×  ({low:.2f}–{high:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
