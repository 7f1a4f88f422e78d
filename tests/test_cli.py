"""The convnp command line, end to end, on the embedded mnist-sample (offline, seconds)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import convnp as cn
from convnp.cli import main
from helpers import run_cli

PIL = pytest.importorskip("PIL.Image")


def assert_same_weights(run_a, run_b):
    """The two runs' saved models are bit-for-bit identical."""
    a = cn.load_model(run_a / "model.npz").state_dict()
    b = cn.load_model(run_b / "model.npz").state_dict()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One small training run shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("runs") / "simple"
    status = main(["train", "--limit", "3000", "--epochs", "2", "--out", str(run_dir)])
    assert status == 0
    return run_dir


def test_train_writes_a_complete_run_that_learns(trained_run):
    for name in ("model.npz", "history.json", "config.json", "checkpoint.npz", "curves.png"):
        assert (trained_run / name).stat().st_size > 0, name
    history = json.loads((trained_run / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())
    assert history["val_accuracy"][-1] > 0.90
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"] == "simple-cnn" and config["dataset"] == "mnist-sample"
    model = cn.load_model(trained_run / "model.npz")
    assert model.metadata["classes"] == [str(d) for d in range(10)]
    assert model.metadata["input_shape"] == [1, 28, 28]


def test_train_shows_progress_and_epoch_lines(tmp_path, capsys):
    status, out, err = run_cli(capsys, "train", "--model", "seed000", "--limit", "300", "--epochs", "2",
                               "--out", tmp_path / "run")
    assert status == 0
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "val_accuracy" in err
    assert "img/s training" in err
    assert "test accuracy" in out and str(tmp_path / "run" / "model.npz") in out


def test_resume_ends_with_exactly_the_uninterrupted_weights(tmp_path, capsys):
    common = ["--model", "seed002", "--limit", "600", "--seed", "3", "--optimizer", "sgd"]
    assert run_cli(capsys, "train", *common, "--epochs", "3", "--out", tmp_path / "full")[0] == 0
    assert run_cli(capsys, "train", *common, "--epochs", "1", "--out", tmp_path / "part")[0] == 0
    assert run_cli(capsys, "train", "--resume", tmp_path / "part", "--epochs", "3")[0] == 0
    assert_same_weights(tmp_path / "full", tmp_path / "part")
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("full", "part")]
    assert history[0] == history[1]


def test_resume_refuses_changed_settings_and_reports_finished_runs(trained_run, capsys):
    status, _, err = run_cli(capsys, "train", "--resume", trained_run, "--model", "lenet5")
    assert status == 2 and "cannot change ['model']" in err
    status, out, _ = run_cli(capsys, "train", "--resume", trained_run)
    assert status == 0 and "already finished 2 epochs" in out


def test_evaluate_prints_accuracy_per_class_and_confusion(trained_run, tmp_path, capsys):
    status, out, _ = run_cli(capsys, "evaluate", trained_run, "--out", tmp_path)
    assert status == 0
    assert "mnist-sample test split, 2000 images: accuracy" in out
    assert "per-class accuracy" in out and "confusion matrix" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(tuple("0123456789"))]
    matrix_rows = rows[-10:]
    assert sum(int(v) for row in matrix_rows for v in row.split()[1:]) == 2000
    assert (tmp_path / "confusion.png").stat().st_size > 0


def write_digit_png(path, image, invert=False):
    pixels = (255 * (1 - image[0] if invert else image[0])).astype(np.uint8)
    PIL.fromarray(pixels, mode="L").resize((56, 56)).save(path)  # another size: predict resizes


def test_predict_json_top3(trained_run, tmp_path, capsys):
    _, (x, y) = cn.datasets.load("mnist-sample")
    paths = []
    for i in range(8):
        paths.append(tmp_path / f"digit{i}.png")
        write_digit_png(paths[-1], x[i])
    status, out, _ = run_cli(capsys, "predict", trained_run, *paths, "--json")
    assert status == 0
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(p) for p in paths]
    for result in results:
        top = result["top"]
        assert len(top) == 3 and set(top[0]) == {"class", "name", "probability"}
        probabilities = [t["probability"] for t in top]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-9
        assert all(t["name"] == str(t["class"]) for t in top)
    correct = sum(r["top"][0]["class"] == label for r, label in zip(results, y[:8], strict=True))
    assert correct >= 6


def test_predict_invert_handles_dark_on_light_drawings(trained_run, tmp_path, capsys):
    _, (x, y) = cn.datasets.load("mnist-sample")
    write_digit_png(tmp_path / "drawn.png", x[0], invert=True)
    status, out, _ = run_cli(capsys, "predict", trained_run, tmp_path / "drawn.png", "--invert")
    assert status == 0 and out.startswith(f"{tmp_path / 'drawn.png'}: {y[0]} (")


