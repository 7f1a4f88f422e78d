"""Saving and loading models without pickle: one .npz with weights and a JSON architecture.

The file holds one array per ``state_dict`` entry (torch-style keys) and ``__convnp__``, a
string array with JSON ``{"format": 1, "architecture": …}``. Loading uses
``np.load(..., allow_pickle=False)`` and rebuilds layers only from the fixed table below, so a
model file can never run code.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import layers as L
from .._io import atomic_write
from ..layers.container import Chain
from .sequential import Sequential
from .untrusted import UntrustedNpz, check_architecture, check_metadata, parse_record

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

    The file is untrusted: the architecture is checked against the limits of
    :mod:`convnp.model.untrusted` before any layer is built, and each weight's declared shape
    and dtype before its data is decompressed (see that module).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a convnp model (not an .npz, no architecture record, pickled
        content, an architecture over the limits, missing, mis-shaped or non-finite weights),
        with the path and the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file: {path}")
    _check_magic(path)
    who = f"load_model: {path}"
    with UntrustedNpz(path, who) as archive:
        if META_KEY not in archive.keys():
            raise ValueError(f"load_model: {path} has no '{META_KEY}' architecture record; "
                             f"was it written by Sequential.save?")
        meta = parse_record(archive.read_record(META_KEY), who)
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"load_model: {path} has format {meta.get('format')!r}, this convnp "
                             f"reads format {FORMAT_VERSION}")
        check_architecture(meta.get("architecture"), who)
        metadata = check_metadata(meta.get("metadata"), who)
        model = _build_checked(meta["architecture"], who)
        arrays = read_state(archive, _state_shapes(model), who, skip=(META_KEY,))
    if isinstance(model, Sequential):
        model.metadata = metadata
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"load_model: {path}: {str(error).strip(chr(34))}") from None
    _check_finite(model, who)
    return model


def _build_checked(architecture, who):
    """:func:`build` with every constructor complaint turned into a ValueError naming the file."""
    try:
        return build(architecture)
    except (TypeError, KeyError, AttributeError, ValueError, OverflowError) as error:
        raise ValueError(f"{who} has a malformed architecture record ({error})") from None


def _state_shapes(model) -> dict:
    """Shape and dtype of every ``state_dict`` entry, without copying the arrays."""
    targets = {name: p.data for name, p in model.named_parameters().items()}
    targets.update(model.named_buffers())
    return {name: (np.shape(value), np.asarray(value).dtype) for name, value in targets.items()}


def read_state(archive, expected: dict, who: str, skip=()) -> dict:
    """Read the members named in ``expected`` ({key: (shape, dtype)}), checking headers first.

    Unknown and missing keys are reported together before any member is decompressed.
    """
    present = [key for key in archive.keys() if key not in skip]
    missing = sorted(set(expected) - set(present))
    unexpected = sorted(set(present) - set(expected))
    pickled = [key for key in unexpected if archive.holds_objects(key)]
    if pickled:
        raise ValueError(archive.pickle_message(pickled[0]))
    if missing or unexpected:
        raise ValueError(f"{who}: the weights do not match the architecture: missing keys "
                         f"{missing[:8]}, unexpected keys {unexpected[:8]}")
    return {key: archive.read(key, expected[key][0]) for key in present}


def _check_finite(model, who) -> None:
    """Refuse weights holding NaN or infinity: every prediction would be meaningless."""
    for name, value in model.state_dict().items():
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            count = int(np.count_nonzero(~np.isfinite(value)))
            raise ValueError(f"{who}: weight {name!r} holds {count} NaN or infinite values; the "
                             f"model is unusable (was it saved after training diverged?)")


def _check_magic(path) -> None:
    """Tell an .npz (a zip archive) from an .npy array, a pickle or anything else, by its first bytes."""
    with open(path, "rb") as file:
        magic = file.read(6)
    refused = f"load_model: {path} is not a convnp model file"
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(f"{refused}: it holds a single array (.npy), not a saved model")
    if magic.startswith(b"\x80"):
        raise ValueError(f"{refused}: it contains pickled Python objects, which convnp refuses "
                         f"to load because unpickling can run arbitrary code")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{refused}: it is not an .npz archive (model files are written by "
                         f"Sequential.save; pickled files are never loaded)")
