"""cn.interop.to_onnx and `convnp export`: files onnxruntime runs with model.predict's numbers,
and that from_onnx reads back into the same model."""

import os
import subprocess
import sys

import numpy as np
import pytest

import convnp as cn
from convnp.interop import from_onnx, to_onnx
from helpers import run_cli

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RELATIVE = 1e-5  # onnxruntime vs model.predict: max |difference| / max |output|


def _shape(name):
    return (3, 32, 32) if name.startswith("cifar") else (1, 28, 28)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30))


def randomise_batch_norms(model, rng):
    """Non-default running statistics and affine parameters, so a wrong mapping shows."""
    for name, array in model.state_dict().items():
        if name.endswith(("running_mean", "bias")) and array.dtype.kind == "f":
            state = {name: rng.normal(0, 0.3, array.shape)}
        elif name.endswith("running_var"):
            state = {name: rng.uniform(0.5, 2.0, array.shape)}
        else:
            continue
        model.load_state_dict(state, strict=False)


@pytest.mark.parametrize("name", cn.models.names())
def test_zoo_model_round_trips_through_onnxruntime_and_back(name, tmp_path):
    rng = np.random.default_rng(0)
    model = cn.models.build(name, _shape(name), 10, rng=0)
    randomise_batch_norms(model, rng)
    path = to_onnx(model, tmp_path / f"{name}.onnx", input_shape=_shape(name))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = rng.random((3, *_shape(name)), dtype=np.float32)
    expected = model.predict(x)
    assert relative_error(run_onnx(path, x), expected) <= RELATIVE
    back = from_onnx(path)
    assert relative_error(back.predict(x), expected) <= RELATIVE
    dropouts = sum(isinstance(layer, cn.Dropout) for layer in model.layers)  # written as Identity
    assert len(back.layers) == len(model.layers) - dropouts
    if not dropouts:
        assert back.state_dict().keys() == model.state_dict().keys()


def every_layer_model():
    """One net with every built-in layer, 'same' padding with even kernels and padded pools."""
    rng = np.random.default_rng(3)
    model = cn.Sequential(
        cn.Conv2d(2, 4, (2, 3), padding="same", rng=rng), cn.BatchNorm2d(4), cn.LeakyReLU(0.2),
        cn.MaxPool2d(3, 1, 1), cn.ELU(0.5), cn.AvgPool2d(3, 2, 1), cn.Softplus(2.0, 5.0),
        cn.Residual(cn.Conv2d(4, 4, 3, padding=1, bias=False, rng=rng), cn.BatchNorm2d(4), cn.Tanh()),
        cn.Residual(cn.Conv2d(4, 6, 3, stride=2, padding=1, rng=rng), cn.SELU(),
                    shortcut=[cn.Conv2d(4, 6, 1, stride=2, rng=rng), cn.BatchNorm2d(6)]),
        cn.Softplus(), cn.Sigmoid(), cn.Dropout(0.3), cn.Sequential(cn.Conv2d(6, 5, 1, rng=rng), cn.ReLU()),
        cn.GlobalAvgPool2d(), cn.Linear(5, 7, rng=rng), cn.BatchNorm1d(7), cn.ReLU(),
        cn.Linear(7, 4, bias=False, rng=rng), cn.Softmax(dim=1))
    randomise_batch_norms(model, rng)
    model.metadata["classes"] = ["a", "b", "c", "d"]
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = every_layer_model()
    path = to_onnx(model, tmp_path_factory.mktemp("onnx") / "every.onnx", input_shape=(2, 9, 10))
    return model, path


def test_every_layer_exports_and_runs_with_a_dynamic_batch(exported):
    model, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 10 and proto.opset_import[0].version == 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for batch in (1, 5):
        x = np.random.default_rng(batch).random((batch, 2, 9, 10), dtype=np.float32)
        assert relative_error(run_onnx(path, x), model.predict(x)) <= RELATIVE


