"""Saving and loading models without pickle: one .npz with weights and a JSON architecture.

The file holds one array per ``state_dict`` entry (torch-style keys) and ``__convnp__``, a
string array with JSON ``{"format": 1, "architecture": …}``. Loading uses
``np.load(..., allow_pickle=False)`` and rebuilds layers only from the fixed table below, so a
model file can never run code.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .. import layers as L
from .._io import atomic_write
from ..layers.container import Chain
from .sequential import Sequential

FORMAT_VERSION = 1
META_KEY = "__convnp__"
LAYER_TYPES = {cls.__name__: cls for cls in (
    L.Conv2d, L.MaxPool2d, L.AvgPool2d, L.Linear, L.Flatten, L.ReLU, L.LeakyReLU, L.Sigmoid,
    L.Tanh, L.ELU, L.SELU, L.Softplus, L.Softmax, L.Dropout, L.BatchNorm1d, L.BatchNorm2d,
    L.GlobalAvgPool2d, L.Residual, Sequential)}


def describe(layer) -> dict:
    """JSON-compatible description of a layer (recursively for containers)."""
    if type(layer) is Chain:  # a list of layers, e.g. a Residual's shortcut: saved as a Sequential
        return {"type": "Sequential", "layers": [describe(child) for child in layer.layers]}
    name = type(layer).__name__
    if LAYER_TYPES.get(name) is not type(layer):
        raise TypeError(f"save: {name} is not a built-in convnp layer and cannot be saved")
    if isinstance(layer, Sequential):
        return {"type": name, "layers": [describe(child) for child in layer.layers]}
    if isinstance(layer, L.Residual):
        shortcut = None if layer.shortcut is None else describe(layer.shortcut)
        return {"type": name, "layers": [describe(child) for child in layer.layers], "shortcut": shortcut}
    return {"type": name, "config": layer.config()}


def build(description: dict):
    """Rebuild a layer from :func:`describe`'s output (weights are set separately)."""
    kind = description.get("type") if isinstance(description, dict) else None
    if kind not in LAYER_TYPES:
        raise ValueError(f"load_model: unknown layer type {kind!r} in the architecture")
    if kind == "Sequential":
        return Sequential(*(build(child) for child in description["layers"]))
    if kind == "Residual":
        shortcut = description.get("shortcut")
        return L.Residual(*(build(child) for child in description["layers"]),
                          shortcut=None if shortcut is None else build(shortcut))
    return LAYER_TYPES[kind](**description.get("config", {}))


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (exactly that name) as an .npz; temp file then rename."""
    arrays = model.state_dict()
    meta = {"format": FORMAT_VERSION, "architecture": describe(model),
            "metadata": getattr(model, "metadata", {})}
    arrays[META_KEY] = np.array(json.dumps(meta))
    atomic_write(path, lambda file: np.savez(file, **arrays))


def load_model(path):
    """Load a model written by :meth:`Sequential.save`. Never unpickles.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a convnp model (not an .npz, no architecture record, pickled
        content, missing or mis-shaped weights), with the path and the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file: {path}")
    arrays = _read_npz(path)
    if META_KEY not in arrays:
        raise ValueError(f"load_model: {path} has no '{META_KEY}' architecture record; "
                         f"was it written by Sequential.save?")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        version = meta.get("format")
    except (ValueError, AttributeError) as error:
        raise ValueError(f"load_model: {path} has a malformed architecture record ({error})") from None
    if version != FORMAT_VERSION:
        raise ValueError(f"load_model: {path} has format {version}, this convnp reads "
                         f"format {FORMAT_VERSION}")
    try:
        model = build(meta.get("architecture"))
    except (TypeError, KeyError, AttributeError) as error:  # e.g. a config with unknown arguments
        raise ValueError(f"load_model: {path} has a malformed architecture record ({error})") from None
    if isinstance(model, Sequential):
        model.metadata = meta.get("metadata") or {}
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError) as error:
        raise ValueError(f"load_model: {path}: {error}") from None
    return model


def _read_npz(path) -> dict:
    """All arrays of the .npz at ``path``, read without unpickling; ValueError for anything else.

    The file's first bytes tell an .npz (a zip archive) from a single .npy array, a pickle
    (protocol 2+ starts with byte 0x80) or something else, so the error says which it is.
    """
    with open(path, "rb") as file:
        magic = file.read(6)
    refused = f"load_model: {path} is not a convnp model file"
    pickled = ("it contains pickled Python objects, which convnp refuses to load because "
               "unpickling can run arbitrary code")
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(f"{refused}: it holds a single array (.npy), not a saved model")
    if magic.startswith(b"\x80"):
        raise ValueError(f"{refused}: {pickled}")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{refused}: it is not an .npz archive (model files are written by "
                         f"Sequential.save; pickled files are never loaded)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as error:
        reason = pickled if "pickle" in str(error) else error
        raise ValueError(f"{refused}: {reason}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"load_model: {path} is not a readable .npz model file ({error})") from None
