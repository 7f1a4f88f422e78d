"""Data-parallel training under ``mpiexec -n 2 python -m mpi4py``, each run a bounded subprocess.

The workers are this file's own ``__main__``: ``python -m mpi4py tests/test_distributed_mpi.py
WORKER OUT_DIR`` (rank 0 writes the results into OUT_DIR).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convnp as cn
from helpers import run_cli

SRC = Path(__file__).resolve().parents[1] / "src"
MPIEXEC = next((str(p) for p in (Path(sys.executable).with_name("mpiexec"), shutil.which("mpiexec"))
                if p and Path(p).exists()), None)
try:
    import mpi4py  # noqa: F401
except ImportError:
    MPIEXEC = None
pytestmark = pytest.mark.skipif(MPIEXEC is None and os.environ.get("CI") != "true",
                                reason="needs the mpi extra (mpi4py, mpich's mpiexec)")
TIMEOUT = 60  # seconds for any one launch, failures included: no test may hang


def mpiexec(*args, cwd=None):
    """Run ``mpiexec -n 2 python -m mpi4py ARGS``; return the CompletedProcess (text)."""
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=env)


def worker(name, out_dir):
    return mpiexec(__file__, name, out_dir)


# The problems the workers and the tests share ---------------------------------------------------

def problem(n, dtype, extra_layers=(), width=3):
    """``n`` random 8x8 images of 4 classes and a small CNN (no BatchNorm/Dropout unless given)."""
    data = np.random.default_rng(0)
    x, y = data.random((n, 1, 8, 8)), data.integers(0, 4, n)
    rng = np.random.default_rng(1)
    model = cn.Sequential(cn.Conv2d(1, width, 3, dtype=dtype, rng=rng), *extra_layers, cn.ReLU(),
                          cn.MaxPool2d(2), cn.Flatten(), cn.Linear(width * 9, 4, dtype=dtype, rng=rng))
    return model, x, y


def flip(x_batch, rng):
    """Augmentation: flip a random half of the batch left-right (it draws from fit's generator)."""
    flipped = rng.random(len(x_batch)) < 0.5
    x_batch = x_batch.copy()
    x_batch[flipped] = x_batch[flipped, :, :, ::-1]
    return x_batch


def train(model, x, y, distributed=None, callbacks=()):
    """Two epochs of SGD with momentum, global batch 8, augmentation and validation."""
    optimizer = cn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    return model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, epochs=2, batch_size=8,
                     seed=3, verbose=False, validation_data=(x[:7], y[:7]), augment=flip,
                     callbacks=callbacks, distributed=distributed)


CASES = {"float64-51": (51, np.float64), "float64-49": (49, np.float64), "float32-51": (51, np.float32)}
# 51 = 6 * 8 + 3: the last global batch splits 2 + 1; 49: it is one sample, rank 1's slice is empty.


# The workers (run on every rank) --------------------------------------------------------------

def equivalence_worker(out_dir):
    from mpi4py import MPI

    for case, (n, dtype) in CASES.items():
        model, x, y = problem(n, dtype)
        history = train(model, x, y, distributed="mpi")
        if MPI.COMM_WORLD.Get_rank() == 0:
            np.savez(Path(out_dir) / f"{case}.npz", **model.state_dict())
            (Path(out_dir) / f"{case}.json").write_text(json.dumps(history.history))


def batchnorm_dropout_worker(out_dir):
    from mpi4py import MPI

    model, x, y = problem(40, np.float64, [cn.BatchNorm2d(3, dtype=np.float64), cn.Dropout(0.5, rng=7)])
    train(model, x, y, distributed="mpi")
    mask = model[2].forward(np.ones((1, 3, 6, 6)))  # the next Dropout mask of this rank
    everyone = MPI.COMM_WORLD.gather((model.state_dict(), mask), root=0)
    if MPI.COMM_WORLD.Get_rank() == 0:
        (state0, mask0), (state1, mask1) = everyone
        np.savez(Path(out_dir) / "ranks.npz", **{f"0/{k}": v for k, v in state0.items()},
                 **{f"1/{k}": v for k, v in state1.items()}, mask0=mask0, mask1=mask1)


def mismatch_worker(out_dir):
    from mpi4py import MPI

    model, x, y = problem(16, np.float64, width=3 + MPI.COMM_WORLD.Get_rank())
    train(model, x, y, distributed="mpi")


