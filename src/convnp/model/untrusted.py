"""Reading untrusted model and checkpoint files: every size is checked before it is allocated.

A model file is an .npz (a zip of .npy members) written by :meth:`Sequential.save`; a
checkpoint is the same kind of archive. Anyone can hand convnp such a file, so nothing in it is
believed until checked against the limits below:

- the JSON record: at most :data:`MAX_RECORD_BYTES`, nesting at most :data:`MAX_DEPTH` layers
  deep, at most :data:`MAX_LAYERS` layers, every size at most :data:`MAX_SIZE`, at most
  :data:`MAX_PARAMETERS` parameters in all (counted from the configs, before any layer exists);
- the archive: only ``.npy`` members, each one's declared shape and dtype read from its header
  and compared with what the model expects *before* its data is decompressed;
- the metadata: an ``input_shape`` of 1-3 positive sizes with at most :data:`MAX_INPUT_PIXELS`
  values, class names that are strings.
"""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np

MAX_RECORD_BYTES = 16 * 2**20
MAX_DEPTH = 32
MAX_LAYERS = 10_000
MAX_SIZE = 2**20  # any one channel count, feature count or kernel size
MAX_PARAMETERS = 2**28  # 1 GiB of float32 weights
MAX_INPUT_PIXELS = 2**24  # C * H * W of one input (a 4096 x 4096 RGB image is 50M: refused)
CONTAINERS = ("Sequential", "Residual")


def parse_record(text: str, who: str, what: str = "architecture record") -> dict:
    """Parse a JSON record (a dict) or raise ValueError naming ``who``; deep nesting included."""
    try:
        record = json.loads(text)
    except RecursionError:
        raise ValueError(f"{who} has a malformed {what} (JSON nested too deeply)") from None
    except ValueError as error:
        raise ValueError(f"{who} has a malformed {what} ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{who} has a malformed {what} (a JSON {type(record).__name__}, "
                         f"expected an object)")
    return record


def check_architecture(description, who: str) -> int:
    """Check a layer description against the limits; return its parameter count.

    Raises
    ------
    ValueError
        Nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_LAYERS` layers, a size
        over :data:`MAX_SIZE`, more than :data:`MAX_PARAMETERS` parameters, or a description
        that is not ``{"type": str, …}``.
    """
    stack, layers, parameters = [(description, 1, "architecture")], 0, 0
    while stack:  # iterative: a 5,000-deep file must not exhaust Python's stack
        node, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"{who}: the architecture nests deeper than {MAX_DEPTH} levels "
                             f"(at {where}); this is not a file convnp wrote")
        layers += 1
        if layers > MAX_LAYERS:
            raise ValueError(f"{who}: the architecture has more than {MAX_LAYERS} layers")
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise ValueError(f"{who} has a malformed architecture record ({where} must be an "
                             f"object with a 'type', got {_short(node)})")
        if node["type"] in CONTAINERS:
            children = node.get("layers")
            if not isinstance(children, list):
                raise ValueError(f"{who} has a malformed architecture record ({where}, a "
                                 f"{node['type']}, needs a list 'layers')")
            shortcut = [node["shortcut"]] if node.get("shortcut") is not None else []
            stack += [(child, depth + 1, f"{where}.{i}") for i, child in enumerate(children + shortcut)]
            continue
        parameters += layer_parameter_count(node.get("config", {}), node["type"], f"{who}: {where}")
        if parameters > MAX_PARAMETERS:
            raise ValueError(f"{who}: the architecture declares more than {MAX_PARAMETERS:,} "
                             f"parameters (at {where}); refusing to allocate them")
    return parameters


def layer_parameter_count(config, kind: str, where: str) -> int:
    """Parameters a layer's config would allocate, after checking every size in it."""
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the config of {kind} must be an object, got {_short(config)}")
    sizes = {key: _size(value, f"{where} {kind}.{key}") for key, value in config.items()
             if key not in ("dtype", "bias")}
    if kind == "Conv2d":
        kernel = sizes.get("kernel_size") or (1,)
        return (_first(sizes, "in_channels") * _first(sizes, "out_channels") * math.prod(kernel)
                + _first(sizes, "out_channels"))
    if kind == "Linear":
        return _first(sizes, "in_features") * _first(sizes, "out_features") + _first(sizes, "out_features")
    if kind.startswith("BatchNorm"):
        return 4 * _first(sizes, "num_features")
    return 0


def _first(sizes, key) -> int:
    return max(sizes.get(key) or (1,))


def _size(value, where) -> tuple:
    """The integers in a config value (an int, a pair, a string or None) after range checks."""
    items = value if isinstance(value, list) and len(value) <= 4 else [value]
    numbers = [item for item in items if isinstance(item, (int, float)) and not isinstance(item, bool)]
    for item in numbers:
        if not math.isfinite(item) or abs(item) > MAX_SIZE:
            raise ValueError(f"{where} is {item!r}; expected at most {MAX_SIZE:,} in size")
    return tuple(int(item) for item in numbers if isinstance(item, int))


