"""Fuse the multi-node patterns exporters write for one torch layer into one node.

After these rewrites every node left is one convnp layer (or nothing, or a residual Add):

- ``Identity`` of a constant → the constant itself (the dynamo exporter shares equal
  initializers under one name; ``dynamo=False`` aliases them with Identity nodes).
- torch's Softplus: ``s = x*beta`` (left out when beta is 1), ``Softplus(s)``, ``/ beta``, then
  ``Where(s > threshold, x, …)`` → one ``Softplus`` node with ``beta`` and ``threshold``
  (without the Where, as ``dynamo=False`` writes it, the threshold is torch's default 20).
- ``MatMul(x, W)`` [``+ b``] → ``Gemm`` (weights (in, out), so ``transB=0``).
- ``x.view(x.size(0), -1)``: Shape → Gather → Unsqueeze → Concat → Reshape → ``Flatten``.
- ``GlobalAveragePool`` or ``ReduceMean`` over (H, W), then a flatten to (N, -1) →
  ``GlobalAvgPool2d`` (convnp's layer outputs (N, C) directly).
"""

from __future__ import annotations

import numpy as np

from .onnx_graph import Graph, Node


def _scalar(graph: Graph, value):
    """The float held by constant ``value`` when it is a one-element array, else None."""
    array = graph.consts.get(value)
    return float(array.reshape(-1)[0]) if array is not None and array.size == 1 else None


def _only_user(graph: Graph, value, op=None):
    """The single node reading ``value`` (of type ``op`` if given), else None."""
    users = graph.consumers(value)
    if len(users) == 1 and value != graph.output and (op is None or users[0].op == op):
        return users[0]
    return None


def _replace(graph: Graph, old: list, new: Node) -> None:
    """Put ``new`` where the first of ``old`` was and drop all of ``old``."""
    at = min(graph.nodes.index(node) for node in old)
    graph.nodes[at:at] = [new]
    drop = {id(node) for node in old}
    graph.nodes[:] = [node for node in graph.nodes if id(node) not in drop]
    graph.changed()


def fold_identities(graph: Graph) -> None:
    """Replace Identity nodes that copy a constant by the constant."""
    for node in list(graph.nodes):
        if node.op == "Identity" and node.inputs and node.inputs[0] in graph.consts:
            graph.consts[node.outputs[0]] = graph.consts[node.inputs[0]]
            graph.nodes.remove(node)
            graph.changed()


def _scaled_input(graph: Graph, scaled):
    """For ``scaled`` = Mul(x, beta) with a constant beta: (x, beta, Mul node); else (scaled, 1, None)."""
    node = graph.producer(scaled)
    if node is not None and node.op == "Mul" and len(graph.dynamic_inputs(node)) == 1:
        x = graph.dynamic_inputs(node)[0]
        beta = _scalar(graph, node.inputs[1] if node.inputs[0] == x else node.inputs[0])
        if beta is not None:
            return x, beta, node
    return scaled, 1.0, None


def _unscaled(graph: Graph, softplus: Node, beta: float):
    """The node dividing ``softplus``'s output by ``beta`` (Div by beta or Mul by 1/beta), or None."""
    node = _only_user(graph, softplus.outputs[0])
    if node is None or node.op not in ("Div", "Mul") or node.inputs[0] != softplus.outputs[0]:
        return None
    factor = _scalar(graph, node.inputs[1])
    if factor is None:
        return None
    divisor = factor if node.op == "Div" else 1.0 / factor if factor else 0.0
    return node if np.isclose(divisor, beta, rtol=1e-6) else None


def fuse_softplus(graph: Graph) -> None:
    """Fuse torch's Softplus(beta, threshold) patterns into single ``Softplus`` nodes."""
    for softplus in [node for node in graph.nodes if node.op == "Softplus"]:
        x, beta, mul = _scaled_input(graph, softplus.inputs[0])
        part = [mul] if mul is not None else []
        smooth = softplus if beta == 1.0 else _unscaled(graph, softplus, beta)
        if smooth is None:
            continue  # not torch's pattern: left as a plain Softplus node (beta 1)
        if smooth is not softplus:
            part.append(smooth)
        where, greater = _threshold(graph, smooth.outputs[0], softplus.inputs[0], x)
        part += [softplus] + ([greater, where] if where is not None else [])
        threshold = _scalar(graph, greater.inputs[1]) if where is not None else 20.0
        last = where if where is not None else smooth
        if not _self_contained(graph, part, last):
            continue
        _replace(graph, part, Node("Softplus", softplus.name, [x], list(last.outputs),
                                   {"beta": beta, "threshold": threshold}))


def _self_contained(graph: Graph, part: list, last: Node) -> bool:
    """Whether only ``part``'s own nodes read what its nodes other than ``last`` compute."""
    inside = {id(node) for node in part}
    return all(id(user) in inside for node in part if node is not last
               for value in node.outputs for user in graph.consumers(value))


def _threshold(graph: Graph, smooth, scaled, x):
    """The ``Where(Greater(scaled, t), x, smooth)`` pair after a softplus, or (None, None)."""
    where = _only_user(graph, smooth, "Where")
    if where is None or where.inputs[1:] != [x, smooth]:
        return None, None
    greater = graph.producer(where.inputs[0])
    if (greater is None or greater.op != "Greater" or greater.inputs[0] != scaled
            or _scalar(graph, greater.inputs[1]) is None or _only_user(graph, greater.outputs[0]) is None):
        return None, None
    return where, greater


