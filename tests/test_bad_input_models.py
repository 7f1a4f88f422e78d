"""Untrusted model files: every forged size, shape, count and depth is refused before allocating.

Each case writes its own file (nothing binary is committed) and expects a ValueError from
``load_model`` that names the file and what was wrong, and the same as one line from the CLI.
"""

import io
import json
import zipfile

import numpy as np
import pytest

import convnp as cn
from convnp.model.serialization import META_KEY, describe
from helpers import run_cli


def tiny_model():
    model = cn.Sequential(cn.Conv2d(1, 2, 3, rng=0), cn.ReLU(), cn.Flatten(), cn.Linear(2 * 4 * 4, 3, rng=1))
    model.metadata = {"input_shape": [1, 6, 6], "classes": ["a", "b", "c"]}
    return model


def write_npz(path, arrays, meta):
    """An .npz like Sequential.save writes, with ``meta`` as the JSON record."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(path, **arrays, **{META_KEY: np.array(text)})
    return path


def record(model, **changes):
    meta = {"format": 1, "architecture": describe(model), "metadata": model.metadata}
    meta.update(changes)
    return meta


def npy_header_only(shape, dtype="<f4"):
    """The bytes of an .npy file whose header declares ``shape`` but that holds no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def nested(depth):
    """JSON text of a record whose architecture nests ``depth`` Sequentials."""
    layers = '{"type": "Sequential", "layers": [' * depth + '{"type": "ReLU"}' + "]}" * depth
    return f'{{"format": 1, "architecture": {layers}}}'


def forged_architecture_cases():
    model = tiny_model()
    linear_huge = {"type": "Sequential", "layers": [
        {"type": "Linear", "config": {"in_features": 10**12, "out_features": 10}}]}
    many_params = {"type": "Sequential", "layers": [
        {"type": "Linear", "config": {"in_features": 2**20, "out_features": 2**20}}]}
    conv_huge = {"type": "Sequential", "layers": [
        {"type": "Conv2d", "config": {"in_channels": 4096, "out_channels": 4096, "kernel_size": [64, 64]}}]}
    wide = {"type": "Sequential", "layers": [{"type": "ReLU"}] * 20_000}
    return {
        "linear-1e12-inputs": (record(model, architecture=linear_huge), "at most 1,048,576"),
        "1e12-parameters": (record(model, architecture=many_params), "more than 268,435,456 parameters"),
        "conv-68e9-parameters": (record(model, architecture=conv_huge), "parameters"),
        "5000-deep": (nested(5000), "nested too deeply|deeper than 32"),
        "33-deep": (nested(33), "deeper than 32"),
        "20000-layers": (record(model, architecture=wide), "more than 10000 layers"),
        "input-shape-60000x60000": (record(model, metadata={"input_shape": [1, 60000, 60000]}),
                                    "input_shape"),
        "input-shape-negative": (record(model, metadata={"input_shape": [1, -28, 28]}), "input_shape"),
        "input-shape-strings": (record(model, metadata={"input_shape": "1x28x28"}), "input_shape"),
        "classes-not-strings": (record(model, metadata={"classes": [1, 2, 3]}), "classes"),
        "metadata-a-list": (record(model, metadata=[1, 2]), "metadata"),
        "float-size": (record(model, architecture={"type": "Sequential", "layers": [
            {"type": "Linear", "config": {"in_features": 1e300, "out_features": 3}}]}), "in_features"),
        "nan-size": (record(model, architecture={"type": "Sequential", "layers": [
            {"type": "MaxPool2d", "config": {"kernel_size": float("nan")}}]}), "kernel_size"),
        "bool-kernel": (record(model, architecture={"type": "Sequential", "layers": [
            {"type": "Conv2d", "config": {"in_channels": 1, "out_channels": 1, "kernel_size": True}}]}),
            "malformed architecture"),
        "config-a-list": (record(model, architecture={"type": "Sequential", "layers": [
            {"type": "ReLU", "config": [1]}]}), "config"),
        "layers-not-a-list": (record(model, architecture={"type": "Sequential", "layers": 3}), "layers"),
        "format-2": (record(model, format=2), "format 2"),
        "dtype-object": (record(model, architecture={"type": "Sequential", "layers": [
            {"type": "Linear", "config": {"in_features": 2, "out_features": 2, "dtype": "object"}}]}),
            "malformed architecture"),
    }


