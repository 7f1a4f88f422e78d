"""What the CLI commands share: user errors, run directories, data loading, JSON files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from .. import datasets
from .._io import atomic_write
from ..fast import processes, set_num_processes
from ..model.serialization import load_model


class CLIError(Exception):
    """A failure the user caused; the CLI prints its message on one line and exits with 2."""


def set_processes(count, group) -> None:
    """``--processes`` (train, bench): how many processes split each training batch
    (:mod:`convnp.fast.processes`); ``group``: the MPI group this process trains in, or None."""
    if count is None:
        return
    if group is not None and count > 1:
        raise CLIError(f"--processes {count} splits batches within one process's step; under MPI each "
                       f"rank already trains on its own core: leave --processes out")
    try:
        set_num_processes(count)
    except ValueError as error:
        raise CLIError(f"--processes: {str(error).split(': ', 1)[1]}") from None
    if count > 1 and not processes.start_workers():  # ready before the first batch
        print(f"convnp: warning: the {count - 1} worker process(es) did not start in time; batches run in "
              f"this process until they do", file=sys.stderr)


def write_json(path, value) -> None:
    """Write ``value`` as indented JSON, atomically."""
    text = json.dumps(value, indent=2) + "\n"
    atomic_write(path, lambda file: file.write(text.encode()))


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CLIError(f"{path} not found; is it a run directory written by 'convnp train'?") from None
    except (json.JSONDecodeError, OSError) as error:
        raise CLIError(f"cannot read {path}: {error}") from None


def load_split_data(dataset: str, root=None, download=False, limit=None):
    """Load a dataset; with ``limit``, keep only the first ``limit`` train and test images."""
    if dataset not in datasets.names():
        raise CLIError(f"unknown dataset {dataset!r}; choose one of: {', '.join(datasets.names())}")
    (x_train, y_train), (x_test, y_test) = datasets.load(dataset, root=root, download=download)
    if limit is not None:
        if limit < 1:
            raise CLIError(f"--limit must be a positive number of images, got {limit}")
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    return (x_train, y_train), (x_test, y_test)


def model_path(run_dir_or_model) -> Path:
    """``RUN_DIR/model.npz`` for a run directory, the path itself for a model file."""
    path = Path(run_dir_or_model)
    if path.is_dir():
        path = path / "model.npz"
    if not path.is_file():
        raise CLIError(f"no model at {path}; pass a run directory from 'convnp train' or a .npz model")
    return path


def open_model(run_dir_or_model):
    """Load a model file, turning every loading problem into a one-line CLIError."""
    path = model_path(run_dir_or_model)
    try:
        return load_model(path), path
    except (ValueError, FileNotFoundError) as error:
        raise CLIError(str(error)) from None


def class_names(model, count: int) -> list[str]:
    """Class names saved with the model by ``convnp train``, else "0", "1", …"""
    names = model.metadata.get("classes")
    return list(names) if names and len(names) == count else [str(i) for i in range(count)]


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def ensure_directory(path) -> Path:
    path = Path(path)
    os.makedirs(path, exist_ok=True)
    return path


def seeds(seed: int):
    """Independent generators for weight initialisation and for shuffling, from one seed."""
    init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(shuffle_seq)
