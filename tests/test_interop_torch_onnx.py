"""torch → ONNX (the dynamo exporter and dynamo=False) → cn.interop.from_onnx, and clear errors for
what convnp cannot represent or read."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from convnp.interop import from_onnx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")  # the dynamo exporter's dependency

EXPORTERS = ["dynamo", "legacy"]
RELATIVE = 1e-5


class Residual(nn.Module):
    """A residual block written the usual way: ``shortcut(x) + layers(x)``."""

    def __init__(self, layers, shortcut=None):
        super().__init__()
        self.layers, self.shortcut = layers, shortcut

    def forward(self, x):
        return (x if self.shortcut is None else self.shortcut(x)) + self.layers(x)


class Block(nn.Module):
    """torchvision's BasicBlock style: other attribute names, the addition inside ``forward``."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class ViewFlatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


class SpatialMean(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def randomise_batch_norms(module):
    generator = torch.Generator().manual_seed(0)
    for bn in module.modules():
        if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
            shape = bn.running_mean.shape
            bn.running_mean.copy_(torch.randn(shape, generator=generator) * 0.3)
            bn.running_var.copy_(torch.rand(shape, generator=generator) * 1.5 + 0.5)
            bn.weight.data.copy_(torch.rand(shape, generator=generator) + 0.5)
            bn.bias.data.copy_(torch.randn(shape, generator=generator) * 0.3)
    return module.eval()


def every_activation_net():
    """'same' with even kernels, padded pools, every activation, residual blocks with BatchNorm."""
    torch.manual_seed(0)
    return randomise_batch_norms(nn.Sequential(
        nn.Conv2d(2, 4, (2, 3), padding="same"), nn.ReLU(), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.MaxPool2d(3, 1, 1), nn.ELU(0.5), nn.AvgPool2d(3, 2, 1), nn.Softplus(2.0, 5.0),
        Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Tanh())),
        Residual(nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.SELU()),
                 nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))),
        nn.Softplus(), nn.Sigmoid(), nn.Conv2d(6, 6, 4, padding="same"), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(),
        nn.Linear(5, 4, bias=False), nn.Softmax(dim=1)))


def block_net():
    """Custom residual blocks and ``x.view(x.size(0), -1)``."""
    torch.manual_seed(1)
    return randomise_batch_norms(nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), Block(4), nn.MaxPool2d(2), Block(4), ViewFlatten(),
        nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 3)))


def mean_net():
    """Equal weights in two layers and a default BatchNorm: the dynamo exporter shares them."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1),
                        nn.Conv2d(3, 3, 1), SpatialMean(), nn.Linear(3, 2)).eval()
    net[4].load_state_dict(net[3].state_dict())
    return net


NETS = {"every-activation": (every_activation_net, (2, 9, 10)), "blocks": (block_net, (1, 8, 8)),
        "mean": (mean_net, (1, 6, 6))}


def export(module, path, exporter, shape):
    x = torch.rand(2, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(module, (x,), str(path), dynamo=True, verbose=False,
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
        else:
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "batch"}})
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Every net of NETS exported by both exporters once: {(net, exporter): (module, path)}."""
    folder = tmp_path_factory.mktemp("torch-onnx")
    return {(name, exporter): (build_shape[0](), export(build_shape[0](), folder / f"{name}-{exporter}.onnx",
                                                        exporter, build_shape[1]))
            for name, build_shape in NETS.items() for exporter in EXPORTERS}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(NETS))
def test_torch_exports_read_into_the_same_function(exports, name, exporter):
    module, path = exports[name, exporter]
    model = from_onnx(path)
    x = np.random.default_rng(0).random((3, *NETS[name][1]), dtype=np.float32)
    expected = module(torch.from_numpy(x)).detach().numpy()
    actual = model.predict(x)
    assert np.max(np.abs(actual - expected)) <= RELATIVE * np.max(np.abs(expected))
    assert model.metadata["input_shape"] == list(NETS[name][1])