def test_datasets_lists_every_dataset(capsys):
    status, out, _ = run_cli(capsys, "datasets")
    assert status == 0
    for name in ("mnist", "fashion-mnist", "cifar10", "mnist-sample"):
        assert f"\n{name} " in out
    assert "embedded" in out


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "no/such/run"], "no model at"),
    (["predict", "no/such/run", "x.png"], "no model at"),
    (["train", "--epochs", "0", "--limit", "10"], "--epochs must be at least 1"),
    (["train", "--limit", "0"], "--limit must be a positive number"),
    (["train", "--limit", "10", "--weight-decay", "-1"], "--weight-decay must be non-negative"),
])
def test_user_errors_end_with_one_line_and_status_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("convnp: error:") and message in err
    assert "Traceback" not in err


def test_unknown_model_or_dataset_is_a_usage_error(capsys):
    status, _, err = run_cli(capsys, "train", "--model", "resnet1000")
    assert status == 2 and "invalid choice: 'resnet1000'" in err
    status, _, err = run_cli(capsys, "train", "--dataset", "imagenet")
    assert status == 2 and "invalid choice: 'imagenet'" in err


def test_missing_dataset_files_say_where_to_put_them(tmp_path, capsys):
    status, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--root", tmp_path)
    assert status == 2 and err.startswith("convnp: error:") and err.count("\n") == 1
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path) in err


