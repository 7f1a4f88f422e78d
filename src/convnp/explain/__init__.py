"""Animations of what convnp computes, with real numbers (needs the ``viz`` extra for drawing).

Each animation is two parts: a pure function that computes the list of frame *states* with
:mod:`convnp.functional` (so the last frame shows exactly the library's arrays), and a renderer
that draws them into a GIF (matplotlib's ``PillowWriter``) plus a PNG of the last frame:

- ``conv-forward``: :func:`conv_forward_frames`, :func:`render_conv_forward`
- ``conv-backward``: :func:`conv_backward_frames`, :func:`render_conv_backward`
- ``pool``: :func:`pool_frames`, :func:`render_pool`
- ``im2col``: :func:`im2col_frames`, :func:`render_im2col`
- ``training``: :class:`KernelSnapshots` (a Callback), :func:`record_training`, :func:`render_training`

``animate(name, out_dir, ...)`` does both from simple options (as ``convnp explain`` does).
"""

from .animations import DEFAULTS, NAMES, animate, frame_count, make, resolve
from .conv_backward import conv_backward_frames
from .conv_backward_render import render_conv_backward
from .conv_forward import conv_forward_frames, render_conv_forward
from .im2col import im2col_frames
from .im2col_render import render_im2col
from .inputs import example_gradient, example_input, example_kernel, frame_positions, mnist_crop
from .pool import pool_frames
from .pool_render import render_pool
from .training import KernelSnapshots, record_training, small_cnn
from .training_render import render_training

__all__ = [
    "NAMES",
    "DEFAULTS",
    "animate",
    "make",
    "frame_count",
    "resolve",
    "conv_forward_frames",
    "render_conv_forward",
    "conv_backward_frames",
    "render_conv_backward",
    "pool_frames",
    "render_pool",
    "im2col_frames",
    "render_im2col",
    "KernelSnapshots",
    "record_training",
    "small_cnn",
    "render_training",
    "example_input",
    "example_kernel",
    "example_gradient",
    "mnist_crop",
    "frame_positions",
]