def test_structure_is_recovered(exports):
    for exporter in EXPORTERS:
        kinds = [type(layer).__name__ for layer in from_onnx(exports["blocks", exporter][1]).layers]
        assert kinds == ["Conv2d", "Residual", "ReLU", "MaxPool2d", "Residual", "ReLU", "Flatten",
                         "Linear", "Tanh", "Linear"], exporter
        kinds = [type(layer).__name__ for layer in from_onnx(exports["mean", exporter][1]).layers]
        assert kinds == ["Conv2d", "ReLU", "BatchNorm2d", "Conv2d", "Conv2d", "GlobalAvgPool2d",
                         "Linear"], exporter
    graph = onnx.load(str(exports["mean", "dynamo"][1])).graph
    uses = [name for node in graph.node for name in node.input if name in {i.name for i in graph.initializer}]
    assert len(uses) > len(set(uses))  # shared initializers: weights must be found by position
    layers = from_onnx(exports["every-activation", "dynamo"][1]).layers
    assert repr(layers[0]) == "Conv2d(2→4, k=2x3, padding='same')"
    assert "Softplus(beta=2.0, threshold=5.0)" in map(repr, layers)
    assert sum(type(layer).__name__ == "Residual" for layer in layers) == 2


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_ceil_mode_pool_that_changes_the_size_is_refused(tmp_path, exporter):
    net = nn.Sequential(nn.Conv2d(1, 2, 2), nn.MaxPool2d(2, ceil_mode=True)).eval()
    path = export(net, tmp_path / "ceil.onnx", exporter, (1, 8, 8))  # 7x7 into the pool: 3 or 4
    with pytest.raises(ValueError, match="MaxPool node .*ceil_mode=1 is not supported"):
        from_onnx(path)


def test_ceil_mode_pool_that_changes_nothing_is_read(tmp_path):
    net = nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.AvgPool2d(2, ceil_mode=True)).eval()
    model = from_onnx(export(net, tmp_path / "ceil.onnx", "legacy", (1, 8, 8)))
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), net(torch.from_numpy(x)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("module, message", [
    (nn.Upsample(scale_factor=2), "unsupported op 'Resize' at node '/1/Resize'"),
    (nn.AvgPool2d(3, 1, 1, count_include_pad=False), "count_include_pad=0 with padding"),
    (nn.Conv2d(2, 2, 3, groups=2), "grouped convolution"),
    (nn.Conv2d(2, 2, 3, dilation=2), "dilations"),
])
def test_what_convnp_lacks_gets_a_clear_error(tmp_path, module, message):
    net = nn.Sequential(nn.Conv2d(1, 2, 1), module).eval()
    with pytest.raises(ValueError, match=message):
        from_onnx(export(net, tmp_path / "net.onnx", "legacy", (1, 6, 6)))


def test_corrupt_truncated_empty_and_missing_files(tmp_path, exports):
    data = open(exports["mean", "legacy"][1], "rb").read()
    (tmp_path / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.onnx").write_bytes(np.random.default_rng(0).bytes(500))
    (tmp_path / "empty.onnx").write_bytes(b"")
    for name in ("truncated", "corrupt", "empty"):
        with pytest.raises(ValueError, match=f"{name}.onnx is not a valid ONNX model|{name}.onnx: "):
            from_onnx(tmp_path / f"{name}.onnx")
    with pytest.raises(FileNotFoundError, match="cannot open"):
        from_onnx(tmp_path / "missing.onnx")


def test_external_data_outside_the_models_folder_is_refused(tmp_path, exports):
    proto = onnx.load(str(exports["mean", "legacy"][1]))
    weight = next(init for init in proto.graph.initializer if init.dims == [3, 1, 3, 3])
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "108")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "secret.bin").write_bytes(bytes(108))
    (tmp_path / "model").mkdir()
    onnx.save(proto, str(tmp_path / "model" / "evil.onnx"))
    with pytest.raises(ValueError, match="initializer '0.weight' points outside the model's folder"):
        from_onnx(tmp_path / "model" / "evil.onnx")
