"""Data-parallel scaling on MPI: measured on this machine, then projected to a cluster.

    python benchmarks/bench_scaling.py [--nets simple-cnn cifar-small] [--batch-size 64] [--steps 12]
        [--rounds 3]
    python benchmarks/bench_scaling.py --zoo [--batch-size 32] [--steps 3] [--rounds 3]

The first form trains each net with ``fit`` on a global batch of ``--batch-size`` random images
in three configurations and reports the median step time and images/s of each:

- 1 process with 1 BLAS thread (the unit a cluster multiplies),
- ``mpiexec -n 2``: 2 processes with 1 thread each (``fit(distributed="mpi")``),
- 1 process with 2 BLAS threads (what the same two cores give without MPI),

and the time of the step's one Allreduce alone. ``--zoo`` measures every zoo model's step time
on one process with one thread at a per-process batch of ``--batch-size`` and its Allreduce size,
then projects the throughput of N such processes (one per machine) joined by a ring Allreduce
over 10 and 100 Gb/s (see docs/scaling.md for the model). Each measurement runs in a fresh
subprocess, because the BLAS thread count is fixed when NumPy is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = (("1 process x 1 thread", 1, 1), ("2 MPI processes x 1 thread", 2, 1),
           ("1 process x 2 threads", 1, 2))
NETWORKS = {"10 Gb/s": (10e9, 20e-6), "100 Gb/s": (100e9, 5e-6)}  # bandwidth (bit/s), latency per message (s)
MACHINES = (1, 4, 16, 64, 256)
WARMUP = 2  # steps left out of the timing (work arrays are allocated in the first ones)


class StepTimer:
    """A callback noting the clock at the beginning and end of every training batch."""

    def __init__(self):
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def worker(net, batch_size, steps):
    """Run inside each process: train ``steps + WARMUP`` batches, print rank 0's timings as JSON."""
    import numpy as np

    import convnp as cn
    from convnp.benchmark import make_model_and_batch

    distributed = None
    if os.environ.get("PMI_SIZE", "1") != "1" or os.environ.get("OMPI_COMM_WORLD_SIZE", "1") != "1":
        distributed = "mpi"
    model, x, y = make_model_and_batch(net, batch_size * (steps + WARMUP))
    timer = StepTimer()
    model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=cn.optim.SGD(model.parameters(), lr=0.01),
              batch_size=batch_size, shuffle=False, verbose=False, callbacks=[timer], distributed=distributed)
    step = float(np.median(np.diff(timer.times)[::2][WARMUP:]))  # (end - begin) of each batch
    parameters = sum(p.size for p in model.parameters())
    allreduce, rank = 0.0, 0
    if distributed:
        from convnp.distributed import connect

        group = connect("mpi")
        rank, buffer = group.rank, np.zeros(parameters + 4, dtype=np.float32)
        samples = []
        for _ in range(20):
            group.comm.Barrier()
            started = time.perf_counter()
            group.sum_(buffer)
            samples.append(time.perf_counter() - started)
        allreduce = float(np.median(samples))
    if rank == 0:
        print(json.dumps({"net": net, "step_s": step, "images_per_s": batch_size / step,
                          "parameters": parameters, "allreduce_s": allreduce}))


