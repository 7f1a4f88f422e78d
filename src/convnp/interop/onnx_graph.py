"""Read an ONNX file into a small, checked graph: nodes in order, constants as NumPy arrays.

The file is untrusted: it is parsed as a protocol buffer by the ``onnx`` package (never unpickled
or executed), its size and node count are checked first, external data (tensors stored in other
files) is refused, and every problem becomes a ``ValueError`` that names the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ._deps import require_onnx

MAX_FILE_BYTES = 1 << 31  # protobuf's own limit is 2 GiB
MAX_NODES = 20_000


@dataclass
class Node:
    """One operator: ``op`` (ONNX op type, or a fused pattern's), inputs/outputs by value name."""

    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.op} node {self.name!r}"


@dataclass
class Graph:
    """A one-input, one-output graph: ``nodes`` in topological order, ``consts`` by value name."""

    nodes: list
    consts: dict
    input: str
    output: str
    input_shape: tuple  # (C, H, W), None where the file leaves a dimension symbolic
    dtype: np.dtype
    opset: int
    shapes: dict  # value name -> tuple of dims (None where unknown), from ONNX shape inference
    metadata: dict

    _index: tuple = field(default=None, repr=False)  # (readers, producers), rebuilt after changes

    def changed(self) -> None:
        """Call after editing ``nodes`` (the pattern fusions do), so lookups see the edit."""
        self._index = None

    def _lookup(self):
        if self._index is None:
            readers, producers = {}, {}
            for node in self.nodes:
                for value in dict.fromkeys(node.inputs):  # a node reading x twice is one reader
                    readers.setdefault(value, []).append(node)
                producers.update((value, node) for value in node.outputs)
            self._index = (readers, producers)
        return self._index

    def consumers(self, value) -> list:
        """The nodes that read ``value``, in graph order."""
        return list(self._lookup()[0].get(value, ()))

    def producer(self, value):
        """The node computing ``value`` (None for the input and constants)."""
        return self._lookup()[1].get(value)

    def dynamic_inputs(self, node) -> list:
        """``node``'s inputs that are computed from the image (not constants, not omitted)."""
        return [value for value in node.inputs if value and value not in self.consts]

    def const(self, node, position, default=None, required=True):
        """The constant at input ``position`` of ``node`` (weights are found by position, not name)."""
        value = node.inputs[position] if position < len(node.inputs) else ""
        if not value:
            if required and default is None:
                raise ValueError(f"from_onnx: {node.describe()} lacks input {position}")
            return default
        if value not in self.consts:
            raise ValueError(f"from_onnx: {node.describe()}: input {position} ({value!r}) must be a "
                             f"constant (an initializer), but it is computed in the graph")
        return self.consts[value]


