"""Import from PyTorch: a convnp model with the same function and weights as a ``torch.nn`` module.

Modules map one to one (so ``state_dict`` keys usually stay the same, and
``from_torch(to_torch(model))`` gives ``model`` back). A module it does not know can still be
read through an ONNX export when ``input_shape`` is given (see :func:`from_torch`).
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np

from .. import layers as L
from ..model.sequential import Sequential
from ._deps import require_torch


class _Unsupported(ValueError):
    """A module with no convnp counterpart, with its dotted path in the model."""


def _dtype(module):
    tensors = [*module.parameters(), *module.buffers()]
    floats = [t for t in tensors if t.is_floating_point()]
    return np.float64 if floats and str(floats[0].dtype) == "torch.float64" else np.float32


def _load(layer, module, names):
    state = {name: getattr(module, name).detach().cpu().numpy() for name in names
             if getattr(module, name, None) is not None}
    layer.load_state_dict(state, strict=False)
    return layer


def _refuse(module, path, why):
    raise _Unsupported(f"from_torch: module {path or '(top level)'} ({type(module).__name__}) {why}")


def _conv(m, path):
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros":
        _refuse(m, path, "uses groups, dilation or non-zero padding, which convnp's Conv2d lacks")
    padding = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    layer = L.Conv2d(m.in_channels, m.out_channels, tuple(m.kernel_size), tuple(m.stride), padding,
                     bias=m.bias is not None, dtype=_dtype(m))
    return _load(layer, m, ("weight", "bias"))


def _batch_norm(m, path, kind):
    if not (m.affine and m.track_running_stats):
        _refuse(m, path, "needs affine=True and track_running_stats=True")
    layer = kind(m.num_features, m.eps, m.momentum, dtype=_dtype(m))
    return _load(layer, m, ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))


def _pool(m, path, kind):
    dilation = getattr(m, "dilation", 1)
    if m.ceil_mode or getattr(m, "return_indices", False) or dilation not in (1, (1, 1)):
        _refuse(m, path, "uses ceil_mode, return_indices or dilation, which convnp's pools lack")
    if kind is L.AvgPool2d and (m.divisor_override or (not m.count_include_pad and m.padding)):
        _refuse(m, path, "uses divisor_override or count_include_pad=False with padding")
    return kind(m.kernel_size, m.stride or m.kernel_size, m.padding)


def _leaf(nn, m, path):
    """The convnp layer for one non-container module."""
    plain = {nn.ReLU: L.ReLU, nn.Sigmoid: L.Sigmoid, nn.Tanh: L.Tanh, nn.SELU: L.SELU}
    if type(m) in plain:
        return plain[type(m)]()
    table = {
        nn.Conv2d: lambda: _conv(m, path),
        nn.Linear: lambda: _load(L.Linear(m.in_features, m.out_features, m.bias is not None,
                                          dtype=_dtype(m)), m, ("weight", "bias")),
        nn.BatchNorm2d: lambda: _batch_norm(m, path, L.BatchNorm2d),
        nn.BatchNorm1d: lambda: _batch_norm(m, path, L.BatchNorm1d),
        nn.MaxPool2d: lambda: _pool(m, path, L.MaxPool2d),
        nn.AvgPool2d: lambda: _pool(m, path, L.AvgPool2d),
        nn.LeakyReLU: lambda: L.LeakyReLU(m.negative_slope),
        nn.ELU: lambda: L.ELU(m.alpha),
        nn.Softplus: lambda: L.Softplus(m.beta, m.threshold),
        nn.Softmax: lambda: L.Softmax(1 if m.dim is None else m.dim),
        nn.Dropout: lambda: L.Dropout(m.p),
        nn.Flatten: lambda: L.Flatten() if (m.start_dim, m.end_dim) == (1, -1) else _refuse(
            m, path, "flattens other dimensions than 1…-1"),
    }
    if type(m) not in table:
        _refuse(m, path, "has no convnp counterpart")
    return table[type(m)]()


def _global_pool(nn, modules, index) -> bool:
    """Whether ``modules[index:index + 2]`` is AdaptiveAvgPool2d(1) → Flatten (= GlobalAvgPool2d)."""
    pair = modules[index:index + 2]
    return (len(pair) == 2 and isinstance(pair[0], nn.AdaptiveAvgPool2d)
            and pair[0].output_size in (1, (1, 1)) and isinstance(pair[1], nn.Flatten)
            and (pair[1].start_dim, pair[1].end_dim) == (1, -1))


def _children(nn, module, path) -> list:
    """The convnp layers for an ``nn.Sequential``'s children, in order."""
    modules, layers = list(module), []
    for index, child in enumerate(modules):
        if _global_pool(nn, modules, index):  # the Flatten after it stays (identity on (N, C)),
            layers.append(L.GlobalAvgPool2d())  # so later layers keep torch's indices
        elif not isinstance(child, nn.Identity):
            layers.append(_convert(nn, child, f"{path}{'.' if path else ''}{index}"))
    return layers


