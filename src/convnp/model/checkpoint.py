"""Training checkpoints: everything needed to resume a run exactly, in one .npz, no pickle.

A checkpoint holds the model's ``state_dict`` (keys ``model/…``), the optimizer's and the LR
schedule's ``state_dict`` (``optimizer/…``, ``scheduler/…``) and a JSON record
``__checkpoint__`` with the finished epoch, the state of the shuffling generator and of every
layer's own generator (Dropout masks), and the history so far. Resuming from it reproduces the
uninterrupted run bit for bit.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .._io import atomic_write
from .callbacks import Callback
from .untrusted import UntrustedNpz, parse_record

RECORD_KEY = "__checkpoint__"


def save_checkpoint(path, model, optimizer, epoch: int, rng=None, history=None, scheduler=None) -> None:
    """Write a checkpoint atomically (temp file, then rename).

    Parameters
    ----------
    path : str or PathLike
    model : Sequential
    optimizer : convnp.optim optimizer
    epoch : int
        Number of epochs finished.
    rng : numpy.random.Generator, optional
        The generator ``fit`` shuffles with; its exact state is saved.
    history : dict[str, list[float]], optional
    scheduler : convnp.optim LR schedule, optional
    """
    arrays = {f"model/{key}": value for key, value in model.state_dict().items()}
    arrays.update({f"optimizer/{key}": np.asarray(v) for key, v in optimizer.state_dict().items()})
    if scheduler is not None:
        arrays.update({f"scheduler/{key}": np.asarray(v) for key, v in scheduler.state_dict().items()})
    record = {"format": 1, "epoch": int(epoch), "history": history or {},
              "rng_state": None if rng is None else rng.bit_generator.state,
              "layer_rng_states": {name: generator.bit_generator.state
                                   for name, generator in layer_generators(model).items()}}
    arrays[RECORD_KEY] = np.array(json.dumps(record))
    atomic_write(path, lambda file: np.savez(file, **arrays))


def load_checkpoint(path, model, optimizer=None, rng=None, scheduler=None) -> dict:
    """Restore a checkpoint into existing objects; return its record.

    The file is untrusted: each array's declared shape is checked before its data is read
    (see :mod:`convnp.model.untrusted`).

    Returns
    -------
    dict with ``epoch`` (epochs finished), ``history`` and ``rng_state``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or a file that is not a convnp checkpoint (truncated, corrupt, not an
        .npz) or does not fit the model and optimizer (the message says which).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    arrays, record = _read_checkpoint(path, model)
    try:
        model.load_state_dict(_section(arrays, "model/"))
        if optimizer is not None:
            optimizer.load_state_dict(_section(arrays, "optimizer/"))
        if scheduler is not None:
            scheduler.load_state_dict(_section(arrays, "scheduler/"))
        _restore_generators(record, model, rng)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"{path} does not fit this model and optimizer: "
                         f"{str(error).strip(chr(34))}") from None
    return record


def _read_checkpoint(path, model) -> tuple[dict, dict]:
    """The arrays and the JSON record of a checkpoint, every size checked before reading.

    All arrays together may hold at most four times the model's values (weights, buffers and
    two optimizer moments), so a forged header cannot make this allocate more than that.
    """
    refused = f"{path} is not a readable convnp checkpoint"
    try:
        with UntrustedNpz(path, "", kind="archive") as archive:
            if RECORD_KEY not in archive.keys():
                raise ValueError(f"no '{RECORD_KEY}' record (a model file, not a checkpoint?)")
            record = parse_record(archive.read_record(RECORD_KEY), "", "checkpoint record")
            budget = 4 * sum(np.size(value) for value in model.state_dict().values()) + 1024
            arrays = {}
            for key in archive.keys():
                if key != RECORD_KEY:
                    arrays[key] = archive.read(key, max_elements=budget)
                    budget -= arrays[key].size
    except ValueError as error:
        raise ValueError(f"{refused} ({str(error).lstrip(': ')})") from None
    history = record.get("history", {})
    if (not isinstance(record.get("epoch"), int) or record["epoch"] < 0 or not isinstance(history, dict)
            or not all(isinstance(values, list) and all(isinstance(v, (int, float)) for v in values)
                       for values in history.values())):
        raise ValueError(f"{refused} (its record has no valid 'epoch' and 'history')")
    return arrays, record


def _restore_generators(record, model, rng) -> None:
    """Put the shuffling generator and every layer's generator back in their saved states."""
    if rng is not None and record.get("rng_state") is not None:
        rng.bit_generator.state = record["rng_state"]
    generators = layer_generators(model)
    for name, state in (record.get("layer_rng_states") or {}).items():
        if name in generators:
            generators[name].bit_generator.state = state


def layer_generators(layer, prefix="") -> dict:
    """Every layer's own random generator (attribute ``rng``, e.g. Dropout's), by layer path."""
    found = {}
    if isinstance(getattr(layer, "rng", None), np.random.Generator):
        found[prefix.rstrip(".") or "."] = layer.rng
    for name, child in layer.children().items():
        found.update(layer_generators(child, f"{prefix}{name}."))
    return found


def _section(arrays, prefix):
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


class Checkpoint(Callback):
    """Callback: write a checkpoint at the end of every epoch, so no finished epoch is lost.

    Parameters
    ----------
    path : str or PathLike
        Overwritten atomically each epoch.
    optimizer : the optimizer ``fit`` uses
    rng : numpy.random.Generator, optional
        The generator passed to ``fit`` as ``seed``.
    history : dict, optional
        History of earlier (resumed) epochs; this run's epochs are appended to it.
    scheduler : LR schedule, optional
    """

    def __init__(self, path, optimizer, rng=None, history=None, scheduler=None):
        super().__init__()
        self.path, self.optimizer, self.rng, self.scheduler = path, optimizer, rng, scheduler
        self.history = {key: list(values) for key, values in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        save_checkpoint(self.path, self.model, self.optimizer, epoch + 1, self.rng, self.history,
                        self.scheduler)
