"""One ONNX node → one convnp layer (after :mod:`.onnx_patterns` has fused multi-node patterns).

Each converter takes ``(graph, node, rank)`` — ``rank`` is the number of dimensions of the
node's input — and returns ``(layer or None, output rank)``; None means the node does nothing at
inference (Identity). Weights are taken by input position, never by initializer name.
"""

from __future__ import annotations

import math

import numpy as np

from .. import layers as L
from .onnx_graph import Graph, Node
from .onnx_patterns import flattens

SELU_ALPHA, SELU_GAMMA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _f32(value) -> float:
    """A float32 attribute as the shortest float that rounds to it (0.2, not 0.20000000298…)."""
    return float(str(np.float32(value)))


def _fail(node: Node, message: str):
    raise ValueError(f"from_onnx: {node.describe()}: {message}")


def _load(layer, graph: Graph, **arrays):
    """Copy ``arrays`` (cast to the model's dtype) into ``layer`` by state_dict key."""
    layer.load_state_dict({key: np.asarray(value, graph.dtype) for key, value in arrays.items()
                           if value is not None}, strict=False)
    return layer


def _auto_pad(node: Node) -> str:
    value = node.attrs.get("auto_pad", b"NOTSET")
    return value.decode() if isinstance(value, bytes) else str(value)


