"""convnp bench: speed tables, alone and against PyTorch (no timing assertions)."""

import importlib.util

from helpers import run_cli


def test_bench_prints_train_and_infer_rates(capsys):
    status, out, _ = run_cli(capsys, "bench", "--models", "seed000", "seed002", "--batch-sizes", "8", "16",
                             "--seconds", "0.02", "--rounds", "1")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [(m, b, mode) for m in ("seed000", "seed002")
                                                 for b in ("8", "16") for mode in ("train", "infer")]
    assert all(float(r[3]) > 0 for r in rows)


def test_bench_against_torch_adds_torch_rate_and_ratio(capsys):
    status, out, _ = run_cli(capsys, "bench", "--models", "seed000", "--batch-sizes", "8",
                             "--seconds", "0.02", "--rounds", "1", "--torch")
    assert status == 0
    header, *rows = out.splitlines()
    assert "torch img/s" in header and "ratio" in header and len(rows) == 2
    for row in rows:
        mine, theirs, ratio = map(float, row.split()[3:])
        rounding = 0.5 / theirs + 0.5 / mine  # the rates are printed as whole img/s
        assert abs(mine / theirs - ratio) <= (0.01 + rounding) * ratio + 0.01


def test_bench_errors_are_one_line(capsys, monkeypatch):
    status, _, err = run_cli(capsys, "bench", "--batch-sizes", "0")
    assert status == 2 and err.startswith("convnp: error:") and err.count("\n") == 1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    status, _, err = run_cli(capsys, "bench", "--torch")
    assert status == 2 and "needs PyTorch" in err


def test_bench_all_runs_every_zoo_model(capsys, monkeypatch):
    from convnp.cli import bench

    monkeypatch.setattr(bench.models, "names", lambda: ["seed000", "lenet5"])  # two stand for all
    status, out, _ = run_cli(capsys, "bench", "--models", "all", "--batch-sizes", "4",
                             "--seconds", "0.01", "--rounds", "1")
    assert status == 0
    rows = [line.split()[:3] for line in out.splitlines()[1:]]
    assert rows == [[name, "4", mode] for name in ("seed000", "lenet5") for mode in ("train", "infer")]


def test_the_benchmark_profile_covers_every_layer_of_a_training_step_and_an_inference_pass():
    """``bench_vs_torch.py --profile``: convnp's plan steps, PyTorch's operators and onnxruntime's
    node types, for both modes (a smoke test of the benchmark script: no timing assertions)."""
    import os
    import pathlib
    import re
    import subprocess
    import sys

    import pytest

    pytest.importorskip("onnxruntime")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_vs_torch.py"), "--profile",
                             "--nets", "seed002", "--batch-sizes", "16"], capture_output=True, text=True,
                            timeout=600, env=dict(os.environ, CONVNP_NUM_THREADS="2"))
    assert result.returncode == 0, result.stderr
    training, inference = result.stdout.split("profile: inference")
    for section in (training, inference):  # every layer of seed002 has a row (the ReLUs fused)
        for layer in ("Conv2d(1→8, k=5)", "Conv2d(8→16, k=5)", "MaxPool2d(k=2) + ReLU", "Linear(256→10)"):
            row = rf"^{re.escape(layer)}\s+\d+\s+\d+\.\d\d"  # name, calls, ms
            assert re.search(row, section, re.MULTILINE), (layer, section)
        assert "aten::" in section  # PyTorch's operators
    assert "one step =" in training and "part(s) side by side" in inference
    assert re.search(r"^\s+Conv\s+2\s+\d+\.\d\d ms", inference, re.MULTILINE)  # onnxruntime's 2 convs


def test_bench_on_two_processes_splits_the_training_steps(capsys):
    import pytest

    import convnp as cn

    if not cn.fast.processes.available():
        pytest.skip("worker processes need Linux")
    steps = cn.fast.processes.split_steps()
    try:  # cifar-small's 64 images are worth two processes
        status, out, _ = run_cli(capsys, "bench", "--models", "cifar-small", "--batch-sizes", "64",
                                 "--seconds", "0.02", "--rounds", "1", "--processes", "2")
        assert cn.fast.get_num_processes() == 2
    finally:
        cn.fast.set_num_processes(1)
    assert status == 0 and [row.split()[:3] for row in out.splitlines()[1:]] == [
        ["cifar-small", "64", "train"], ["cifar-small", "64", "infer"]]
    assert cn.fast.processes.split_steps() > steps