def _read(onnx, path):
    """Parse the file at ``path`` into a ModelProto, with clear errors for bad files."""
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise FileNotFoundError(f"from_onnx: cannot open {path}: {error.strerror or error}") from None
    if size > MAX_FILE_BYTES:
        raise ValueError(f"from_onnx: {path} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
    with open(path, "rb") as file:
        data = file.read()
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as error:  # DecodeError and the like
        _invalid(path, error)
    if len(proto.graph.node) > MAX_NODES:
        raise ValueError(f"from_onnx: {path} has {len(proto.graph.node)} nodes, over the limit of "
                         f"{MAX_NODES}")
    directory = os.path.dirname(os.path.abspath(path))
    total = size
    for tensor in proto.graph.initializer:  # the checker would look for these files from the cwd
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _external(onnx, tensor, directory, f"initializer {tensor.name!r}")
            total += len(tensor.raw_data)
            if total > MAX_FILE_BYTES:
                raise ValueError(f"from_onnx: {path} and its external data hold over "
                                 f"{MAX_FILE_BYTES} bytes, the limit")
    try:
        onnx.checker.check_model(proto)
    except Exception as error:  # ValidationError: a graph that breaks ONNX's rules
        _invalid(path, error)
    return proto


def _invalid(path, error):
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise ValueError(f"from_onnx: {path} is not a valid ONNX model (corrupt or truncated?): "
                     f"{first}") from None


def _external(onnx, tensor, directory, where) -> None:
    """Read a tensor's data kept in a file beside the model (as the dynamo exporter writes it).

    The file must sit inside the model's folder (no absolute paths, no ``..``), and the byte
    range must hold exactly the tensor's declared number of elements: checked before reading.
    """
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    base = os.path.realpath(directory)
    file = os.path.realpath(os.path.join(base, location))
    if not location or os.path.isabs(location) or os.path.commonpath([base, file]) != base:
        raise ValueError(f"from_onnx: {where} points outside the model's folder ({location!r})")
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        expected = int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
        offset, length = int(info.get("offset", 0)), int(info.get("length", expected))
        size = os.path.getsize(file)
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise ValueError(f"from_onnx: {where}: cannot use its external data {location!r}: {error}") from None
    if length != expected or offset < 0 or offset + length > size or length > MAX_FILE_BYTES:
        raise ValueError(f"from_onnx: {where}: external data {location!r} does not hold the "
                         f"{expected} bytes its shape {list(tensor.dims)} needs at offset {offset}")
    with open(file, "rb") as handle:
        handle.seek(offset)
        tensor.raw_data = handle.read(length)
    tensor.data_location = onnx.TensorProto.DEFAULT
    del tensor.external_data[:]


def _tensor(onnx, tensor, where, directory) -> np.ndarray:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        _external(onnx, tensor, directory, where)
    try:
        return onnx.numpy_helper.to_array(tensor)
    except Exception as error:
        raise ValueError(f"from_onnx: cannot read tensor {where}: {error}") from None


def _constants(onnx, graph, directory) -> dict:
    """Initializers and the outputs of Constant nodes, as arrays."""
    consts = {init.name: _tensor(onnx, init, f"initializer {init.name!r}", directory)
              for init in graph.initializer}
    if len(graph.sparse_initializer):
        raise ValueError("from_onnx: sparse initializers are not supported")
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            attribute = node.attribute[0] if len(node.attribute) == 1 else None
            if attribute is None or attribute.name not in ("value", "value_float", "value_floats",
                                                            "value_int", "value_ints"):
                raise ValueError(f"from_onnx: Constant node {node.name!r}: unsupported form")
            value = onnx.helper.get_attribute_value(attribute)
            consts[node.output[0]] = (_tensor(onnx, value, f"of Constant node {node.name!r}", directory)
                                      if attribute.name == "value" else np.array(value))
    return consts


def _shapes(onnx, proto) -> dict:
    """Value name → dims from ONNX shape inference (empty where inference fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # shapes only sharpen checks; the conversion works without them
        return {}
    shapes = {}
    for info in [*inferred.value_info, *inferred.input, *inferred.output]:
        kind = info.type.WhichOneof("value")
        if kind == "tensor_type" and info.type.tensor_type.HasField("shape"):
            dims = info.type.tensor_type.shape.dim
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return shapes


def _endpoint(onnx, graph, consts, path):
    """The graph's one image input (name, (C, H, W), dtype) and its one output's name."""
    inputs = [value for value in graph.input if value.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(f"from_onnx: {path}: expected one input and one output, got "
                         f"{len(inputs)} inputs and {len(graph.output)} outputs")
    tensor = inputs[0].type.tensor_type
    dtypes = {onnx.TensorProto.FLOAT: np.dtype(np.float32), onnx.TensorProto.DOUBLE: np.dtype(np.float64)}
    if tensor.elem_type not in dtypes:
        raise ValueError(f"from_onnx: {path}: the input must be float32 or float64, got "
                         f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) != 4:
        raise ValueError(f"from_onnx: {path}: expected an image input (N, C, H, W), got rank {len(dims)}")
    return inputs[0].name, tuple(dims[1:]), dtypes[tensor.elem_type], graph.output[0].name


def _metadata(proto) -> dict:
    """``classes`` saved by :func:`to_onnx` (a JSON list of strings), when present and valid."""
    props = {prop.key: prop.value for prop in proto.metadata_props}
    try:
        classes = json.loads(props.get("classes", "null"))
    except ValueError:
        return {}
    ok = isinstance(classes, list) and len(classes) <= 100_000 and all(isinstance(c, str) for c in classes)
    return {"classes": classes} if ok else {}


def load_graph(path) -> Graph:
    """Read and check the ONNX file at ``path``; return its :class:`Graph`."""
    onnx = require_onnx()
    path = os.fspath(path)
    proto = _read(onnx, path)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ValueError(f"from_onnx: {path} does not import the default ONNX domain")
    consts = _constants(onnx, proto.graph, os.path.dirname(os.path.abspath(path)))
    image, input_shape, dtype, output = _endpoint(onnx, proto.graph, consts, path)
    nodes = []
    for index, node in enumerate(proto.graph.node):
        if node.op_type == "Constant":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        nodes.append(Node(op, node.name or f"#{index}", list(node.input), list(node.output), attrs))
    return Graph(nodes, consts, image, output, input_shape, dtype, opset, _shapes(onnx, proto),
                 _metadata(proto))
