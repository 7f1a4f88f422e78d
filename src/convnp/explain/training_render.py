"""Drawing of the training animation (states: :mod:`convnp.explain.training`)."""

from __future__ import annotations

import numpy as np

from ..viz._images import diverging_cmap, grid_shape, mosaic, symmetric_limit
from .render import HEADER, caption, write_animation
from .training import KernelSnapshots, TrainingFrame


def _draw(figure, snapshots: KernelSnapshots, frame: TrainingFrame, limits):
    width, height = figure.get_size_inches()
    top = 1 - HEADER / height
    panels = [figure.add_axes(rect) for rect in ((0.03, 0.1, 0.17, top - 0.2), (0.23, 0.1, 0.22, top - 0.2),
                                                 (0.49, 0.1, 0.26, top - 0.2), (0.8, 0.18, 0.18, top - 0.3))]
    probe, kernels, maps, curve = panels
    probe.imshow(snapshots.probe[0, 0], cmap="gray", interpolation="nearest")
    probe.set_title("probe image", fontsize=9)
    count = len(frame.weight)
    rows, columns = grid_shape(count, max_columns=3)
    kernels.imshow(mosaic(frame.weight[:, 0], rows, columns), cmap=diverging_cmap(), vmin=-limits[0],
                   vmax=limits[0], interpolation="nearest")
    kernels.set_title(f"{count} first-conv kernels, each {tuple(frame.weight.shape[1:])}\n"
                      f"scale ±{limits[0]:.2f}", fontsize=9)
    maps.imshow(mosaic(frame.feature_maps, rows, columns), cmap=diverging_cmap(), vmin=-limits[1],
                vmax=limits[1], interpolation="nearest")
    maps.set_title(f"their feature maps on the probe\nscale ±{limits[1]:.2f}", fontsize=9)
    for axes in (probe, kernels, maps):
        axes.set_axis_off()
    losses = snapshots.losses
    curve.plot(np.arange(1, len(losses) + 1), losses, color="0.8", linewidth=1)
    curve.plot(np.arange(1, frame.step + 1), losses[:frame.step], color="tab:blue", linewidth=1.2)
    curve.set(xlabel="batch", title="batch loss")
    curve.title.set_fontsize(9)
    curve.tick_params(labelsize=7)
    loss = "" if frame.loss is None else f", batch loss {frame.loss:.3f}"
    caption(figure, [f"training: after {frame.step} batches (epoch {frame.epoch + 1}){loss}",
                     "red: positive weights/activations, blue: negative; same scale in every frame"])


def render_training(snapshots: KernelSnapshots, path, fps=4, dpi=80):
    """Write the snapshots as a GIF at ``path`` and the last one as a PNG beside it."""
    limits = (symmetric_limit([f.weight for f in snapshots.frames]),
              symmetric_limit([f.feature_maps for f in snapshots.frames]))
    return write_animation(snapshots.frames, lambda figure, frame: _draw(figure, snapshots, frame, limits),
                           (11.0, 4.2), path, fps, dpi)