def _padding(node: Node, kernel, stride, allow_same: bool):
    """ONNX ``pads`` [top, left, bottom, right] / ``auto_pad`` → convnp padding."""
    kh, kw = kernel
    same = [(kh - 1) // 2, (kw - 1) // 2, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2]
    mode = _auto_pad(node)
    if mode == "VALID":
        return (0, 0)
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        if stride != (1, 1):
            _fail(node, f"auto_pad={mode} with stride {stride} is not supported (only stride 1)")
        pads = same if mode == "SAME_UPPER" else same[2:] + same[:2]
    else:
        pads = [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        _fail(node, f"expected 4 pads for a 2-D op, got {pads}")
    if pads[:2] == pads[2:]:
        return (pads[0], pads[1])
    if allow_same and stride == (1, 1) and pads == same:
        return "same"  # torch's 'same' with an even kernel: the extra row/column at bottom/right
    _fail(node, f"asymmetric pads {pads} ([top, left, bottom, right]) are not supported; convnp pads "
                f"symmetrically, or as 'same' (extra at the bottom/right) for a stride-1 Conv")


def _window(node: Node, kernel_default=None):
    """(kernel, stride) of a Conv/pool node, with dilations and groups checked."""
    kernel = tuple(int(k) for k in node.attrs.get("kernel_shape", kernel_default or ()))
    if len(kernel) != 2:
        _fail(node, f"only 2-D windows are supported, got kernel_shape {list(kernel)}")
    if any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
        _fail(node, f"dilations {node.attrs['dilations']} are not supported (only 1)")
    return kernel, tuple(int(s) for s in node.attrs.get("strides", [1, 1]))


def conv(graph: Graph, node: Node, rank):
    weight, bias = graph.const(node, 1), graph.const(node, 2, required=False)
    if weight.ndim != 4:
        _fail(node, f"only 2-D convolutions are supported, got a weight of shape {weight.shape}")
    if node.attrs.get("group", 1) != 1:
        _fail(node, f"grouped convolution (group={node.attrs['group']}) is not supported")
    kernel, stride = _window(node, weight.shape[2:])
    layer = L.Conv2d(weight.shape[1], weight.shape[0], kernel, stride,
                     _padding(node, kernel, stride, True), bias=bias is not None, dtype=graph.dtype)
    return _load(layer, graph, weight=weight, bias=None if bias is None else bias.reshape(-1)), 4


def _check_ceil_mode(graph: Graph, node: Node, kernel, stride, padding):
    """Accept ceil_mode=1 only where the known input size makes it equal floor mode."""
    shape = graph.shapes.get(node.inputs[0])
    sizes = shape[2:] if shape and len(shape) == 4 and None not in shape[2:] else None
    if sizes is not None:
        def both(n, k, s, p):
            floor = (n + 2 * p - k) // s + 1
            ceil = -(-(n + 2 * p - k) // s) + 1
            return floor == ceil - ((ceil - 1) * s >= n + p)  # torch drops a window starting in the pad
        if all(map(both, sizes, kernel, stride, padding)):
            return
    _fail(node, "ceil_mode=1 is not supported: convnp pools round the output size down (torch's "
                "ceil_mode=False); export the model with ceil_mode=False")


def pool(graph: Graph, node: Node, rank):
    kernel, stride = _window(node)
    padding = _padding(node, kernel, stride, False)
    if node.attrs.get("ceil_mode", 0):
        _check_ceil_mode(graph, node, kernel, stride, padding)
    if node.op == "MaxPool":
        return L.MaxPool2d(kernel, stride, padding), 4
    if padding != (0, 0) and not node.attrs.get("count_include_pad", 0):
        _fail(node, "count_include_pad=0 with padding is not supported: convnp's AvgPool2d counts "
                    "the zero padding in the mean (torch's count_include_pad=True)")
    return L.AvgPool2d(kernel, stride, padding), 4


def whole_image_pool(graph: Graph, node: Node, rank):
    """A mean over (H, W) keeping them (no flatten after it): AvgPool2d over the known size."""
    shape = graph.shapes.get(node.inputs[0])
    if not shape or len(shape) != 4 or None in shape[2:]:
        _fail(node, "a mean over (H, W) not followed by a flatten needs a known image size")
    return L.AvgPool2d(shape[2:]), 4


def gemm(graph: Graph, node: Node, rank):
    if rank != 2:
        _fail(node, f"expected a 2-D input (N, features), got rank {rank}; flatten first")
    weight, bias = graph.const(node, 1), graph.const(node, 2, required=False)
    if node.attrs.get("transA", 0) or weight.ndim != 2:
        _fail(node, "only x @ W (transA=0, a 2-D constant W) is supported")
    weight = (weight if node.attrs.get("transB", 0) else weight.T) * node.attrs.get("alpha", 1.0)
    if bias is not None:
        if bias.size not in (1, weight.shape[0]):
            _fail(node, f"bias of shape {bias.shape} does not match {weight.shape[0]} outputs")
        bias = np.broadcast_to(bias.reshape(-1), (weight.shape[0],)) * node.attrs.get("beta", 1.0)
    layer = L.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=graph.dtype)
    return _load(layer, graph, weight=weight, bias=bias), 2


def batch_norm(graph: Graph, node: Node, rank):
    if node.attrs.get("training_mode", 0):
        _fail(node, "training_mode=1 is not supported; export the model in eval mode")
    scale, shift, mean, var = (graph.const(node, position) for position in range(1, 5))
    kind = L.BatchNorm2d if rank == 4 else L.BatchNorm1d
    momentum = round(1.0 - float(node.attrs.get("momentum", 0.9)), 6)  # ONNX keeps, torch adds
    layer = kind(scale.size, _f32(node.attrs.get("epsilon", 1e-5)), momentum, dtype=graph.dtype)
    return _load(layer, graph, weight=scale, bias=shift, running_mean=mean, running_var=var), rank


def softmax(graph: Graph, node: Node, rank):
    axis = node.attrs.get("axis", -1 if graph.opset >= 13 else 1)
    axis = axis % rank if rank else axis
    if graph.opset < 13 and axis != rank - 1:
        _fail(node, f"opset {graph.opset} Softmax over axes {axis}… (flattened) is not supported")
    return L.Softmax(dim=axis), rank


def selu(graph: Graph, node: Node, rank):
    alpha, gamma = node.attrs.get("alpha", SELU_ALPHA), node.attrs.get("gamma", SELU_GAMMA)
    if not (math.isclose(alpha, SELU_ALPHA, rel_tol=1e-6) and math.isclose(gamma, SELU_GAMMA, rel_tol=1e-6)):
        _fail(node, f"Selu with alpha={alpha}, gamma={gamma} (not torch's constants) is not supported")
    return L.SELU(), rank


def dropout(graph: Graph, node: Node, rank):
    ratio = node.attrs.get("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1]:
        ratio = float(graph.const(node, 1).reshape(-1)[0])
    if len(node.inputs) > 2 and node.inputs[2] and bool(graph.const(node, 2).reshape(-1)[0]):
        _fail(node, "training_mode=True is not supported; export the model in eval mode")
    return L.Dropout(ratio), rank


def flatten(graph: Graph, node: Node, rank):
    if not flattens(graph, node):
        _fail(node, "only a flatten to (N, -1) is supported (Flatten axis=1, Reshape to (N, -1))")
    return L.Flatten(), 2


def _elementwise(make):
    return lambda graph, node, rank: (make(node.attrs), rank)


CONVERTERS = {
    "Conv": conv, "MaxPool": pool, "AveragePool": pool, "Gemm": gemm,
    "BatchNormalization": batch_norm, "Softmax": softmax, "Selu": selu, "Dropout": dropout,
    "Flatten": flatten, "Reshape": flatten, "GlobalAveragePool": whole_image_pool,
    "ReduceMean": whole_image_pool,
    "GlobalAvgPool2d": lambda graph, node, rank: (L.GlobalAvgPool2d(), 2),
    "Identity": lambda graph, node, rank: (None, rank),
    "Relu": _elementwise(lambda a: L.ReLU()),
    "LeakyRelu": _elementwise(lambda a: L.LeakyReLU(_f32(a.get("alpha", 0.01)))),
    "Sigmoid": _elementwise(lambda a: L.Sigmoid()),
    "Tanh": _elementwise(lambda a: L.Tanh()),
    "Elu": _elementwise(lambda a: L.ELU(_f32(a.get("alpha", 1.0)))),
    "Softplus": _elementwise(lambda a: L.Softplus(_f32(a.get("beta", 1.0)), _f32(a.get("threshold", 20.0)))),
}


def convert(graph: Graph, node: Node, rank):
    """The convnp layer for ``node`` (None for an identity) and its output's rank."""
    if node.op not in CONVERTERS:
        known = sorted({*CONVERTERS, "MatMul", "Constant"} - {"GlobalAvgPool2d"})
        raise ValueError(f"from_onnx: unsupported op {node.op!r} at node {node.name!r}; convnp reads "
                         f"{', '.join(known)} and Add of two branches (a residual block)")
    extra = [value for value in node.outputs[1:]
             if value and (graph.consumers(value) or value == graph.output)]
    if extra:
        _fail(node, f"its extra outputs {extra} are used, which convnp's layer does not compute")
    try:
        return CONVERTERS[node.op](graph, node, rank)
    except (TypeError, ValueError) as error:
        if str(error).startswith("from_onnx:"):
            raise
        raise ValueError(f"from_onnx: {node.describe()}: {error}") from None