def test_attributes_whose_onnx_defaults_differ_from_torch_are_written(exported):
    nodes = onnx.load(str(exported[1])).graph.node
    attributes = {node.name: {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                  for node in nodes}
    assert attributes["/0/Conv"]["pads"] == [0, 1, 1, 1]  # 'same', kernel (2, 3): [top, left, bottom, right]
    assert attributes["/5/AveragePool"]["count_include_pad"] == 1
    assert attributes["/3/MaxPool"]["pads"] == [1, 1, 1, 1]
    assert all(attributes[n.name]["transB"] == 1 for n in nodes if n.op_type == "Gemm")
    assert [n.op_type for n in nodes if n.name.startswith("/11/")] == ["Identity"]  # Dropout
    assert [n.op_type for n in nodes if n.name.startswith("/6/")] == ["Mul", "Softplus", "Div",
                                                                      "Greater", "Where"]


def test_every_layer_model_reads_back_the_same(exported):
    model, path = exported
    back = from_onnx(path)
    x = np.random.default_rng(7).random((3, 2, 9, 10), dtype=np.float32)
    assert relative_error(back.predict(x), model.predict(x)) <= RELATIVE
    assert back.metadata == {"input_shape": [2, 9, 10], "classes": ["a", "b", "c", "d"]}
    assert repr(back.layers[6]) == "Softplus(beta=2.0, threshold=5.0)"
    assert back.layers[2].negative_slope == 0.2 and back.layers[1].eps == 1e-5


def test_float64_model_is_cast_with_a_warning(tmp_path):
    model = cn.Sequential(cn.Conv2d(1, 2, 3, dtype=np.float64, rng=0), cn.Flatten(),
                          cn.Linear(18, 3, dtype=np.float64, rng=0))
    with pytest.warns(UserWarning, match="float64.*cast to float32"):
        path = to_onnx(model, tmp_path / "f64.onnx", input_shape=(1, 5, 5))
    x = np.random.default_rng(0).random((2, 1, 5, 5))
    assert relative_error(run_onnx(path, x.astype(np.float32)), model.predict(x)) <= RELATIVE


def test_bad_arguments_give_clear_errors_and_no_file(tmp_path):
    model = cn.models.build("seed000", (1, 28, 28), 10, rng=0)
    with pytest.raises(ValueError, match="input_shape=\\(C, H, W\\)"):
        to_onnx(model, tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="opset must be an int from 13"):
        to_onnx(model, tmp_path / "a.onnx", input_shape=(1, 28, 28), opset=9)
    with pytest.raises(ValueError, match="cannot take inputs of shape \\(1, 2, 2\\)"):
        to_onnx(model, tmp_path / "a.onnx", input_shape=(1, 2, 2))

    class Custom(cn.Layer):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="no ONNX form known for layer Custom"):
        to_onnx(cn.Sequential(Custom()), tmp_path / "a.onnx", input_shape=(1, 2, 2))
    assert list(tmp_path.iterdir()) == []


def test_imported_model_trains_saves_and_gives_gradients(exported, tmp_path):
    back = from_onnx(exported[1])
    x = np.random.default_rng(0).random((16, 2, 9, 10), dtype=np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(16) % 4]  # the model ends in Softmax: fit probabilities
    history = back.fit(x, y, loss=cn.MSELoss(), optimizer=cn.optim.Adam(back.parameters(), 0.01),
                       epochs=3, batch_size=8, verbose=False)
    assert np.isfinite(history.history["loss"]).all()
    back.save(tmp_path / "imported.npz")
    loaded = cn.load_model(tmp_path / "imported.npz")
    np.testing.assert_array_equal(loaded.predict(x), back.predict(x))
    back.eval()
    dx = back.backward(np.ones_like(back.forward(x)))  # what explanations use: d output / d input
    assert dx.shape == x.shape and np.isfinite(dx).all()


