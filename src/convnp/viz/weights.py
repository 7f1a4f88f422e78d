"""What a network has learned: its convolution filters and the feature maps they produce (PNG)."""

from __future__ import annotations

import numpy as np

from ..layers import Conv2d
from ._figure import new_figure, save
from ._images import (
    diverging_cmap,
    grid_shape,
    image_for_display,
    mosaic,
    sequential_cmap,
    symmetric_limit,
)


def find_conv(model) -> Conv2d | None:
    """The first :class:`~convnp.Conv2d` in ``model`` (searched depth-first), or None."""
    if isinstance(model, Conv2d):
        return model
    for child in model.children().values():
        found = find_conv(child)
        if found is not None:
            return found
    return None


def kernel_mosaic(weight: np.ndarray, rgb: bool) -> tuple[np.ndarray, str]:
    """Tile a filter bank (O, C, KH, KW) into one image; return it and how it is laid out.

    ``rgb``: each filter one colour picture (C = 3), mapped from the shared symmetric scale
    ``[-m, m]`` to ``[0, 1]``. Otherwise a near-square grid of filters for C = 1, or one row per
    filter and one column per input channel.
    """
    out_channels, in_channels = weight.shape[:2]
    if rgb:
        limit = symmetric_limit(weight)
        pictures = (weight.transpose(0, 2, 3, 1) / limit + 1) / 2  # (O, KH, KW, 3) in [0, 1]
        rows, columns = grid_shape(out_channels)
        return mosaic(pictures, rows, columns), "one RGB picture per filter"
    if in_channels == 1:
        rows, columns = grid_shape(out_channels)
        return mosaic(weight[:, 0], rows, columns), "one panel per filter"
    panels = weight.reshape(out_channels * in_channels, *weight.shape[2:])  # (O*C, KH, KW)
    return mosaic(panels, out_channels, in_channels), "rows: filters, columns: input channels"


def plot_kernels(layer, path=None, rgb=None):
    """Every filter of a Conv2d as a grid, on one colour scale symmetric around zero.

    Parameters
    ----------
    layer : Conv2d, a model containing one (its first Conv2d is shown), or ndarray (O, C, KH, KW)
    path : str, optional
        Where to write the PNG.
    rgb : bool, optional
        Show 3-channel filters as colour pictures; default: when C = 3.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(layer, np.ndarray):
        weight, name = layer, "weights"
    else:
        conv = find_conv(layer)
        if conv is None:
            raise ValueError(f"plot_kernels: {type(layer).__name__} has no Conv2d layer to show")
        weight, name = conv.weight.data, repr(conv)
    if weight.ndim != 4:
        raise ValueError(f"plot_kernels: expected weights of shape (O, C, KH, KW), got {weight.shape}")
    rgb = weight.shape[1] == 3 if rgb is None else rgb
    image, layout = kernel_mosaic(np.asarray(weight, dtype=np.float64), rgb)
    limit = symmetric_limit(weight)
    figure = new_figure(1.5 + 5.5 * min(1.0, image.shape[1] / image.shape[0]) + 0.8,
                        1.2 + 5.5 * min(1.0, image.shape[0] / image.shape[1]))
    axes = figure.subplots()
    if rgb:
        axes.imshow(np.nan_to_num(image, nan=1.0), interpolation="nearest")
    else:
        shown = axes.imshow(image, cmap=diverging_cmap(), vmin=-limit, vmax=limit, interpolation="nearest")
        figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04, label="weight")
    axes.set_axis_off()
    axes.set_title(f"{name}: weight shape {tuple(weight.shape)}\n{layout}, "
                   f"shared scale ±{limit:.3g}", fontsize=10)
    if path is not None:
        save(figure, path)
    return figure


def layer_outputs(model, x, indices) -> dict[int, np.ndarray]:
    """Outputs of ``model.layers[i]`` for each index in ``indices`` (None: every 4-D output).

    The model runs in eval mode (dropout off, running statistics) and gets its mode back after.
    """
    was_training = model.training
    model.eval()
    outputs = {}
    try:
        for index, layer in enumerate(model.layers):
            x = layer.forward(x)
            if (indices is None and x.ndim == 4) or (indices is not None and index in indices):
                outputs[index] = x
    finally:
        model.train(was_training)
    return outputs


def plot_feature_maps(model, x, layers=None, path=None, max_maps=16):
    """The activations of chosen layers for one input image, one row of maps per layer.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (C, H, W) or (1, C, H, W)
        One image, of the model's dtype or castable to it.
    layers : sequence of int, optional
        Indices into ``model.layers`` whose outputs to show (default: every layer with a
        4-D output). Outputs that are not 4-D are shown as one row of values.
    path : str, optional
        Where to write the PNG.
    max_maps : int
        Show at most this many channels per layer (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(x)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"plot_feature_maps: expected one image (C, H, W) or (1, C, H, W), got {x.shape}")
    if layers is not None:
        layers = [int(i) for i in layers]
        bad = [i for i in layers if not 0 <= i < len(model.layers)]
        if bad:
            raise ValueError(f"plot_feature_maps: layer indices {bad} out of range "
                             f"0..{len(model.layers) - 1}")
    dtype = model.parameters()[0].dtype if model.parameters() else x.dtype
    outputs = layer_outputs(model, x.astype(dtype, copy=False), layers)
    figure = new_figure(12, 1.4 * (len(outputs) + 1) + 0.3)
    rows = figure.subplots(len(outputs) + 1, 1, squeeze=False)[:, 0]
    image, cmap = image_for_display(x[0])
    rows[0].imshow(image, cmap=cmap, interpolation="nearest")
    rows[0].set_title(f"input {tuple(x.shape[1:])}", fontsize=9)
    rows[0].set_axis_off()
    for axes, (index, output) in zip(rows[1:], outputs.items(), strict=True):
        _draw_activation_row(figure, axes, f"[{index}] {model.layers[index]!r}", output[0], max_maps)
    if path is not None:
        save(figure, path)
    return figure


def _draw_activation_row(figure, axes, name, activation, max_maps):
    """One layer's output (C, H, W) (or a flat vector) as a strip of maps with its own scale."""
    maps = activation[:max_maps] if activation.ndim == 3 else activation.reshape(1, 1, -1)
    strip = mosaic(np.asarray(maps, dtype=np.float64), 1, maps.shape[0])
    signed = np.nanmin(strip) < 0
    limit = symmetric_limit(strip)
    cmap = diverging_cmap() if signed else sequential_cmap()
    shown = axes.imshow(strip, cmap=cmap, vmin=-limit if signed else 0, vmax=limit,
                        interpolation="nearest")
    figure.colorbar(shown, ax=axes, fraction=0.02, pad=0.01)
    more = f", first {maps.shape[0]} of {activation.shape[0]} maps" if activation.shape[0] > maps.shape[0] \
        and activation.ndim == 3 else ""
    axes.set_title(f"{name} → {tuple(activation.shape)}{more}", fontsize=9)
    axes.set_axis_off()
