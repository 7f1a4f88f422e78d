"""What the studio shows, computed with the library's own layers: every top-level layer's output
for one image in eval mode, and the gradient of the cross-entropy with respect to each of them.

The model is walked one top-level layer at a time (``layer.forward(x)``, then
``layer.backward(dy)`` in reverse), so every number is that layer's true output and gradient
whatever the engine fuses or reorders inside :meth:`convnp.Sequential.forward`. The functions
here are pure: the caller holds the model's lock and restores its training flags.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..layers import Conv2d, Residual
from ..losses import CrossEntropyLoss


def layer_name(layer) -> str:
    """A short label such as ``Conv2d(1→8, 5×5)`` or ``MaxPool2d``."""
    if isinstance(layer, Conv2d):
        (kh, kw), (sh, _) = layer.kernel_size, layer.stride
        stride = f", stride {sh}" if sh != 1 else ""
        return f"Conv2d({layer.in_channels}→{layer.out_channels}, {kh}×{kw}{stride})"
    return type(layer).__name__


def conv_geometry(layer) -> dict | None:
    """Kernel size, stride and padding (pixels per side) of a Conv2d, else None."""
    if not isinstance(layer, Conv2d):
        return None
    padding = layer.padding
    if isinstance(padding, str):  # 'valid' or 'same' (stride 1): the amounts the layer uses
        padding = (0, 0) if padding == "valid" else ((layer.kernel_size[0] - 1) // 2,
                                                      (layer.kernel_size[1] - 1) // 2)
    return {"kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
            "padding": [int(padding[0]), int(padding[1])]}


def describe_model(model, input_shape, classes) -> dict:
    """The ``GET /api/model`` answer: input shape, class names, each top-level layer's output shape.

    Shapes come from one eval-mode forward pass of a zero image, layer by layer.
    """
    x = np.zeros((1, *input_shape), dtype=np.float32)
    layers = []
    for index, layer in enumerate(model.layers):
        x = layer.forward(x)
        entry = {"index": index, "name": layer_name(layer), "output_shape": list(x.shape[1:])}
        geometry = conv_geometry(layer)
        if geometry:
            entry["conv"] = geometry
        if isinstance(layer, Residual):
            entry["inner"] = [layer_name(inner) for inner in layer.layers]
        layers.append(entry)
    return {"input_shape": list(input_shape), "classes": list(classes), "layers": layers}


def explain(model, image, target=None) -> dict:
    """Forward one image through every top-level layer, then back-propagate the cross-entropy.

    Parameters
    ----------
    model : Sequential, already in eval mode
    image : ndarray (C, H, W)
    target : int or None
        The class whose cross-entropy is differentiated; None uses the predicted class.

    Returns
    -------
    dict with ``probabilities`` (K,), ``predicted``, ``target``, ``loss``, ``layers`` (each with
    ``activation`` and ``gradient`` of the layer's output shape), ``input_gradient`` (C, H, W),
    ``kernels`` (every 4-D weight with its dW for this image) and ``inner`` (a Residual's branch
    outputs, forward only).
    """
    x = image[None].astype(np.float32)  # (1, C, H, W)
    outputs = []
    for layer in model.layers:
        x = layer.forward(x)
        outputs.append(x)
    logits = outputs[-1].astype(np.float64)  # (1, K)
    probabilities = F.softmax(logits, axis=1)[0]
    predicted = int(np.argmax(probabilities))
    target = predicted if target is None else int(target)
    loss = CrossEntropyLoss()
    value = loss(outputs[-1], np.array([target]))
    dy = loss.backward()
    gradients = [None] * len(model.layers)
    for index in reversed(range(len(model.layers))):
        gradients[index] = dy
        dy = model.layers[index].backward(dy)
    return {
        "probabilities": probabilities.tolist(), "predicted": predicted, "target": target,
        "loss": float(value),
        "layers": [{"index": index, "activation": _nested(out[0]), "gradient": _nested(grad[0])}
                   for index, (out, grad) in enumerate(zip(outputs, gradients, strict=True))],
        "input_gradient": _nested(dy[0]),
        "kernels": kernels(model),
        "inner": _residual_insides(model, image[None].astype(np.float32), outputs),
    }


def kernels(model, names=None) -> list[dict]:
    """Every 4-D weight (a conv kernel bank) with its current gradient, keyed by parameter name."""
    result = []
    for name, param in model.named_parameters().items():
        if param.data.ndim == 4 and (names is None or name in names):
            bias = model.named_parameters().get(name[:-len("weight")] + "bias")
            result.append({"name": name, "layer": int(name.split(".")[0]),
                           "weight": _nested(param.data), "gradient": _nested(param.grad),
                           "bias": None if bias is None else _nested(bias.data)})
    return result


def _residual_insides(model, x, outputs) -> dict:
    """For each top-level Residual: the output of every layer of its branch (eval mode)."""
    inner = {}
    for index, layer in enumerate(model.layers):
        if isinstance(layer, Residual):
            h = x if index == 0 else outputs[index - 1]
            maps = []
            for position, branch_layer in enumerate(layer.layers):
                h = branch_layer.forward(h)
                maps.append({"name": f"layers.{position} {layer_name(branch_layer)}",
                             "activation": _nested(h[0])})
            inner[str(index)] = maps
    return inner


def _nested(array) -> list:
    """An array as nested lists of Python floats (JSON), exact float64 values of the array."""
    return np.asarray(array, dtype=np.float64).tolist()