def fuse_matmul(graph: Graph) -> None:
    """``MatMul(x, W)`` and an optional ``Add(·, b)`` of constants → ``Gemm`` (``transB=0``)."""
    for matmul in [node for node in graph.nodes if node.op == "MatMul"]:
        if len(matmul.inputs) != 2 or matmul.inputs[1] not in graph.consts:
            continue  # the Gemm converter would not apply: left for a clear "unsupported" error
        add = _only_user(graph, matmul.outputs[0], "Add")
        bias = None
        if add is not None:
            other = add.inputs[1] if add.inputs[0] == matmul.outputs[0] else add.inputs[0]
            bias = other if other in graph.consts else None
        inputs = [*matmul.inputs, *([bias] if bias else [])]
        old, outputs = ([matmul, add], add.outputs) if bias else ([matmul], matmul.outputs)
        _replace(graph, old, Node("Gemm", matmul.name, inputs, list(outputs), {"transB": 0}))


def _made_by(graph: Graph, value, op):
    """The node of type ``op`` computing ``value``, if that is what computes it."""
    node = graph.producer(value)
    return node if node is not None and node.op == op else None


def _batch_then_minus_one(graph: Graph, shape_value, x):
    """The nodes computing ``[x.shape[0], -1]`` as ``x.view(x.size(0), -1)`` exports, or None.

    That is ``Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])`` (what ``dynamo=False`` writes for a
    dynamic batch).
    """
    concat = _made_by(graph, shape_value, "Concat")
    if concat is None or len(concat.inputs) != 2 or _scalar(graph, concat.inputs[1]) != -1:
        return None
    unsqueeze = _made_by(graph, concat.inputs[0], "Unsqueeze")
    gather = unsqueeze and _made_by(graph, unsqueeze.inputs[0], "Gather")
    shape = gather and _made_by(graph, gather.inputs[0], "Shape")
    if not shape or shape.inputs[0] != x or shape.attrs.get("start", 0) != 0 or gather.attrs.get("axis", 0):
        return None
    axes = unsqueeze.attrs.get("axes") or _scalar(graph, (unsqueeze.inputs + [""])[1])
    if _scalar(graph, gather.inputs[1]) != 0 or axes not in ([0], 0):
        return None
    return [shape, gather, unsqueeze, concat]


def fuse_view_flatten(graph: Graph) -> None:
    """``Reshape(x, [x.shape[0], -1])`` computed in the graph → ``Flatten``."""
    for reshape in [node for node in graph.nodes if node.op == "Reshape"]:
        if len(reshape.inputs) < 2 or reshape.inputs[1] in graph.consts:
            continue
        part = _batch_then_minus_one(graph, reshape.inputs[1], reshape.inputs[0])
        if part is not None and _self_contained(graph, [*part, reshape], reshape):
            _replace(graph, [*part, reshape], Node("Flatten", reshape.name, [reshape.inputs[0]],
                                                   list(reshape.outputs), {"axis": 1}))


def flattens(graph: Graph, node: Node) -> bool:
    """Whether ``node`` reshapes (N, …) to (N, prod(…)): Flatten(axis=1) or Reshape to (N, -1),
    (-1, prod(…)) or, for a batch size fixed in the graph, (N, prod(…))."""
    if node.op == "Flatten":
        return node.attrs.get("axis", 1) == 1
    if node.op != "Reshape" or len(node.inputs) < 2 or node.inputs[1] not in graph.consts:
        return False
    shape = graph.consts[node.inputs[1]].reshape(-1).tolist()
    if len(shape) != 2 or node.attrs.get("allowzero", 0) and 0 in shape:
        return False
    if shape[1] == -1:  # (0 or N or -1, -1): keep the batch, flatten the rest
        return shape[0] != -1
    known = graph.shapes.get(node.inputs[0])
    features = int(np.prod(known[1:])) if known and None not in known[1:] else None
    if known and known[0] is not None and shape == [known[0], features]:
        return True  # (N, features) for the batch size fixed at export: convnp takes any batch
    return shape[0] in (-1, 0) and shape[1] > 0 and features in (None, shape[1])


def _spatial_mean(graph: Graph, node: Node):
    """For a mean over (H, W) of an (N, C, H, W) value: whether it keeps dims; None if not one."""
    if node.op == "GlobalAveragePool":
        return True
    if node.op != "ReduceMean":
        return None
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1] in graph.consts:
        axes = graph.consts[node.inputs[1]].reshape(-1).tolist()
    if axes is None or sorted(int(a) % 4 for a in axes) != [2, 3]:
        return None
    return bool(node.attrs.get("keepdims", 1))


def fuse_global_pool(graph: Graph) -> None:
    """A mean over (H, W) followed by a flatten (or not keeping dims) → ``GlobalAvgPool2d``."""
    for node in list(graph.nodes):
        keeps = _spatial_mean(graph, node)
        if keeps is None:
            continue
        flatten = _only_user(graph, node.outputs[0]) if keeps else None
        if keeps and (flatten is None or not flattens(graph, flatten)):
            continue  # left alone: the converter makes it an AvgPool2d over the whole image
        old = [node, flatten] if keeps else [node]
        _replace(graph, old, Node("GlobalAvgPool2d", node.name, [node.inputs[0]], list(old[-1].outputs)))


def simplify(graph: Graph) -> Graph:
    """Apply every fusion above, in an order where each sees the previous one's result."""
    fold_identities(graph)
    fuse_softplus(graph)
    fuse_matmul(graph)
    fuse_view_flatten(graph)
    fuse_global_pool(graph)
    return graph