class FailOnRankOne(cn.Callback):
    def on_train_batch_end(self, batch, logs=None):
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() == 1 and batch == 1:
            raise RuntimeError("rank 1 fails on purpose")


def raising_worker(out_dir):
    model, x, y = problem(64, np.float64)
    train(model, x, y, distributed="mpi", callbacks=[FailOnRankOne()])


# The tests -----------------------------------------------------------------------------------

def test_two_processes_reach_the_weights_and_history_of_one(tmp_path):
    result = worker("equivalence", tmp_path)
    assert result.returncode == 0, result.stderr
    for case, (n, dtype) in CASES.items():
        model, x, y = problem(n, dtype)
        history = train(model, x, y)
        got = np.load(tmp_path / f"{case}.npz")
        tolerance = 1e-9 if dtype == np.float64 else 1e-4
        for key, expected in model.state_dict().items():
            error = np.max(np.abs(got[key] - expected)) / np.max(np.abs(expected))
            assert error <= tolerance, f"{case}: {key} differs by {error:.2g} (relative)"
        logs = json.loads((tmp_path / f"{case}.json").read_text())
        assert logs.keys() == history.history.keys()
        for key, expected in history.history.items():
            np.testing.assert_allclose(logs[key], expected, rtol=tolerance, err_msg=f"{case}: {key}")


def test_ranks_share_weights_and_batchnorm_statistics_but_not_dropout_masks(tmp_path):
    result = worker("batchnorm-dropout", tmp_path)
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "ranks.npz")
    keys = [key[2:] for key in saved.files if key.startswith("0/")]
    assert "1.running_mean" in keys and "1.running_var" in keys
    for key in keys:
        np.testing.assert_array_equal(saved[f"0/{key}"], saved[f"1/{key}"], err_msg=key)
    assert not np.array_equal(saved["mask0"], saved["mask1"])


def one_error_line(result, expected):
    """The job failed, and its output holds ``expected``, once."""
    assert result.returncode != 0
    assert (result.stdout + result.stderr).count(expected) == 1, result.stderr


def test_mismatched_models_end_the_job_with_one_clear_error(tmp_path):
    result = worker("mismatch", tmp_path)
    one_error_line(result, "ValueError: fit(distributed): rank 1 differs from rank 0 in parameter 0.bias")


def test_a_rank_that_raises_ends_the_whole_job(tmp_path):
    result = worker("raises", tmp_path)  # rank 0 waits in the Allreduce of batch 2, then is ended
    one_error_line(result, "RuntimeError: rank 1 fails on purpose")


def convnp_train(*args, cwd):
    return mpiexec("-m", "convnp", "train", "--model", "seed000", "--limit", "48", "--batch-size", "16",
                   *args, cwd=cwd)


def test_the_cli_trains_on_two_processes_into_one_run_directory_and_resumes(tmp_path, capsys):
    first = convnp_train("--epochs", "1", "--out", "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("Training seed000") == 1 and "on 2 MPI processes" in first.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # rank 1 made no directory of its own
    written = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"model.npz", "history.json", "config.json", "checkpoint.npz"} <= written
    resumed = convnp_train("--resume", "run", "--epochs", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    status, _, _ = run_cli(capsys, "train", "--model", "seed000", "--limit", "48", "--batch-size", "16",
                           "--epochs", "2", "--out", tmp_path / "alone")
    assert status == 0
    alone = cn.load_model(tmp_path / "alone" / "model.npz").state_dict()
    for key, value in cn.load_model(tmp_path / "run" / "model.npz").state_dict().items():
        np.testing.assert_allclose(value, alone[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_the_cli_rejects_a_global_batch_not_divisible_by_the_processes(tmp_path):
    result = convnp_train("--batch-size", "15", "--out", "run", cwd=tmp_path)
    one_error_line(result, "convnp: error: fit: batch_size 15 is the global batch and must be divisible")
    assert result.returncode == 2


WORKERS = {"equivalence": equivalence_worker, "batchnorm-dropout": batchnorm_dropout_worker,
           "mismatch": mismatch_worker, "raises": raising_worker}

if __name__ == "__main__":
    WORKERS[sys.argv[1]](sys.argv[2])