def check_metadata(metadata, who: str) -> dict:
    """Check the metadata ``convnp train`` records (input shape, classes); return it as a dict."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{who}: metadata must be an object, got {_short(metadata)}")
    shape = metadata.get("input_shape")
    if shape is not None:
        if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
                or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_SIZE
                           for s in shape) or math.prod(shape) > MAX_INPUT_PIXELS):
            raise ValueError(f"{who}: metadata input_shape must be [C, H, W] of positive sizes with "
                             f"at most {MAX_INPUT_PIXELS:,} values, got {_short(shape)}")
    classes = metadata.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) > MAX_SIZE
                                or not all(isinstance(name, str) for name in classes)):
        raise ValueError(f"{who}: metadata classes must be a list of names, got {_short(classes)}")
    return metadata


class UntrustedNpz:
    """An .npz archive whose members are read only after their headers pass the caller's checks.

    Parameters
    ----------
    path : str
    who : str
        Prefix of every error message (e.g. ``"load_model: model.npz"``).

    Raises
    ------
    ValueError
        Not a zip archive, or a member that is not ``.npy``.
    """

    def __init__(self, path, who: str, kind: str = "model file"):
        self.who = who
        try:
            self.archive = zipfile.ZipFile(path)
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise ValueError(f"{who}: not a readable .npz {kind} ({error})") from None
        if len(infos) > MAX_LAYERS * 4:
            raise ValueError(f"{who}: the archive has {len(infos)} members; too many for a model")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{who}: the archive holds {info.filename!r}, not an .npy array")
        self.sizes = {info.filename[:-4]: info.file_size for info in infos}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.archive.close()

    def keys(self) -> list[str]:
        return list(self.sizes)

    def read_record(self, key: str) -> str:
        """The JSON text stored under ``key`` as a 0-d string array (at most MAX_RECORD_BYTES)."""
        if key not in self.sizes:
            raise KeyError(key)
        if self.sizes[key] > MAX_RECORD_BYTES:
            raise ValueError(f"{self.who}: the record {key!r} is {self.sizes[key]:,} bytes, over "
                             f"the limit of {MAX_RECORD_BYTES:,}")
        try:
            with self.archive.open(key + ".npy") as file:
                shape, _, dtype = self._header(file, key)
                if shape != () or dtype.kind != "U":
                    raise ValueError(f"{self.who}: the record {key!r} must be a string, got "
                                     f"{dtype} {shape}")
                data = file.read(dtype.itemsize)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{self.who}: {key!r} is unreadable ({error})") from None
        if len(data) != dtype.itemsize:
            raise ValueError(f"{self.who}: the record {key!r} is truncated")
        return str(np.frombuffer(data, dtype=dtype)[0])

    def holds_objects(self, key: str) -> bool:
        """Whether member ``key`` declares an object (pickled) dtype; reads only its header."""
        try:
            with self.archive.open(key + ".npy") as file:
                return self._header(file, key)[2].hasobject
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{self.who}: {key!r} is unreadable ({error})") from None

    def read(self, key: str, shape=None, max_elements=MAX_PARAMETERS) -> np.ndarray:
        """Read numeric member ``key`` once its header shows ``shape`` (or at most ``max_elements``)."""
        try:
            with self.archive.open(key + ".npy") as file:
                got_shape, fortran, dtype = self._header(file, key)
                self._check_header(key, got_shape, dtype, shape, max_elements)
                size = math.prod(got_shape) * dtype.itemsize
                data = file.read(size)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as error:
            raise ValueError(f"{self.who}: {key!r} is unreadable ({error})") from None
        if len(data) != size:
            raise ValueError(f"{self.who}: {key!r} is truncated ({len(data)} of {size} bytes)")
        flat = np.frombuffer(data, dtype=dtype)
        return flat.reshape(got_shape, order="F" if fortran else "C").copy()

    def _check_header(self, key, shape, dtype, expected_shape, max_elements) -> None:
        if dtype.hasobject:
            raise ValueError(self.pickle_message(key))
        if dtype.kind not in "fiub":
            raise ValueError(f"{self.who}: {key!r} has dtype {dtype}, expected a numeric array")
        if expected_shape is not None and tuple(shape) != tuple(expected_shape):
            raise ValueError(f"{self.who}: {key!r} has shape {shape}, expected {tuple(expected_shape)}")
        if math.prod(shape) > max_elements:
            raise ValueError(f"{self.who}: {key!r} declares shape {shape}, more than the "
                             f"{max_elements:,} values it can hold")

    def pickle_message(self, key) -> str:
        return (f"{self.who}: {key!r} holds pickled Python objects, which convnp refuses to "
                f"load because unpickling can run arbitrary code")

    def _header(self, file, key):
        """(shape, fortran_order, dtype) from an .npy header; ValueError naming the member."""
        try:
            version = np.lib.format.read_magic(file)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            return read_header(file)
        except (ValueError, SyntaxError, TypeError) as error:
            raise ValueError(f"{self.who}: {key!r} is not a valid .npy array ({error})") from None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
