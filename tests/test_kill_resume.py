"""SIGKILL ``convnp train`` at chosen instants (one of them inside a checkpoint write), then one
command finishes the run with exactly the uninterrupted run's weights and no temp files left."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import convnp as cn

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

SETTINGS = ["--model", "seed000", "--limit", "192", "--epochs", "3", "--batch-size", "32",
            "--seed", "5", "--optimizer", "sgd"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
       "MPLBACKEND": "Agg"}


def train(*args):
    return [sys.executable, "-m", "convnp", "train", *args]


def start(run_dir):
    return subprocess.Popen(train(*SETTINGS, "--out", str(run_dir)), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(run_dir, ready, delay=0.0, timeout=60.0) -> bool:
    """Start a run; SIGKILL it ``delay`` s after ``ready(run_dir, seen)`` holds. True if killed.

    ``seen`` is the set of temp-file names observed so far (polled every 0.5 ms).
    """
    process, seen = start(run_dir), set()
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if run_dir.is_dir():
            seen.update(name for name in os.listdir(run_dir) if name.startswith(".tmp-"))
        if ready(run_dir, seen):
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.0005)
    return process.wait() == -signal.SIGKILL


def in_checkpoint_write(run_dir, seen):  # config.json is written first, then each checkpoint
    return any(name.endswith("checkpoint.npz") for name in seen)


def training(run_dir, seen):
    return (run_dir / "config.json").is_file()


def after_first_epoch(run_dir, seen):
    return (run_dir / "checkpoint.npz").is_file()


def finish(run_dir):
    """The one command a user runs after a kill: resume, or restart if no settings were saved."""
    command = (train("--resume", str(run_dir)) if (run_dir / "config.json").is_file()
               else train(*SETTINGS, "--out", str(run_dir)))
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def weights(run_dir):
    return cn.load_model(run_dir / "model.npz").state_dict()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("kill") / "full"
    assert subprocess.run(train(*SETTINGS, "--out", str(run_dir)), env=ENV,
                          capture_output=True).returncode == 0
    return weights(run_dir)


def test_killed_runs_resume_to_the_uninterrupted_weights_bit_for_bit(uninterrupted, tmp_path):
    expected = uninterrupted
    rng = np.random.default_rng(0)
    instants = {"in-checkpoint-write": (in_checkpoint_write, 0.0),
                "during-epoch-1": (training, rng.uniform(0, 0.3)),
                "after-epoch-1": (after_first_epoch, rng.uniform(0, 0.5))}
    for name, (ready, delay) in instants.items():
        run_dir = tmp_path / name
        assert kill_when(run_dir, ready, delay), f"{name}: the run ended before the kill"
        finish(run_dir)
        got = weights(run_dir)
        assert got.keys() == expected.keys()
        for key in expected:
            assert np.array_equal(got[key], expected[key]), f"{name}: {key} differs"
        leftovers = [entry for entry in os.listdir(run_dir) if entry.startswith(".tmp-")]
        assert leftovers == [], f"{name}: temp files left behind: {leftovers}"