def measure(net, batch_size, steps, processes, threads):
    """One configuration in a fresh subprocess (under mpiexec for several processes)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--worker", net, str(batch_size), str(steps)]
    if processes > 1:
        mpiexec = Path(sys.executable).with_name("mpiexec")
        command = [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", str(processes),
                   sys.executable, "-m", "mpi4py", *command[1:]]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ring_allreduce_seconds(size_bytes, machines, bandwidth_bits, latency):
    """Ring Allreduce of ``size_bytes`` over ``machines``: 2(N-1) messages of S/N bytes each way."""
    if machines == 1:
        return 0.0
    steps = 2 * (machines - 1)
    return steps * (latency + size_bytes / machines * 8 / bandwidth_bits)


def projection(step_s, per_process_batch, size_bytes, bandwidth_bits, latency):
    """Images/s and efficiency (compute share of a step) for each count of machines."""
    rows = []
    for machines in MACHINES:
        communication = ring_allreduce_seconds(size_bytes, machines, bandwidth_bits, latency)
        total = step_s + communication
        rows.append((machines, machines * per_process_batch / total, step_s / total))
    return rows


def crossover(step_s, size_bytes, bandwidth_bits, latency):
    """The smallest machine count whose Allreduce takes longer than the compute, or None (> 4096)."""
    for machines in range(2, 4097):
        if ring_allreduce_seconds(size_bytes, machines, bandwidth_bits, latency) > step_s:
            return machines
    return None


def compare_configs(nets, batch_size, steps, rounds):
    """The three configurations in alternating rounds (A B C A B C …): medians per configuration."""
    print(f"global batch {batch_size}, median step over {rounds} rounds of {steps} steps; float32; "
          f"load average before: {os.getloadavg()[0]:.1f}\n")
    print("| net | configuration | step (ms) | img/s | Allreduce (ms) |\n|---|---|---:|---:|---:|")
    for net in nets:
        runs = [[measure(net, batch_size, steps, processes, threads) for _, processes, threads in CONFIGS]
                for _ in range(rounds)]
        for index, (label, processes, _) in enumerate(CONFIGS):
            step = statistics.median(run[index]["step_s"] for run in runs)
            allreduce = statistics.median(run[index]["allreduce_s"] for run in runs)
            print(f"| {net} | {label} | {1e3 * step:.1f} | {batch_size / step:.0f} | "
                  f"{f'{1e3 * allreduce:.2f}' if processes > 1 else '–'} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


def zoo(batch_size, steps, rounds):
    from convnp import models

    print(f"per-process batch {batch_size}, 1 process x 1 thread, median of {steps} steps, the fastest of "
          f"{rounds} rounds; float32; "
          f"load average before: {os.getloadavg()[0]:.1f}\n")
    print("| model | parameters | Allreduce size | step (ms) | img/s |\n|---|---:|---:|---:|---:|")
    measured = []
    for net in models.names():  # the fastest of the rounds: the least disturbed by other work
        row = min((measure(net, batch_size, steps, 1, 1) for _ in range(rounds)), key=lambda r: r["step_s"])
        size = 4 * (row["parameters"] + 4)
        measured.append((net, row["step_s"], size))
        print(f"| {net} | {row['parameters']:,} | {size / 1e6:.3f} MB | {1e3 * row['step_s']:.1f} | "
              f"{row['images_per_s']:.0f} |", flush=True)
    for network, (bandwidth, latency) in NETWORKS.items():
        print(f"\n{network} (latency {latency * 1e6:.0f} us per message): img/s (efficiency) on N machines, "
              f"and the N at which the Allreduce takes longer than the compute\n")
        print("| model | " + " | ".join(f"N={n}" for n in MACHINES) + " | comm > compute at |")
        print("|---|" + "---:|" * (len(MACHINES) + 1))
        for net, step_s, size in measured:
            cells = [f"{rate:,.0f} ({efficiency:.0%})"
                     for _, rate, efficiency in projection(step_s, batch_size, size, bandwidth, latency)]
            at = crossover(step_s, size, bandwidth, latency)
            print(f"| {net} | " + " | ".join(cells) + f" | {'> 4096' if at is None else f'N = {at}'} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=["simple-cnn", "cifar-small"])
    parser.add_argument("--batch-size", type=int, default=None, help="default 64 (global), 32 with --zoo")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 12, 3 with --zoo)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the configurations")
    parser.add_argument("--zoo", action="store_true",
                        help="every zoo model on one thread, and the projection to N machines")
    args = parser.parse_args()
    if args.zoo:
        zoo(args.batch_size or 32, args.steps or 3, args.rounds)
    else:
        compare_configs(args.nets, args.batch_size or 64, args.steps or 12, args.rounds)


if __name__ == "__main__":
    main()
