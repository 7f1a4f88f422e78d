"""Read an ONNX file as a convnp :class:`~convnp.Sequential` (``cn.interop.from_onnx``).

The graph is walked from its input. A value read by one node continues the chain; a value read by
two nodes opens a residual block: both branches are walked until they meet in an ``Add``, which
becomes ``Residual(*longer branch, shortcut=shorter branch or None)``. Residual blocks nest,
also when several start at the same value (three or more readers).
"""

from __future__ import annotations

import numpy as np

from ..layers import Residual
from ..model.sequential import Sequential
from .onnx_graph import Graph, Node, load_graph
from .onnx_ops import convert
from .onnx_patterns import simplify

MAX_DEPTH = 200  # nested residual blocks


def _is_join(graph: Graph, node: Node) -> bool:
    """An Add of two computed values: where a residual block's branches meet."""
    return node.op == "Add" and len(graph.dynamic_inputs(node)) == 2


def _walk(graph: Graph, value, rank, depth):
    """Convert the chain starting at ``value``; stop at the graph's output or at a join.

    Returns ``(layers, last value, rank, join node or None)``.
    """
    layers = []
    while True:
        users = graph.consumers(value)
        if value == graph.output and not users:
            return layers, value, rank, None
        if len(users) == 1 and _is_join(graph, users[0]):
            return layers, value, rank, users[0]
        if len(users) == 1:
            layer, rank = convert(graph, users[0], rank)
            layers += [layer] if layer is not None else []
            value = users[0].outputs[0]
        elif users:
            block, value, rank = _fork(graph, value, users, rank, depth + 1)
            layers.append(block)
        else:
            raise ValueError(f"from_onnx: value {value!r} is read by no node and is not the "
                             f"graph's output")


def _branch(graph: Graph, start, node: Node, rank, depth):
    """One branch starting at ``node`` (which reads ``start``): (layers, end value, rank, join)."""
    if _is_join(graph, node):
        return [], start, rank, node
    layer, rank = convert(graph, node, rank)
    layers, end, rank, join = _walk(graph, node.outputs[0], rank, depth)
    return ([layer] if layer is not None else []) + layers, end, rank, join


def _meeting(branches, value):
    """Indices of two branches that end in the same Add, as one residual block's branches do."""
    for i, (_, end_i, _, join) in enumerate(branches):
        for j in range(i + 1, len(branches)):
            if join is not None and branches[j][3] is join and sorted(join.inputs) == sorted(
                    [end_i, branches[j][1]]):
                return i, j
    raise ValueError(f"from_onnx: the {len(branches)} branches reading {value!r} do not meet in "
                     f"Adds two by two (as residual blocks' do); convnp cannot represent this graph")


def _residual(join: Node, first, end_first, second, value) -> Residual:
    """``Residual(*longer branch, shortcut=the other)``; on a tie the Add's second operand is
    the block's layers (torch's ``shortcut(x) + layers(x)`` order)."""
    if not first and not second:
        raise ValueError(f"from_onnx: {join.describe()} adds {value!r} to itself; not a residual block")
    if len(first) < len(second) or (len(first) == len(second) and join.inputs[0] == end_first):
        first, second = second, first
    shortcut = None if not second else second[0] if len(second) == 1 else Sequential(*second)
    return Residual(*first, shortcut=shortcut)


def _fork(graph: Graph, value, users, rank, depth):
    """The residual block opened at ``value``: (Residual, the Add's output, rank after it).

    More than two readers mean nested blocks that start at the same value: the two branches
    meeting first make the inner block, which then continues as one branch of the outer one.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"from_onnx: residual blocks nest deeper than {MAX_DEPTH}")
    branches = [_branch(graph, value, user, rank, depth) for user in users]
    while True:
        i, j = _meeting(branches, value)
        (first, end_first, rank, join), (second, _, _, _) = branches[i], branches[j]
        block = _residual(join, first, end_first, second, value)
        rest = [branch for k, branch in enumerate(branches) if k not in (i, j)]
        if not rest:
            return block, join.outputs[0], rank
        layers, end, rank, after = _walk(graph, join.outputs[0], rank, depth)
        branches = [*rest, ([block, *layers], end, rank, after)]


def _check_shapes(model: Sequential, graph: Graph, path) -> None:
    """Run one zero image through the model; its output shape must be the graph's."""
    if None in graph.input_shape:
        return
    try:
        out = model.predict(np.zeros((1, *graph.input_shape), dtype=graph.dtype))
    except ValueError as error:
        raise ValueError(f"from_onnx: {path}: the converted model fails on inputs of shape "
                         f"{graph.input_shape}: {error}") from None
    expected = graph.shapes.get(graph.output)
    if expected and len(expected) == out.ndim and any(
            e is not None and e != o for e, o in zip(expected[1:], out.shape[1:], strict=True)):
        raise ValueError(f"from_onnx: {path}: the converted model gives outputs of shape "
                         f"{out.shape[1:]}, the graph says {expected[1:]}")


def from_onnx(path) -> Sequential:
    """Read the ONNX file at ``path`` as a convnp model with the same weights and function.

    Reads what ``torch.onnx.export`` writes (the dynamo exporter and ``dynamo=False``) for
    sequential and residual CNNs, and what :func:`to_onnx` writes: Conv (BatchNorm folded into
    it included), Relu, LeakyRelu, Sigmoid, Tanh, Elu, Selu, Softplus (and torch's
    Softplus-Greater-Where pattern), Softmax, MaxPool, AveragePool, GlobalAveragePool and
    ReduceMean over (H, W), Flatten and Reshape to (N, -1) (also ``x.view(x.size(0), -1)``'s
    Shape-Gather-Unsqueeze-Concat form), Gemm and MatMul+Add,
    BatchNormalization, Add of two branches (→ :class:`~convnp.Residual`), Identity, Dropout and
    Constant. Weights are mapped by each node's input position, never by initializer name.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Sequential
        In training mode like a newly built model, in the graph's dtype (float32 or float64);
        ``metadata['input_shape']`` holds (C, H, W) when the file fixes them, and
        ``metadata['classes']`` the class names that :func:`to_onnx` saved. It trains, saves and
        explains like any convnp model.

    Raises
    ------
    ImportError
        Without the ``onnx`` package (``pip install 'convnp[onnx]'``).
    FileNotFoundError
        When ``path`` cannot be opened.
    ValueError
        For a corrupt or truncated file, or a graph convnp cannot represent: an unsupported op
        (the message names the op type and the node), asymmetric padding, grouped or dilated
        convolution, ceil-mode pooling that changes the output size, …
    """
    graph = simplify(load_graph(path))
    layers, _, _, join = _walk(graph, graph.input, 4, 0)
    if join is not None:
        raise ValueError(f"from_onnx: {join.describe()} adds values that do not fork from one value")
    if not layers:
        raise ValueError(f"from_onnx: {path}: the graph has no layers convnp can run")
    model = Sequential(*layers)
    if None not in graph.input_shape:
        model.metadata["input_shape"] = [int(v) for v in graph.input_shape]
    model.metadata.update(graph.metadata)
    _check_shapes(model, graph, path)
    return model.train()
