"""convnp vs PyTorch CPU (and onnxruntime for inference), throughput measured in the same process.

    python benchmarks/bench_vs_torch.py [--nets seed002 simple-cnn cifar-small | all]
        [--batch-sizes 32 64 128 256] [--seconds 1.0] [--rounds 7] [--profile] [--memory]
        [--scaling] [--modes train infer] [--processes K] [--no-onnxruntime]

For every net: build the convnp model and its PyTorch twin with identical weights
(``cn.interop.to_torch``), check that one training step of each framework in float32 is as close
to the float64 result as the other's, then time training steps (forward + loss + backward + SGD
step) and inference, alternating the frameworks (A B A B …) after a warm-up, all on the same
number of threads. Inference also runs the twin exported with ``torch.onnx.export`` in
onnxruntime. Ratios are medians of the pairwise ratios convnp img/s / other img/s, which
cancels most of the noise of a shared machine. float32 throughout.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

THREADS = os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", THREADS)

import numpy as np  # noqa: E402
import profiling  # noqa: E402  (benchmarks/profiling.py)
import torch  # noqa: E402

import convnp as cn  # noqa: E402
from convnp.benchmark import (  # noqa: E402
    ConvnpStep,
    OnnxRuntimeStep,
    TorchStep,
    compare,
    compare_many,
    make_model_and_batch,
)


def make_pair(net, batch_size, image_size=None, seed=0):
    """A convnp zoo model, its torch twin with the same weights, and one batch of data."""
    model, x, y = make_model_and_batch(net, batch_size, image_size, seed)
    return model, cn.interop.to_torch(model), x, y


def check_same_step(net):
    """One float32 training step of each framework, compared with the float64 result (convnp's
    float64 twin of the same weights): convnp must be about as close to it as torch is.

    Returns the worst relative gradient errors ``(convnp, torch)``. Comparing the two float32
    results with each other would blame either for the other's rounding: deep nets with
    BatchNorm amplify float32 rounding, and either framework can be the farther one.
    """
    model, twin, x, y = make_pair(net, 16)
    _dropout_off(model)
    wide = cn.interop.to_torch(model).double()  # the float64 reference, same weights
    for module in (twin, wide):  # no random masks: they would differ between the three runs
        for layer in module.modules():
            if isinstance(layer, torch.nn.Dropout):
                layer.eval()
    errors = []
    for grads in (_convnp_grads(model, x, y), _torch_grads(twin, x, y)):
        reference = _torch_grads(wide, x.astype(np.float64), y)
        errors.append(max(float(np.abs(grads[name] - value).max() / (np.abs(value).max() + 1e-12))
                          for name, value in reference.items()))
    if errors[0] > max(1e-3, 5 * errors[1]):  # a wrong gradient is off by O(1), not by rounding
        raise SystemExit(f"{net}: convnp's float32 gradients are {errors[0]:.2e} from the float64 result, "
                         f"torch's {errors[1]:.2e}")
    return errors


def _dropout_off(layer):
    """Put every Dropout inside ``layer`` in eval mode (the identity)."""
    if isinstance(layer, cn.Dropout):
        layer.eval()
    for child in layer.children().values():
        _dropout_off(child)


def _convnp_grads(model, x, y):
    loss = cn.CrossEntropyLoss()
    loss(model.forward(x), y)
    model.backward(loss.backward())
    return {name: p.grad.astype(np.float64) for name, p in model.named_parameters().items()}


def _torch_grads(twin, x, y):
    twin.zero_grad()
    torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    return {name: p.grad.double().numpy() for name, p in twin.named_parameters()}


def _status_kb(field, pid="self"):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def measure_peak(framework, net, batch_size):
    """In this (fresh) process: peak RSS growth in MB over a few training steps after setup.

    The high-water mark is reset after setup (Linux: ``5`` into /proc/self/clear_refs), so what
    importing torch or building the models touched does not hide the step's own peak.
    """
    model, twin, x, y = make_pair(net, batch_size)
    step = ConvnpStep(model, x, y) if framework == "convnp" else TorchStep(twin, x, y)
    started = framework == "convnp" and cn.fast.processes.start_workers()
    pids = ["self", *(cn.fast.processes.worker_pids() if started else [])]  # workers' growth counts too
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    baselines = [_status_kb("VmRSS", pid) for pid in pids]
    for _ in range(3):
        step.train()
    return sum(_status_kb("VmHWM", pid) - base for pid, base in zip(pids, baselines, strict=True)) / 1024


def peak_memory_mb(framework, net, batch_size):
    """Peak RSS growth (MB) of training steps, measured in a fresh process (fair to both)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
            f"import bench_vs_torch as b; print(b.measure_peak({framework!r}, {net!r}, {batch_size}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, CONVNP_NUM_PROCESSES=str(cn.fast.get_num_processes())))
    return float(out.stdout.strip().splitlines()[-1])


def machine_line():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}) \
        if hasattr(np, "show_config") else {}
    return (f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, numpy {np.__version__} "
            f"({blas.get('name', '?')} {blas.get('version', '')}), torch {torch.__version__}, "
            f"threads: BLAS {THREADS}, torch {torch.get_num_threads()}")