def test_cli_export_writes_a_run_dirs_model(tmp_path, capsys):
    model = cn.models.build("seed002", (1, 28, 28), 10, rng=0)
    model.metadata.update(input_shape=[1, 28, 28], classes=[str(i) for i in range(10)])
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "model.npz")
    status, out, err = run_cli(capsys, "export", tmp_path / "run", tmp_path / "m.onnx")
    assert status == 0 and "m.onnx" in out and "onnxruntime agrees with convnp" in out and err == ""
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert relative_error(run_onnx(tmp_path / "m.onnx", x), model.predict(x)) <= RELATIVE


def test_cli_export_errors_are_one_line(tmp_path, capsys):
    model = cn.models.build("seed000", (1, 28, 28), 10, rng=0)
    model.save(tmp_path / "bare.npz")
    for args, message in [((tmp_path / "bare.npz",), "pass --input-shape C H W"),
                          ((tmp_path / "none.npz",), "no model at"),
                          ((tmp_path / "bare.npz", "--input-shape", "1", "28", "28", "--opset", "3"),
                           "opset must be")]:
        status, out, err = run_cli(capsys, "export", args[0], tmp_path / "o.onnx", *args[1:])
        assert status == 2 and err.startswith("convnp: error: ") and message in err
        assert err.count("\n") == 1
    assert not (tmp_path / "o.onnx").exists()


def test_convnp_imports_without_onnx_and_torch_and_says_how_to_install_them(tmp_path):
    code = ("import sys\n"
            "sys.modules['onnx'] = sys.modules['torch'] = None  # as if not installed\n"
            "import convnp as cn\n"
            "for call in (lambda: cn.interop.from_onnx('m.onnx'), lambda: cn.interop.from_torch(None)):\n"
            "    try:\n"
            "        call()\n"
            "    except ImportError as error:\n"
            "        print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'convnp[onnx]'" in result.stdout and "from_torch needs PyTorch" in result.stdout


def structure(layer):
    """A nested description of a model's layers, residual blocks opened up."""
    if isinstance(layer, cn.Sequential):
        return [structure(child) for child in layer.layers]
    if isinstance(layer, cn.Residual):
        return ("Residual", [structure(c) for c in layer.layers],
                None if layer.shortcut is None else structure(layer.shortcut))
    return repr(layer)


def test_residual_blocks_nested_at_the_same_input_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    model = cn.Sequential(
        cn.Conv2d(1, 3, 3, padding=1, rng=rng),
        cn.Residual(cn.Residual(cn.Conv2d(3, 3, 3, padding=1, rng=rng), cn.ReLU()),
                    cn.Conv2d(3, 3, 1, rng=rng)),
        cn.Residual(cn.Residual(cn.Conv2d(3, 3, 1, rng=rng), shortcut=cn.Conv2d(3, 3, 1, rng=rng)),
                    shortcut=cn.Residual(cn.Tanh())),
        cn.Residual(cn.Residual(cn.Residual(cn.Sigmoid()))), cn.Flatten(), cn.Linear(48, 2, rng=rng))
    back = from_onnx(to_onnx(model, tmp_path / "nested.onnx", input_shape=(1, 4, 4)))
    assert structure(back) == structure(model)
    x = rng.random((2, 1, 4, 4), dtype=np.float32)
    assert relative_error(back.predict(x), model.predict(x)) <= RELATIVE


@pytest.mark.parametrize("opset", [13, 21])
def test_other_opsets_run_and_read_back(tmp_path, opset):
    model = every_layer_model()
    path = to_onnx(model, tmp_path / "every.onnx", input_shape=(2, 9, 10), opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset and proto.ir_version <= 10
    x = np.random.default_rng(0).random((3, 2, 9, 10), dtype=np.float32)
    assert relative_error(run_onnx(path, x), model.predict(x)) <= RELATIVE
    assert relative_error(from_onnx(path).predict(x), model.predict(x)) <= RELATIVE
