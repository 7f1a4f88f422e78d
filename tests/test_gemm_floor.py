"""benchmarks/gemm_floor.py: the products it counts, checked against PyTorch's layers, and a smoke
run of the script (no timing assertions)."""

import importlib.util
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

import convnp as cn

torch = pytest.importorskip("torch")
ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gemm_floor.py"


def _floor_module():
    spec = importlib.util.spec_from_file_location("gemm_floor", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_macs(net, batch_size):
    """Multiply-adds of one forward pass of the torch twin's Conv2d and Linear layers, sorted, from
    the shapes its forward hooks see (an independent count)."""
    from convnp.benchmark import make_model_and_batch

    model, x, _ = make_model_and_batch(net, batch_size)
    twin = cn.interop.to_torch(model).eval()
    counts = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            counts.append(output.numel() * per_output)
        else:
            counts.append(output.numel() * module.in_features)

    for module in twin.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.register_forward_hook(hook)
    with torch.no_grad():
        twin(torch.from_numpy(x))
    return sorted(counts)


@pytest.mark.parametrize("net", ["seed002", "lenet5", "cifar-small", "cifar-resnet"])
@pytest.mark.parametrize("batch_size", [3, 64])
def test_the_products_are_the_layers_multiply_adds(net, batch_size):
    shapes = _floor_module().product_shapes(net, batch_size, "infer")
    assert [kind for kind, _ in shapes] == ["forward"] * len(shapes)
    assert sorted(m * k * o for _, (m, k, o) in shapes) == _torch_macs(net, batch_size)


def test_a_training_step_has_three_products_a_layer_but_no_input_gradient_for_the_first():
    floor = _floor_module()
    infer, train = (floor.product_shapes("cifar-resnet", 8, mode) for mode in ("infer", "train"))
    assert len(train) == 3 * len(infer) - 1
    assert [kind for kind, _ in train[:5]] == ["forward", "weight", "forward", "weight", "input"]
    assert {shape for _, shape in train} == {shape for _, shape in infer}  # the same (M, K, O) each


def test_the_script_prints_a_floor_and_the_measured_ratios_for_each_net_and_mode():
    result = subprocess.run([sys.executable, str(SCRIPT), "--nets", "seed000", "--batch-size", "32",
                             "--infer-batch-size", "32", "--seconds", "0.02", "--rounds", "1",
                             "--product-seconds", "0.005", "--no-onnxruntime"],
                            capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split()[:5] == ["net", "mode", "batch", "GFLOP", "floor"]
    assert [row.split()[:3] for row in rows] == [["seed000", "train", "32"], ["seed000", "infer", "32"]]
    for row in rows:
        gflop, floor_ms, convnp_ms, torch_ms, ratio, best = map(float, row.split()[3:9])
        assert gflop > 0 and floor_ms > 0 and convnp_ms > 0 and torch_ms > 0
        assert best == pytest.approx(torch_ms / floor_ms, rel=0.01, abs=0.01)  # as printed: 4 digits
        assert ratio == pytest.approx(torch_ms / convnp_ms, rel=0.01, abs=0.01)


@pytest.mark.parametrize("option", ["--batch-size", "--infer-batch-size", "--rounds", "--seconds"])
def test_a_count_or_time_that_is_not_positive_is_a_usage_error_naming_the_option(option):
    result = subprocess.run([sys.executable, str(SCRIPT), option, "0"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert re.search(rf"error: {option} must be positive, got 0(\.0)?$", last), last