def _convert(nn, module, path):
    """The convnp layer (or Sequential / Residual) for ``module``."""
    if isinstance(module, nn.Sequential):
        if _global_pool(nn, list(module), 0) and len(module) == 2:
            return L.GlobalAvgPool2d()
        return Sequential(*_children(nn, module, path))
    if hasattr(module, "layers") and hasattr(module, "shortcut") and isinstance(module.layers, nn.Module):
        inner = module.layers
        layers = _children(nn, inner, f"{path}.layers") if isinstance(inner, nn.Sequential) else [
            _convert(nn, inner, f"{path}.layers")]
        shortcut = module.shortcut
        return L.Residual(*layers, shortcut=None if shortcut is None or isinstance(shortcut, nn.Identity)
                          else _convert(nn, shortcut, f"{path}.shortcut"))
    return _leaf(nn, module, path)


def _through_onnx(torch, module, input_shape) -> Sequential:
    """Export ``module`` (eval mode) with ``torch.onnx.export(dynamo=False)`` and read the file."""
    from .onnx_import import from_onnx

    training = module.training
    example = torch.zeros((1, *input_shape), dtype=next(module.parameters()).dtype)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(folder, "module.onnx")
        try:
            torch.onnx.export(module.eval(), (example,), path, dynamo=False, input_names=["input"],
                              dynamic_axes={"input": {0: "batch"}})
        except Exception as error:  # torch's own errors: tracing, unsupported operators, shapes
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"from_torch: exporting {type(module).__name__} to ONNX for inputs "
                             f"(N, {', '.join(map(str, input_shape))}) failed: {first}") from None
        finally:
            module.train(training)
        model = from_onnx(path)
    return model.train(training)


def _image_shape(shape) -> tuple:
    ok = isinstance(shape, (tuple, list)) and len(shape) == 3 and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    if not ok:
        raise ValueError(f"from_torch: input_shape must be (C, H, W) of positive ints, got {shape!r}")
    return tuple(shape)


def from_torch(module, *, input_shape=None) -> Sequential:
    """Return a convnp model computing what ``module`` computes, with its weights.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested ones included) of the layers convnp has: Conv2d (no groups,
        no dilation), Linear, BatchNorm1d/2d, MaxPool2d, AvgPool2d, ``AdaptiveAvgPool2d(1)`` →
        ``Flatten`` (→ GlobalAvgPool2d), Flatten, Dropout, Identity and every activation of
        convnp; and residual blocks written the usual way: a module with attributes ``layers``
        and ``shortcut`` (None or a module) computing ``shortcut(x) + layers(x)`` (what
        :func:`to_torch` builds).
    input_shape : (C, H, W), optional
        When given, a module not recognised above (e.g. a residual block with other attribute
        names and its own ``forward``) is read through an ONNX export instead (needs onnx);
        the layers are then numbered 0, 1, … rather than named like the module's.

    Returns
    -------
    Sequential
        Same dtype as the module's parameters, in the module's training/eval mode.

    Raises
    ------
    ValueError
        Naming the first module with no convnp counterpart (and ``input_shape`` not given).
    """
    torch = require_torch("from_torch")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    if input_shape is not None:
        input_shape = _image_shape(input_shape)
    try:
        converted = _convert(torch.nn, module, "")
    except _Unsupported as error:
        if input_shape is None:
            raise ValueError(f"{error}; pass input_shape=(C, H, W) to read it through an ONNX "
                             f"export instead") from None
        return _through_onnx(torch, module, input_shape)
    model = converted if isinstance(converted, Sequential) else Sequential(converted)
    return model.train(module.training)