def test_a_bad_image_file_is_one_clear_line(trained_run, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    status, _, err = run_cli(capsys, "predict", trained_run, tmp_path / "notes.png")
    assert status == 2 and "cannot read" in err and "notes.png" in err and err.count("\n") == 1
    status, _, err = run_cli(capsys, "predict", trained_run, tmp_path / "missing.png")
    assert status == 2 and "no such image" in err


def test_a_model_given_the_wrong_input_size_is_one_clear_line(tmp_path, capsys):
    model = cn.models.build("seed000", (1, 28, 28), 10, rng=0)
    model.metadata = {"dataset": "mnist-sample", "classes": [str(d) for d in range(10)]}
    model.save(tmp_path / "model.npz")
    x = np.zeros((4, 1, 20, 20), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Linear\(1352→10\)"):
        model.predict(x)
    model.metadata["input_shape"] = [3, 32, 32]  # a file that claims RGB inputs
    model.save(tmp_path / "rgb.npz")
    PIL.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "image.png")
    status, _, err = run_cli(capsys, "predict", tmp_path / "rgb.npz", tmp_path / "image.png")
    assert status == 2 and "expected input of shape (N, 1, H, W), got (1, 3, 32, 32)" in err
    assert err.count("\n") == 1


def test_python_dash_m_and_the_console_script_both_run(tmp_path):
    for command in ([sys.executable, "-m", "convnp", "--help"],
                    [str(__import__("pathlib").Path(sys.executable).with_name("convnp")), "train", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "usage: convnp" in done.stdout


def test_resume_is_exact_for_a_model_with_dropout(tmp_path, capsys):
    common = ["--model", "deep-cnn", "--limit", "200", "--seed", "1", "--batch-size", "50"]
    assert run_cli(capsys, "train", *common, "--epochs", "2", "--out", tmp_path / "full")[0] == 0
    assert run_cli(capsys, "train", *common, "--epochs", "1", "--out", tmp_path / "part")[0] == 0
    assert run_cli(capsys, "train", "--resume", tmp_path / "part", "--epochs", "2")[0] == 0
    assert_same_weights(tmp_path / "full", tmp_path / "part")


def test_a_scheduled_run_cannot_be_extended_on_resume(tmp_path, capsys):
    common = ["--model", "seed000", "--limit", "100", "--schedule", "cosine"]
    assert run_cli(capsys, "train", *common, "--epochs", "1", "--out", tmp_path / "run")[0] == 0
    status, _, err = run_cli(capsys, "train", "--resume", tmp_path / "run", "--epochs", "3")
    assert status == 2 and "cannot change ['epochs']" in err  # a schedule's length is fixed


def test_an_interrupted_onecycle_run_resumes_exactly(tmp_path, capsys, monkeypatch):
    common = ["--model", "seed000", "--limit", "300", "--schedule", "onecycle", "--lr", "0.005",
              "--epochs", "3"]
    assert run_cli(capsys, "train", *common, "--out", tmp_path / "full")[0] == 0
    history = json.loads((tmp_path / "full" / "history.json").read_text())
    assert len(history["lr"]) == 3 and history["lr"][0] > history["lr"][-1]

    original = cn.Checkpoint.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(cn.Checkpoint, "on_epoch_end", stop_after_first_epoch)
    assert run_cli(capsys, "train", *common, "--out", tmp_path / "part")[0] == 130
    monkeypatch.setattr(cn.Checkpoint, "on_epoch_end", original)
    assert run_cli(capsys, "train", "--resume", tmp_path / "part")[0] == 0
    assert_same_weights(tmp_path / "full", tmp_path / "part")
    assert json.loads((tmp_path / "part" / "history.json").read_text()) == history


def test_a_closed_output_pipe_is_not_reported_as_an_error(trained_run, tmp_path):
    _, (x, _) = cn.datasets.load("mnist-sample")
    paths = []
    for i in range(100):  # ~80 KB of JSON: more than a pipe buffer holds after the reader left
        paths.append(tmp_path / f"d{i}.png")
        write_digit_png(paths[-1], x[i])
    command = [sys.executable, "-m", "convnp", "predict", str(trained_run), *map(str, paths), "--json",
               "--top", "10"]
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = subprocess.run(command, stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=120)
    reader.stdin.close()
    reader.wait()
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr


def test_augment_changes_training_and_still_resumes_exactly(tmp_path, capsys):
    common = ["--model", "seed000", "--limit", "300", "--epochs", "2"]
    assert run_cli(capsys, "train", *common, "--out", tmp_path / "plain")[0] == 0
    assert run_cli(capsys, "train", *common, "--augment", "--out", tmp_path / "full")[0] == 0
    plain = json.loads((tmp_path / "plain" / "history.json").read_text())
    augmented = json.loads((tmp_path / "full" / "history.json").read_text())
    assert plain["loss"] != augmented["loss"]
    assert json.loads((tmp_path / "full" / "config.json").read_text())["augment"] is True
    assert run_cli(capsys, "train", "--model", "seed000", "--limit", "300", "--epochs", "1", "--augment",
                   "--out", tmp_path / "part")[0] == 0
    assert run_cli(capsys, "train", "--resume", tmp_path / "part", "--epochs", "2")[0] == 0
    assert_same_weights(tmp_path / "full", tmp_path / "part")


def test_warnings_are_one_line(trained_run, tmp_path, capsys, monkeypatch):
    import warnings

    real_load = cn.datasets.load

    def load_with_warning(*args, **kwargs):
        warnings.warn("mnist-sample: a file differs from the canonical one", cn.datasets.ChecksumWarning,
                      stacklevel=2)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(cn.datasets, "load", load_with_warning)
    status, _, err = run_cli(capsys, "evaluate", trained_run, "--limit", "50", "--out", tmp_path)
    assert status == 0
    assert "convnp: warning: mnist-sample: a file differs from the canonical one\n" in err
    assert ".py:" not in err  # no file name and line number


def test_weight_decay_reaches_the_optimizer_and_changes_training(tmp_path, capsys):
    from convnp.cli.train import build_optimizer

    params = cn.models.build("seed000", rng=0).parameters()
    assert build_optimizer("sgd", params, 0.1, 5e-4).weight_decay == 5e-4
    assert build_optimizer("adamw", params, None).weight_decay == 0.01  # AdamW's own default kept
    assert build_optimizer("adam", params, None).weight_decay == 0.0
    common = ["--model", "seed000", "--limit", "200", "--epochs", "1", "--optimizer", "sgd", "--lr", "0.1"]
    assert run_cli(capsys, "train", *common, "--out", tmp_path / "plain")[0] == 0
    assert run_cli(capsys, "train", *common, "--weight-decay", "0.05", "--out", tmp_path / "decayed")[0] == 0
    assert json.loads((tmp_path / "decayed" / "config.json").read_text())["weight_decay"] == 0.05
    plain = cn.load_model(tmp_path / "plain" / "model.npz").state_dict()
    decayed = cn.load_model(tmp_path / "decayed" / "model.npz").state_dict()
    assert np.linalg.norm(decayed["0.weight"]) < np.linalg.norm(plain["0.weight"])


@pytest.mark.skipif(not cn.fast.processes.available(), reason="worker processes need Linux")
def test_train_on_two_processes_learns_what_one_process_learns(tmp_path, capsys):
    common = ["--model", "simple-cnn", "--limit", "512", "--batch-size", "128", "--seed", "4",
              "--epochs", "1"]
    assert run_cli(capsys, "train", *common, "--out", tmp_path / "one")[0] == 0
    steps = cn.fast.processes.split_steps()
    try:
        assert run_cli(capsys, "train", *common, "--processes", "2", "--out", tmp_path / "two")[0] == 0
    finally:
        cn.fast.set_num_processes(1)
    assert cn.fast.processes.split_steps() > steps  # 128 simple-cnn images are worth two processes
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("one", "two")]
    np.testing.assert_allclose(history[1]["loss"], history[0]["loss"], rtol=1e-4)