CASES = forged_architecture_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_a_forged_architecture_is_refused_before_allocating(tmp_path, name):
    meta, message = CASES[name]
    path = write_npz(tmp_path / "m.npz", tiny_model().state_dict(), meta)
    with pytest.raises(ValueError, match=message) as info:
        cn.load_model(path)
    assert str(path) in str(info.value)


def test_json_nested_beyond_the_parser_is_a_clear_error(tmp_path):
    text = '{"format": 1, "architecture": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "m.npz"
    np.savez(path, **{META_KEY: np.array(text)})
    with pytest.raises(ValueError, match="malformed architecture record"):
        cn.load_model(path)


def forged_member(path, name, data, model=None):
    """A model file with member ``name`` replaced by raw ``data`` (e.g. a header without data)."""
    model = model or tiny_model()
    write_npz(path, {k: v for k, v in model.state_dict().items() if k != name}, record(model))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"{name}.npy", data)
    return path


@pytest.mark.parametrize("name, data, message", [
    ("3.weight", npy_header_only((3_000_000_000,)), r"has shape \(3000000000,\), expected \(3, 32\)"),
    ("3.weight", npy_header_only((3, 32)), "truncated"),
    ("3.weight", npy_header_only((3, 32), "<U4"), "dtype <U4"),
    ("3.weight", npy_header_only((3, 32), "|O"), "pickle"),
    ("3.weight", b"\x93NUMPY\x09\x00garbage", "not a valid .npy"),
    ("3.weight", b"not an npy file", "not a valid .npy"),
    ("huge-extra", npy_header_only((10**12,)), "unexpected keys"),
])
def test_a_forged_weight_is_refused_from_its_header(tmp_path, name, data, message):
    path = forged_member(tmp_path / "m.npz", name, data)
    with pytest.raises(ValueError, match=message):
        cn.load_model(path)


def test_a_member_that_is_not_npy_is_refused_before_decompressing(tmp_path):
    path = write_npz(tmp_path / "m.npz", tiny_model().state_dict(), record(tiny_model()))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.bin", b"\0" * 10_000_000)  # 10 MB, compresses to ~10 KB
    with pytest.raises(ValueError, match="'bomb.bin', not an .npy"):
        cn.load_model(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(tmp_path, bad, capsys):
    model = tiny_model()
    model[3].weight.data[1, 2] = bad
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"'3.weight' holds 1 NaN or infinite"):
        cn.load_model(tmp_path / "m.npz")
    status, out, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "any.png")
    assert status == 2 and err.count("\n") == 1 and "NaN or infinite" in err and out == ""


def test_predict_refuses_an_input_shape_that_would_exhaust_memory(tmp_path, capsys):
    model = tiny_model()
    meta = record(model, metadata={"input_shape": [1, 60000, 60000]})
    write_npz(tmp_path / "m.npz", model.state_dict(), meta)
    status, _, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "any.png")
    assert status == 2 and err.startswith("convnp: error:") and "input_shape" in err


def test_predict_says_so_when_the_recorded_input_shape_does_not_fit_the_model(tmp_path, capsys):
    from PIL import Image

    model = tiny_model()
    write_npz(tmp_path / "m.npz", model.state_dict(), record(model, metadata={"input_shape": [1, 9, 9]}))
    Image.new("L", (9, 9)).save(tmp_path / "x.png")
    status, _, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "x.png")
    assert status == 2 and err.count("\n") == 1 and "does not take its recorded input shape" in err


class TestLoadStateDictChangesNothingOnFailure:
    """A failure on the last entry must leave the first ones untouched."""

    @pytest.mark.parametrize("last", [np.array(["a"] * 3), np.zeros((3, 2)), [[1, 2], [3]],
                                      np.array([None] * 3, dtype=object)])
    def test_bad_last_entry(self, last):
        model = tiny_model()
        before = model.state_dict()
        state = {key: value + 1 for key, value in before.items()}
        state["3.bias"] = last
        with pytest.raises((ValueError, TypeError), match="3.bias"):
            model.load_state_dict(state)
        for key, value in model.state_dict().items():
            assert np.array_equal(value, before[key]), f"{key} was changed by a failed load"

    def test_not_a_dict(self):
        with pytest.raises(TypeError, match="expected a dict of arrays"):
            tiny_model().load_state_dict([("0.weight", np.zeros(3))])
