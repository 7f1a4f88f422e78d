"""Export a convnp model as an ONNX file that onnxruntime (and phones, browsers…) can run.

Every built-in layer maps to standard ONNX operators (default domain, opset 13 or later):

==================  ====================================================================
convnp              ONNX
==================  ====================================================================
Conv2d              Conv (``'same'`` written as explicit pads [top, left, bottom, right])
Linear              Gemm with ``transB=1`` (ONNX's default is 0; torch stores (out, in))
MaxPool2d           MaxPool (``ceil_mode=0``)
AvgPool2d           AveragePool with ``count_include_pad=1`` (ONNX's default is 0)
GlobalAvgPool2d     GlobalAveragePool → Flatten
Flatten             Flatten (``axis=1``)
BatchNorm1d/2d      BatchNormalization in inference mode (running statistics)
Dropout             Identity (dropout does nothing at inference)
Residual            the branch's nodes and the shortcut's (or the input), then Add
activations         Relu, LeakyRelu, Sigmoid, Tanh, Elu, Selu, Softmax (axis written out);
                    Softplus(beta, threshold) as torch writes it: Mul → Softplus → Div,
                    and Greater → Where for the linear region
==================  ====================================================================

The graph is float32 with a dynamic batch dimension named ``batch``; initializers are named
like the model's ``state_dict`` keys.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .. import layers as L
from .._io import atomic_write
from ..layers.container import Chain
from ..model.sequential import Sequential
from ._deps import require_onnx

MIN_OPSET = 13  # per-axis Softmax, ReduceMean-free graph: every op used here has this form since 13
SELU_ALPHA, SELU_GAMMA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


class _GraphWriter:
    """Collects ONNX nodes and initializers while the layers are walked in order."""

    def __init__(self, onnx):
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.nodes, self.initializers = [], []

    def const(self, name, array) -> str:
        """Add a float32 initializer called ``name`` and return the name."""
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op, inputs, name, **attributes) -> str:
        """Add one node ``name`` (e.g. ``"/3/Conv"``) and return its output's name."""
        output = f"{name}_output"
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=name, **attributes))
        return output


def _pads(padding, kernel) -> list[int]:
    """convnp padding → ONNX ``pads`` [top, left, bottom, right]."""
    if padding == "same":  # stride 1: k - 1 in all, the smaller half first (torch's choice)
        top, left = (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
        return [top, left, kernel[0] - 1 - top, kernel[1] - 1 - left]
    if padding == "valid":
        return [0, 0, 0, 0]
    return [int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])]


