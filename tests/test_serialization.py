"""save / load_model: exact round trips, one pickle-free .npz, atomic writes, clear refusals."""

import json
import os
import pickle
import stat

import numpy as np
import pytest

import convnp as cn
from convnp.model.serialization import META_KEY, describe


def _every_layer_model():
    """A float64 model using every built-in layer type and non-default constructor options."""
    rng = np.random.default_rng(0)
    f64 = np.float64
    return cn.Sequential(
        cn.Conv2d(2, 4, 3, padding="same", dtype=f64, rng=rng),            # (4, 9, 8)
        cn.LeakyReLU(0.2),
        cn.MaxPool2d(3, stride=2, padding=1),                              # (4, 5, 4)
        cn.Conv2d(4, 5, (2, 3), stride=(2, 1), padding=(1, 0), bias=False, dtype=f64,
                  rng=rng),                                                 # (5, 3, 2)
        cn.Sequential(cn.ELU(alpha=0.7), cn.AvgPool2d(2, stride=1), cn.SELU()),  # (5, 2, 1)
        cn.Softplus(beta=2.0, threshold=5.0),
        cn.Flatten(),
        cn.Linear(5 * 2 * 1, 6, bias=False, dtype=f64, rng=rng),
        cn.Sigmoid(),
        cn.Linear(6, 4, dtype=f64, rng=rng),
        cn.Tanh(),
        cn.ReLU(),
        cn.Softmax(dim=-1),
    )


@pytest.fixture
def images():
    return np.random.default_rng(1).standard_normal((3, 2, 9, 8))


def test_round_trip_is_exact(tmp_path, images):
    model = _every_layer_model()
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = cn.load_model(path)
    assert isinstance(loaded, cn.Sequential)
    assert repr(loaded) == repr(model)
    assert describe(loaded) == describe(model)
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(original)
    for name, value in original.items():
        assert restored[name].dtype == value.dtype == np.float64, name
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    assert os.listdir(tmp_path) == ["model.npz"]


def test_round_trip_keeps_every_constructor_option(tmp_path):
    model = _every_layer_model()
    model.save(tmp_path / "m.npz")
    loaded = cn.load_model(tmp_path / "m.npz")
    assert loaded[0].padding == "same"
    assert loaded[3].kernel_size == (2, 3) and loaded[3].stride == (2, 1)
    assert loaded[3].bias is None and loaded[7].bias is None
    assert loaded[1].negative_slope == 0.2
    assert (loaded[5].beta, loaded[5].threshold) == (2.0, 5.0)
    assert loaded[12].dim == -1
    assert loaded[4][0].alpha == 0.7 and isinstance(loaded[4], cn.Sequential)
    assert loaded[2].padding == (1, 1) and loaded[2].stride == (2, 2)