def scaling(seconds, rounds):
    print("\nscaling: simple-cnn training step time (ms), convnp and torch")
    print(f"{'batch':>6}{'image':>7}{'convnp ms':>11}{'torch ms':>10}{'convnp ms/img':>15}{'ratio':>7}")
    model, twin, x, y = make_pair("simple-cnn", 8)  # throwaway: torch's one-time set-up costs
    compare(ConvnpStep(model, x, y).train, TorchStep(twin, x, y).train, 8, seconds, 1)
    for batch_size, image in [(b, 28) for b in (8, 16, 32, 64, 128, 256, 512)] + [(64, 56), (64, 112)]:
        model, twin, x, y = make_pair("simple-cnn", batch_size, image)
        a, b, ratio = compare(ConvnpStep(model, x, y).train, TorchStep(twin, x, y).train, batch_size,
                              seconds, rounds)
        print(f"{batch_size:>6}{image:>7}{batch_size / a * 1e3:>11.2f}{batch_size / b * 1e3:>10.2f}"
              f"{1e3 / a:>15.3f}{ratio:>7.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["seed002", "simple-cnn", "cifar-small"],
                        choices=[*cn.models.names(), "all"], help="zoo nets, or 'all'")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64, 128, 256])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--rounds", type=int, default=7, help="A/B pairs per measurement")
    parser.add_argument("--profile", action="store_true",
                        help="per-layer time of one training step and/or inference pass (--modes)")
    parser.add_argument("--memory", action="store_true", help="peak memory of a training step")
    parser.add_argument("--scaling", action="store_true", help="simple-cnn step time vs batch/image size")
    parser.add_argument("--modes", nargs="+", choices=["train", "infer"], default=["train", "infer"])
    parser.add_argument("--processes", type=int, default=1,
                        help="convnp's training steps split over this many processes (convnp.fast.processes)")
    parser.add_argument("--no-onnxruntime", action="store_true",
                        help="skip the onnxruntime inference column (it needs onnx and onnxruntime)")
    args = parser.parse_args()
    torch.set_num_threads(int(THREADS))
    cn.fast.set_num_processes(args.processes)
    if args.processes > 1 and not cn.fast.processes.start_workers():
        parser.error(f"--processes {args.processes}: the worker processes did not start")
    print(machine_line() + (f"; convnp training on {args.processes} processes" if args.processes > 1 else ""))
    if args.profile:
        for net in (cn.models.names() if "all" in args.nets else args.nets):
            print(f"\n== {net}")
            model, twin, x, y = make_pair(net, args.batch_sizes[0])
            if "train" in args.modes:
                profiling.profile_training(model, twin, x, y)
            if "infer" in args.modes:
                profiling.profile_inference(model, twin, x, onnxruntime=not args.no_onnxruntime)
        return
    if args.scaling:
        scaling(args.seconds, args.rounds)
        return
    nets = cn.models.names() if "all" in args.nets else args.nets
    print(f"\n{'net':<15}{'batch':>6}{'mode':>7}{'convnp img/s':>14}{'torch img/s':>13}{'ratio':>7}"
          + ("" if args.no_onnxruntime or "infer" not in args.modes else f"{'ort img/s':>11}{'vs ort':>8}"))
    for net in nets:
        errors = check_same_step(net)
        print(f"{net}: float32 gradients vs float64, worst relative error: convnp {errors[0]:.1e}, "
              f"torch {errors[1]:.1e}")
        for batch_size in args.batch_sizes:
            model, twin, x, y = make_pair(net, batch_size)
            mine, theirs = ConvnpStep(model, x, y), TorchStep(twin, x, y)
            for mode in args.modes:
                line = f"{net:<15}{batch_size:>6}{mode:>7}"
                if mode == "infer" and not args.no_onnxruntime:
                    ort = OnnxRuntimeStep(twin, x, int(THREADS))
                    (a, b, c), (ratio, ratio_ort) = compare_many([mine.infer, theirs.infer, ort.infer],
                                                                 batch_size, args.seconds, args.rounds)
                    print(f"{line}{a:>14.0f}{b:>13.0f}{ratio:>7.2f}{c:>11.0f}{ratio_ort:>8.2f}", flush=True)
                    continue
                a, b, ratio = compare(getattr(mine, mode), getattr(theirs, mode), batch_size,
                                      args.seconds, args.rounds)
                print(f"{line}{a:>14.0f}{b:>13.0f}{ratio:>7.2f}", flush=True)
        if args.memory:
            for batch_size in args.batch_sizes:
                ours, theirs = (peak_memory_mb(f, net, batch_size) for f in ("convnp", "torch"))
                ratio = f"{ours / theirs:.2f}" if theirs >= 1 else "n/a (too small to measure)"
                print(f"{net:<15}{batch_size:>6}   peak training memory growth: convnp {ours:.0f} MB, "
                      f"torch {theirs:.0f} MB, ratio {ratio}")


if __name__ == "__main__":
    main()
