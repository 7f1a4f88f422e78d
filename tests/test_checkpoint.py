"""Checkpoints: exact round trip of model, optimizer, generators and history; clear errors."""

import numpy as np
import pytest

import convnp as cn
from convnp.model.checkpoint import load_checkpoint, save_checkpoint


def model_and_optimizer(seed):
    model = cn.Sequential(cn.Flatten(), cn.Linear(12, 6, rng=seed), cn.Dropout(0.3, rng=seed), cn.ReLU(),
                          cn.Linear(6, 3, rng=seed + 1))
    return model, cn.optim.Adam(model.parameters(), lr=0.01)


def test_round_trip_restores_everything(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 1, 3, 4)).astype(np.float32), rng.integers(0, 3, 20)
    model, optimizer = model_and_optimizer(0)
    shuffle = np.random.default_rng(5)
    model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, epochs=2, batch_size=8, seed=shuffle,
              verbose=False)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, 2, shuffle, {"loss": [1.0, 0.5]})
    other, other_optimizer = model_and_optimizer(9)
    other_shuffle = np.random.default_rng(123)
    record = load_checkpoint(tmp_path / "c.npz", other, other_optimizer, other_shuffle)
    assert record["epoch"] == 2 and record["history"] == {"loss": [1.0, 0.5]}
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
    assert other_shuffle.random() == shuffle.random()
    assert other[2].rng.random() == model[2].rng.random()  # Dropout's generator too
    for key, value in optimizer.state_dict().items():
        np.testing.assert_array_equal(other_optimizer.state_dict()[key], value)


def test_bad_checkpoint_files_get_clear_errors(tmp_path):
    model, optimizer = model_and_optimizer(0)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz", model, optimizer)
    model.save(tmp_path / "model.npz")  # a model file is not a checkpoint
    with pytest.raises(ValueError, match="not a readable convnp checkpoint"):
        load_checkpoint(tmp_path / "model.npz", model, optimizer)
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable convnp checkpoint"):
        load_checkpoint(tmp_path / "junk.npz", model, optimizer)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, 1)
    wrong = cn.Sequential(cn.Flatten(), cn.Linear(12, 4))
    with pytest.raises((KeyError, ValueError), match="load_state_dict"):
        load_checkpoint(tmp_path / "c.npz", wrong)
