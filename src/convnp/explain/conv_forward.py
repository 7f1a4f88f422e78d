"""Animation 1, convolution forward: the kernel slides over the padded input, one output per frame.

Frame state per output position (i, j): the window of the padded input under the kernel, the
elementwise products with the kernel (per input channel) and their sum, which is ``y[i, j]``.
Windows come from :func:`convnp.functional.im2col` and outputs from
:func:`convnp.functional.conv2d_forward`, so the final frame's output map is the library's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .geometry import check_int, mask_until, output_side, pad, so_far, window_origin
from .inputs import frame_positions
from .render import Board, board_size, caption, draw_grid, write_animation

MAX_FRAMES = 36


@dataclass
class ConvForwardFrame:
    """What one frame shows."""

    step: int  # row-major index of the output position
    position: tuple  # (i, j)
    window: np.ndarray  # (C, KH, KW) padded input under the kernel
    products: np.ndarray  # (C, KH, KW) window * kernel
    value: float  # products.sum() == y[i, j]
    output: np.ndarray  # (OH, OW) outputs of positions 0..step, NaN after


@dataclass
class ConvForward:
    """The whole animation: fixed arrays and the frames."""

    x: np.ndarray  # (1, C, H, W)
    weight: np.ndarray  # (1, C, KH, KW)
    stride: int
    padding: int
    padded: np.ndarray  # (C, Hp, Wp)
    output: np.ndarray  # (OH, OW) from conv2d_forward
    frames: list
    first_ink: int = 0  # first output position where the kernel meets ink (frames start there)


def conv_forward_frame_count(size, kernel, stride, padding, max_frames=MAX_FRAMES, skip=0) -> int:
    """One frame per output position from the first that meets ink (``skip`` positions before it
    see only zeros), at most ``max_frames``: ``min(OH*OW - skip, max_frames)``."""
    return min(output_side(size, kernel, stride, padding) ** 2 - skip, max_frames)


def first_ink_step(x, weight, stride=1, padding=0) -> int:
    """The first output position (row-major) where the kernel meets ink: some product of the window
    and the kernel is visible with two decimals (≥ 0.005 in size). 0 if there is none.

    The animation starts there: a window of background zeros (or of zero padding) shows nothing.

    Parameters
    ----------
    x : ndarray (1, C, H, W); weight : ndarray (1, C, KH, KW)
    """
    kh, kw = weight.shape[2:]
    columns = F.im2col(x, kh, kw, stride, padding)  # (OH*OW, C*KH*KW)
    products = np.abs(columns * weight[0].reshape(1, -1))  # (OH*OW, C*KH*KW)
    inked = np.flatnonzero(np.any(products >= 0.005, axis=1))
    return int(inked[0]) if inked.size else 0


def conv_forward_frames(x, weight, stride=1, padding=0, max_frames=MAX_FRAMES) -> ConvForward:
    """Compute the frame states of the forward convolution of one image with one filter.

    Parameters
    ----------
    x : ndarray, shape (1, C, H, W), float64
    weight : ndarray, shape (1, C, KH, KW)
    stride, padding : int
    max_frames : int
        Above this many output positions, frames are spread evenly (first and last kept).

    Frames start at :func:`first_ink_step`: before it every product is (nearly) zero, and those
    outputs are shown already filled in.
    """
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    channels, kh, kw = weight.shape[1:]
    out_h = output_side(x.shape[2], kh, stride, padding)
    out_w = output_side(x.shape[3], kw, stride, padding)
    y, _ = F.conv2d_forward(x, weight, None, stride, padding)
    output = np.array(y[0, 0])  # (OH, OW)
    columns = F.im2col(x, kh, kw, stride, padding)  # (OH*OW, C*KH*KW), rows (oh, ow)
    frames = []
    start = first_ink_step(x, weight, stride, padding)
    for step in (start + k for k in frame_positions(out_h * out_w - start, max_frames)):
        window = columns[step].reshape(channels, kh, kw)  # (C, KH, KW)
        products = window * weight[0]
        i, j, _, _ = window_origin(step, out_w, stride)
        frames.append(ConvForwardFrame(step, (i, j), window, products, float(products.sum()),
                                       so_far(output, mask_until(step, output.shape))))
    return ConvForward(x, weight, stride, padding, pad(x[0], padding), output, frames, start)


def _board(story: ConvForward) -> Board:
    """Per channel a row: padded input | kernel | products; the output map on the right."""
    channels, hp, wp = story.padded.shape
    kernel_shape = story.weight.shape[2:]
    board = Board()
    top = 0.0
    for c in range(channels):
        right = board.place(f"input{c}", 0, top, (hp, wp))
        right = board.place(f"kernel{c}", right + 0.5, top, kernel_shape)
        board.place(f"products{c}", right + 0.5, top, kernel_shape)
        board.symbol((f"input{c}", f"kernel{c}"), "×")
        board.symbol((f"kernel{c}", f"products{c}"), "=")
        top += hp * board.cell + 0.6
    right = max(left + width for left, _, width, _ in board.panels.values())
    board.place("output", right + 0.8, 0.0, story.output.shape)
    board.symbol(("products0", "output"), "Σ→")
    return board


def _draw(figure, story: ConvForward, frame: ConvForwardFrame):
    axes = _board(story).axes(figure)
    channels, kh, kw = story.weight.shape[1:]
    i, j = frame.position
    s, p = story.stride, story.padding
    x_limit = max(np.abs(story.padded).max(), 1e-12)
    w_limit = max(np.abs(story.weight).max(), 1e-12)
    prod_limit = max(np.abs(story.x).max() * w_limit, 1e-12)
    signed_input = story.x.min() < 0
    height, width = story.x.shape[2:]
    for c in range(channels):
        tag = f" (channel {c})" if channels > 1 else ""
        boxes = [(i * s, j * s, kh, kw, "gold", "-")]
        if p:
            boxes.append((p, p, height, width, "0.35", "--"))
        draw_grid(axes[f"input{c}"], story.padded[c], f"input, padding {p}{tag}\nwindow at rows "
                  f"{i * s}…{i * s + kh - 1}, cols {j * s}…{j * s + kw - 1}", limit=x_limit,
                  signed=signed_input, boxes=boxes)
        draw_grid(axes[f"kernel{c}"], story.weight[0, c], f"kernel{tag}", limit=w_limit)
        draw_grid(axes[f"products{c}"], frame.products[c],
                  f"window × kernel\nsum {frame.products[c].sum():.2f}", limit=prod_limit)
    out_limit = max(np.abs(story.output).max(), 1e-12)
    draw_grid(axes["output"], frame.output, f"output y ({story.output.shape[0]}×{story.output.shape[1]})"
              f"\nstride {s}", limit=out_limit, boxes=[(i, j, 1, 1, "gold", "-")])
    terms = " + ".join(f"{frame.products[c].sum():.2f}" for c in range(channels))
    summed = f" = {terms}" if channels > 1 else ""
    caption(figure, [f"y[{i}, {j}] = sum of window × kernel{' over all channels' if channels > 1 else ''}"
                     f"{summed} = {frame.value:.2f}",
                     f"output position {frame.step + 1} of {story.output.size}"
                     f" (window moves {s} cell{'s' if s > 1 else ''} per step)"
                     + (f"; windows before {story.first_ink + 1} give only zeros" if story.first_ink else "")
                     + ("; dashed: the image, outside it zero padding" if p else "")])


def render_conv_forward(story: ConvForward, path, fps=4, dpi=80):
    """Write the animation as a GIF at ``path`` and its last frame as a PNG beside it."""
    size = board_size(_board(story))
    return write_animation(story.frames, lambda figure, frame: _draw(figure, story, frame), size,
                           path, fps, dpi)
