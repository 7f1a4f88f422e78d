"""The CLI: work is never lost or stuck, and every user error is one line and exit status 2."""

import errno
import json
import os
import re
import shutil

import numpy as np
import pytest

import convnp as cn
from convnp import _io
from helpers import run_cli

SETTINGS = ["--model", "seed000", "--limit", "128", "--batch-size", "32", "--seed", "1", "--optimizer", "sgd"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert cn.cli.main(["train", *SETTINGS, "--epochs", "2", "--out", str(run_dir)]) == 0
    return run_dir


def copy_run(finished_run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(finished_run, target)
    return target


def one_line_error(status, err, *fragments, after_progress=False):
    """Exit 2 and one ``convnp: error:`` line (the last, after any progress output)."""
    assert status == 2, err
    last = re.split(r"[\r\n]", err.rstrip("\n"))[-1]  # a cleared progress bar ends in "\r"
    assert err.count("convnp: error:") == 1 and last.startswith("convnp: error: "), err
    assert after_progress or err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_a_run_killed_before_model_npz_is_finished_by_resume(finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / "model.npz").unlink()  # killed after the last checkpoint, before the model was saved
    status, out, err = run_cli(capsys, "train", "--resume", run_dir)
    assert status == 0 and "has no model.npz or history.json" in err and "wrote" in out
    for key, value in cn.load_model(finished_run / "model.npz").state_dict().items():
        assert np.array_equal(cn.load_model(run_dir / "model.npz").state_dict()[key], value)
    status, out, _ = run_cli(capsys, "train", "--resume", run_dir)
    assert status == 0 and "already finished 2 epochs" in out


def test_a_run_killed_between_model_npz_and_history_json_is_finished(finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / "history.json").unlink()
    status, _, err = run_cli(capsys, "train", "--resume", run_dir)
    assert status == 0 and (run_dir / "history.json").is_file() and "writing them now" in err


def test_a_run_killed_before_its_first_checkpoint_starts_again(finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    for name in ("model.npz", "checkpoint.npz"):
        (run_dir / name).unlink()
    status, _, err = run_cli(capsys, "train", "--resume", run_dir)
    assert status == 0 and "starting it again" in err
    for key, value in cn.load_model(finished_run / "model.npz").state_dict().items():
        assert np.array_equal(cn.load_model(run_dir / "model.npz").state_dict()[key], value)


def test_stale_temp_files_are_removed_when_a_run_resumes(finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    stale = run_dir / f".tmp-{'a' * 32}-checkpoint.npz"
    stale.write_bytes(b"half a checkpoint")
    keep = run_dir / ".tmp-notes.txt"  # not a name atomic_write makes: left alone
    keep.write_text("mine")
    assert run_cli(capsys, "train", "--resume", run_dir)[0] == 0
    assert not stale.exists() and keep.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "model-file"])
def test_a_damaged_checkpoint_is_one_line(finished_run, tmp_path, capsys, damage):
    run_dir = copy_run(finished_run, tmp_path)
    checkpoint = run_dir / "checkpoint.npz"
    if damage == "truncate":
        checkpoint.write_bytes(checkpoint.read_bytes()[:3000])
    elif damage == "garbage":
        checkpoint.write_bytes(os.urandom(5000))
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    else:
        shutil.copy(run_dir / "model.npz", checkpoint)
    status, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    one_line_error(status, err, "checkpoint.npz", "--out")


@pytest.mark.parametrize("record", [{"epoch": -1}, {"epoch": "2"}, {"history": {"loss": 3}},
                                    {"history": [1]}, {"rng_state": {"state": "x"}},
                                    {"layer_rng_states": 5}])
def test_a_forged_checkpoint_record_is_one_line(finished_run, tmp_path, capsys, record):
    run_dir = copy_run(finished_run, tmp_path)
    with np.load(run_dir / "checkpoint.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["__checkpoint__"] = np.array(json.dumps({**json.loads(str(arrays["__checkpoint__"])), **record}))
    np.savez(run_dir / "checkpoint.npz", **arrays)
    status, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    one_line_error(status, err, "checkpoint.npz")


@pytest.mark.parametrize("edit, fragment", [
    ({"model": "lenet5"}, "does not fit this model"),
    ({"batch_size": 0}, "--batch-size must be at least 1"),
    ({"limit": 0}, "--limit must be a positive number"),
    ({"model": "no-such-model"}, "--model must be one of"),
    ({"seed": -1}, "--seed must be an integer from 0"),
    ({"lr": float("nan")}, "--lr must be positive"),
    ({"augment": "yes"}, "augment must be true or false"),
])
def test_an_edited_config_is_one_line(finished_run, tmp_path, capsys, edit, fragment):
    run_dir = copy_run(finished_run, tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, **edit}))
    status, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    one_line_error(status, err, fragment)


def test_a_config_that_is_not_an_object_is_one_line(finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / "config.json").write_text("[1, 2]")
    one_line_error(*run_cli(capsys, "train", "--resume", run_dir)[::2], "config.json")


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--seed", "-1"], "--seed must be an integer from 0"),
    (["train", "--lr", "0"], "--lr must be positive"),
    (["train", "--lr", "inf"], "--lr must be positive"),
    (["train", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["train", "--processes", "0"], "--processes: the number of processes must be a positive int, got 0"),
])
def test_bad_train_flags_name_the_flag(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(capsys, *argv, "--limit", "64")
    one_line_error(status, err, fragment)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_bench_processes_must_be_positive(value, capsys):
    status, _, err = run_cli(capsys, "bench", "--models", "seed000", "--batch-sizes", "8",
                             "--processes", value)
    one_line_error(status, err, f"--processes: the number of processes must be a positive int, got {value}")


def test_evaluate_on_a_dataset_of_another_shape_says_so(finished_run, capsys):
    status, _, err = run_cli(capsys, "evaluate", finished_run, "--dataset", "cifar10")
    one_line_error(status, err, "takes inputs of shape (1, 28, 28), but cifar10 images have shape")


def test_evaluate_batch_size_zero_names_evaluates_flag(finished_run, capsys):
    status, _, err = run_cli(capsys, "evaluate", finished_run, "--batch-size", "0")
    one_line_error(status, err, "--batch-size must be at least 1")
    assert "predict" not in err


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_a_diverging_run_ends_in_one_line_naming_the_learning_rate(tmp_path, capsys):
    status, _, err = run_cli(capsys, "train", *SETTINGS, "--epochs", "2", "--lr", "1e30",
                             "--out", tmp_path / "run")
    one_line_error(status, err, "the loss became", "--lr 1e+30", after_progress=True)


def test_a_full_disk_names_the_file_and_resume(finished_run, tmp_path, capsys, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    status, _, err = run_cli(capsys, "train", *SETTINGS, "--epochs", "2", "--out", tmp_path / "run")
    one_line_error(status, err, "No space left on device", after_progress=True)
    assert "config.json" in err or ("checkpoint.npz" in err and "--resume" in err)
    assert [name for name in os.listdir(tmp_path / "run") if name.startswith(".tmp-")] == []


def test_atomic_write_names_the_file_when_the_disk_is_full(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    with pytest.raises(OSError, match=r"cannot write .*model.npz: No space left on device"):
        _io.atomic_write(tmp_path / "model.npz", lambda file: file.write(b"x"))
    assert os.listdir(tmp_path) == []


def test_evaluating_a_mnist_sample_model_on_mnist_excludes_what_it_trained_on(finished_run, capsys):
    if not cn.datasets.status("mnist").found:
        pytest.skip("MNIST is not in $CONVNP_DATA")
    status, out, err = run_cli(capsys, "evaluate", finished_run, "--dataset", "mnist")
    assert status == 0 and "evaluating on the other 2,000 only" in err
    assert "mnist test split, 2000 images" in out
    status, _, err = run_cli(capsys, "evaluate", finished_run, "--dataset", "mnist", "--limit", "500")
    one_line_error(status, err, "trained on mnist-sample")


@pytest.mark.parametrize("argv, fragment", [
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--fps", "nan"], "--fps must be a positive number"),
    (["--channels", "100000"], "--channels must be at most 16"),
    (["--size", "100000", "--random"], "--size must be at most 64"),
])
def test_explain_names_the_flag(argv, fragment, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status, _, err = run_cli(capsys, "explain", "conv-forward", *argv, "--out", tmp_path)
    one_line_error(status, err, fragment)


@pytest.mark.parametrize("argv, fragment", [
    (["--seconds", "nan"], "must be positive"),
    (["--seconds", "inf"], "--seconds finite"),
    (["--batch-sizes", "100000000"], "--batch-sizes must be at most 4096"),
])
def test_bench_names_values_it_cannot_run(argv, fragment, capsys):
    status, _, err = run_cli(capsys, "bench", *argv)
    one_line_error(status, err, fragment)