def _conv(w, layer, x, name, key):
    inputs = [x, w.const(key + "weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(w.const(key + "bias", layer.bias.data))
    return w.node("Conv", inputs, name + "/Conv", kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=_pads(layer.padding, layer.kernel_size),
                  dilations=[1, 1], group=1)


def _linear(w, layer, x, name, key):
    inputs = [x, w.const(key + "weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(w.const(key + "bias", layer.bias.data))
    return w.node("Gemm", inputs, name + "/Gemm", alpha=1.0, beta=1.0, transA=0, transB=1)


def _batch_norm(w, layer, x, name, key):
    inputs = [x] + [w.const(key + part, array) for part, array in
                    (("weight", layer.weight.data), ("bias", layer.bias.data),
                     ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    extra = {} if layer.momentum is None else {"momentum": 1.0 - layer.momentum}  # ONNX keeps, torch adds
    return w.node("BatchNormalization", inputs, name + "/BatchNormalization", epsilon=layer.eps, **extra)


def _pool(w, layer, x, name, key):
    op = "MaxPool" if isinstance(layer, L.MaxPool2d) else "AveragePool"
    extra = {} if op == "MaxPool" else {"count_include_pad": 1}  # convnp counts the zeros, as torch
    return w.node(op, [x], f"{name}/{op}", kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=_pads(layer.padding, layer.kernel_size),
                  ceil_mode=0, **extra)


def _softplus(w, layer, x, name, key):
    """torch's form: ``where(beta*x > threshold, x, softplus(beta*x) / beta)``."""
    scaled, smooth = x, None
    if layer.beta != 1.0:
        beta = w.const(key + "beta", layer.beta)
        scaled = w.node("Mul", [x, beta], name + "/Mul")
        smooth = w.node("Div", [w.node("Softplus", [scaled], name + "/Softplus"), beta], name + "/Div")
    else:
        smooth = w.node("Softplus", [scaled], name + "/Softplus")
    linear = w.node("Greater", [scaled, w.const(key + "threshold", layer.threshold)], name + "/Greater")
    return w.node("Where", [linear, x, smooth], name + "/Where")


def _residual(w, layer, x, name, key):
    out = _layers(w, layer.layers, x, f"{name}/layers", key + "layers.")
    skip = x if layer.shortcut is None else _layer(w, layer.shortcut, x, f"{name}/shortcut",
                                                    key + "shortcut.")
    return w.node("Add", [skip, out], name + "/Add")


def _global_pool(w, layer, x, name, key):
    pooled = w.node("GlobalAveragePool", [x], name + "/GlobalAveragePool")
    return w.node("Flatten", [pooled], name + "/Flatten", axis=1)


_SIMPLE = {L.ReLU: "Relu", L.Sigmoid: "Sigmoid", L.Tanh: "Tanh", L.Dropout: "Identity"}
_EMITTERS = {L.Conv2d: _conv, L.Linear: _linear, L.BatchNorm1d: _batch_norm, L.BatchNorm2d: _batch_norm,
             L.MaxPool2d: _pool, L.AvgPool2d: _pool, L.Softplus: _softplus, L.Residual: _residual,
             L.GlobalAvgPool2d: _global_pool}


def _layer(w, layer, x, name, key) -> str:
    """Write the nodes of one layer reading value ``x``; return the name of its output value."""
    kind = type(layer)
    if isinstance(layer, Chain):  # a Sequential, or a list of layers such as a Residual's shortcut
        return _layers(w, layer.layers, x, name, key)
    if kind in _EMITTERS:
        return _EMITTERS[kind](w, layer, x, name, key)
    if kind in _SIMPLE:
        return w.node(_SIMPLE[kind], [x], f"{name}/{_SIMPLE[kind]}")
    attributes = {L.LeakyReLU: ("LeakyRelu", lambda: {"alpha": layer.negative_slope}),
                  L.ELU: ("Elu", lambda: {"alpha": layer.alpha}),
                  L.SELU: ("Selu", lambda: {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}),
                  L.Softmax: ("Softmax", lambda: {"axis": layer.dim}),
                  L.Flatten: ("Flatten", lambda: {"axis": 1})}
    if kind not in attributes:
        raise TypeError(f"to_onnx: no ONNX form known for layer {layer!r} ({kind.__name__})")
    op, values = attributes[kind]
    return w.node(op, [x], f"{name}/{op}", **values())


def _layers(w, layers, x, name, key) -> str:
    for index, layer in enumerate(layers):
        x = _layer(w, layer, x, f"{name}/{index}", f"{key}{index}.")
    return x


def _positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def _input_shape(model, input_shape) -> tuple[int, int, int]:
    """The (C, H, W) to export for: the argument, else ``model.metadata['input_shape']``."""
    shape = input_shape if input_shape is not None else model.metadata.get("input_shape")
    if shape is None:
        raise ValueError("to_onnx: the model does not record its input shape; pass "
                         "input_shape=(C, H, W)")
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(map(_positive_int, shape)):
        raise ValueError(f"to_onnx: input_shape must be (C, H, W) of positive ints, got {shape!r}")
    return tuple(int(v) for v in shape)


def _model_dtype(model):
    arrays = list(model.state_dict().values())
    dtype = arrays[0].dtype if arrays else np.dtype(np.float32)
    if dtype == np.float64:
        warnings.warn("to_onnx: the model is float64; its weights are cast to float32 in the ONNX "
                      "file (outputs agree to float32 precision)", stacklevel=3)
    return dtype


def _check_opset(onnx, opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if not _positive_int(opset) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int from {MIN_OPSET} to {newest} (this onnx "
                         f"package's newest), got {opset!r}")
    return int(opset)


def _build_proto(onnx, model, shape, opset, output_shape):
    """The ModelProto: graph, dynamic batch input/output, opset, IR version, metadata."""
    from .. import __version__  # the package's __init__ imports this module before defining it

    helper, writer = onnx.helper, _GraphWriter(onnx)
    out = _layers(writer, model.layers, "input", "", "")
    for node in writer.nodes:  # the last value is the graph's output, named "output"
        node.output[:] = ["output" if value == out else value for value in node.output]
        node.input[:] = ["output" if value == out else value for value in node.input]
    float32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        writer.nodes, "convnp", [helper.make_tensor_value_info("input", float32, ["batch", *shape])],
        [helper.make_tensor_value_info("output", float32, ["batch", *output_shape])],
        writer.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="convnp",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    metadata = {key: json.dumps(value) for key, value in model.metadata.items()}
    helper.set_model_props(proto, {**metadata, "input_shape": json.dumps(list(shape))})
    return proto


def to_onnx(model, path, *, input_shape=None, opset=17):
    """Write ``model`` as an ONNX file computing what ``model.predict`` computes.

    Parameters
    ----------
    model : Sequential
        Any model of built-in layers; it is exported in evaluation mode (BatchNorm uses its
        running statistics, Dropout is the identity). A float64 model is cast to float32, with
        a warning.
    path : str or Path
        Where to write the ``.onnx`` file (atomically: a failed export leaves no file behind).
    input_shape : (C, H, W), optional
        The image shape; default ``model.metadata['input_shape']`` (set by ``convnp train``).
        The batch dimension is always dynamic.
    opset : int, default 17
        ONNX opset of the default domain (13 or later). The IR version is the oldest that
        carries this opset, so current onnxruntime releases load the file.

    Returns
    -------
    Path
        ``path``. The model passes ``onnx.checker.check_model(..., full_check=True)``.

    Raises
    ------
    ImportError
        Without the ``onnx`` package (``pip install 'convnp[onnx]'``).
    TypeError, ValueError
        For a layer with no ONNX form, a bad ``input_shape`` or ``opset``, or an input shape the
        model cannot take.
    """
    onnx = require_onnx()
    if not isinstance(model, Sequential):
        raise TypeError(f"to_onnx: expected a convnp Sequential model, got {type(model).__name__}")
    shape, opset = _input_shape(model, input_shape), _check_opset(onnx, opset)
    dtype = _model_dtype(model)
    try:
        probe = model.predict(np.zeros((1, *shape), dtype=dtype))
    except ValueError as error:
        raise ValueError(f"to_onnx: the model cannot take inputs of shape {shape}: {error}") from None
    proto = _build_proto(onnx, model, shape, opset, probe.shape[1:])
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    atomic_write(path, lambda file: file.write(data))
    return Path(path)