def test_float32_model_round_trips_as_float32(tmp_path):
    model = cn.Sequential(cn.Conv2d(1, 2, 3, rng=0), cn.ReLU(), cn.Flatten(), cn.Linear(8, 2, rng=1))
    model.save(tmp_path / "m.npz")
    loaded = cn.load_model(tmp_path / "m.npz")
    assert all(p.dtype == np.float32 for p in loaded.parameters())
    x = np.random.default_rng(0).random((2, 1, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_the_file_is_a_plain_npz_with_a_json_architecture(tmp_path):
    model = _every_layer_model()
    path = tmp_path / "model.npz"
    model.save(str(path))
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == set(model.state_dict()) | {META_KEY}
        meta = json.loads(str(data[META_KEY]))
        np.testing.assert_array_equal(data["0.weight"], model[0].weight.data)
    assert meta["format"] == 1 and meta["architecture"]["type"] == "Sequential"


def test_save_keeps_the_exact_file_name(tmp_path):
    model = _every_layer_model()
    model.save(tmp_path / "weights.bin")
    assert os.listdir(tmp_path) == ["weights.bin"]
    assert repr(cn.load_model(tmp_path / "weights.bin")) == repr(model)


def test_saved_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    _every_layer_model().save(tmp_path / "model.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "model.npz").st_mode) == 0o666 & ~umask


def test_save_creates_missing_directories(tmp_path):
    path = tmp_path / "runs" / "a" / "model.npz"
    _every_layer_model().save(path)
    assert path.is_file()


def _failing_savez(file, **arrays):
    file.write(b"PK\x03\x04 half a zip file")
    raise OSError("disk full")


def test_a_failed_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _failing_savez)
    with pytest.raises(OSError, match="disk full"):
        _every_layer_model().save(tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_a_failed_save_keeps_the_previous_file_intact(tmp_path, monkeypatch, images):
    model = _every_layer_model()
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(np, "savez", _failing_savez)
    with pytest.raises(OSError):
        model.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == before
    np.testing.assert_array_equal(cn.load_model(path).predict(images), model.predict(images))


def test_saving_a_custom_layer_is_refused(tmp_path):
    class Custom(cn.ReLU):
        pass

    with pytest.raises(TypeError, match="Custom is not a built-in convnp layer"):
        cn.Sequential(Custom()).save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---- refusing files that are not convnp models ---------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        cn.load_model(tmp_path / "nothing.npz")


def test_an_npz_with_an_object_array_is_refused_as_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    model = _every_layer_model()
    np.savez(path, **model.state_dict(), payload=np.array([{"a": 1}], dtype=object),
             **{META_KEY: np.array(json.dumps({"format": 1,
                                                "architecture": describe(model)}))})
    with pytest.raises(ValueError, match="pickle"):
        cn.load_model(path)


def test_a_raw_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"0.weight": np.zeros(3)}))
    with pytest.raises(ValueError, match="pickle"):
        cn.load_model(path)


def test_random_bytes_are_refused_clearly(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match="not a convnp model file") as info:
        cn.load_model(path)
    assert str(path) in str(info.value)
    assert "not an .npz archive" in str(info.value)  # not mistaken for a pickle


def test_a_corrupted_zip_is_refused_clearly(tmp_path):
    path = tmp_path / "model.npz"
    _every_layer_model().save(path)
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match="not a readable .npz model file"):
        cn.load_model(path)


def test_an_empty_file_is_refused_clearly(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not an .npz archive"):
        cn.load_model(path)


def test_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        cn.load_model(path)


def test_an_npz_without_the_architecture_record_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, **_every_layer_model().state_dict())
    with pytest.raises(ValueError, match="no '__convnp__' architecture record"):
        cn.load_model(path)


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    change(arrays)
    np.savez(path, **arrays)


def test_a_file_with_a_missing_weight_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    _every_layer_model().save(path)
    _rewrite(path, lambda arrays: arrays.pop("9.bias"))
    with pytest.raises(ValueError, match="9.bias"):
        cn.load_model(path)


def test_a_file_with_a_mis_shaped_weight_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    _every_layer_model().save(path)
    _rewrite(path, lambda arrays: arrays.update({"9.weight": np.zeros((6, 4))}))
    with pytest.raises(ValueError, match=r"'9.weight' has shape \(6, 4\), expected \(4, 6\)"):
        cn.load_model(path)


def test_unknown_layer_types_and_formats_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    meta = {"format": 1, "architecture": {"type": "Sequential",
                                          "layers": [{"type": "os.system", "config": {}}]}}
    np.savez(path, **{META_KEY: np.array(json.dumps(meta))})
    with pytest.raises(ValueError, match="unknown layer type 'os.system'"):
        cn.load_model(path)
    np.savez(path, **{META_KEY: np.array(json.dumps({"format": 99, "architecture": {}}))})
    with pytest.raises(ValueError, match="format 99"):
        cn.load_model(path)


@pytest.mark.parametrize("record", [
    "not json",
    json.dumps([1, 2]),
    json.dumps({"format": 1, "architecture": {"type": "Linear", "config": {"bogus": 1}}}),
    json.dumps({"format": 1, "architecture": {"type": "Sequential"}}),
], ids=["not-json", "a-list", "unknown-argument", "no-layers"])
def test_a_malformed_architecture_record_is_a_value_error(tmp_path, record):
    path = tmp_path / "m.npz"
    np.savez(path, **{META_KEY: np.array(record)})
    with pytest.raises(ValueError, match="malformed architecture record"):
        cn.load_model(path)
