"""Animation 2, convolution backward: where dW and dx come from, one contribution per frame.

(a) ``dW[c, p, q] = sum_{i,j} dy[i, j] * x_pad[c, i*s + p, j*s + q]``: each weight met one input
    value per output position; times the upstream gradient there, summed (one frame per weight).
(b) ``dx``: every ``dy[i, j]`` is scattered back through the kernel onto the window it came from,
    ``dx_pad[c, window] += dy[i, j] * w[c]`` (one frame per output position), then cropped.
(c) The same ``dx`` as a *full* convolution: ``dy`` (dilated by the stride, padded by K-1) convolved
    with the kernel rotated by 180 degrees.

The arrays come from :func:`convnp.functional.im2col`, :func:`~convnp.functional.col2im`,
:func:`~convnp.functional.conv2d_forward` and :func:`~convnp.functional.conv2d_backward`; the
last frames show exactly the library's ``dweight`` and ``dx``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .geometry import check_int, mask_until, output_side, pad, so_far, window_origin
from .inputs import frame_positions

MAX_FRAMES = 36


@dataclass
class WeightGradFrame:
    """(a) one weight ``w[c, p, q]``: the inputs it met, times dy, summed."""

    index: tuple  # (c, p, q)
    met: np.ndarray  # (OH, OW) x_pad[c, i*s + p, j*s + q]
    products: np.ndarray  # (OH, OW) met * dy
    value: float  # products.sum() == dW[c, p, q]
    dweight: np.ndarray  # (C, KH, KW) entries computed so far, NaN after


@dataclass
class InputGradFrame:
    """(b) one upstream gradient ``dy[i, j]`` scattered back through the kernel."""

    step: int
    position: tuple  # (i, j)
    upstream: float  # dy[i, j]
    contribution: np.ndarray  # (C, KH, KW) dy[i, j] * w[c]
    dx_padded: np.ndarray  # (C, Hp, Wp) sum of the contributions of positions 0..step


@dataclass
class FullConvFrame:
    """(c) dx as the full convolution of dy with the 180-degree rotated kernel."""

    dy_full: np.ndarray  # (Hp + K - 1, Wp + K - 1) dy dilated by the stride, padded by K - 1
    rotated: np.ndarray  # (C, KH, KW) w[0, c, ::-1, ::-1]
    dx_padded: np.ndarray  # (C, Hp, Wp)
    dx: np.ndarray  # (C, H, W) the centre of dx_padded


@dataclass
class ConvBackward:
    """The whole animation: fixed arrays and the frames of phases (a), (b), (c)."""

    x: np.ndarray  # (1, C, H, W)
    weight: np.ndarray  # (1, C, KH, KW)
    dy: np.ndarray  # (1, 1, OH, OW) upstream gradient
    stride: int
    padding: int
    padded: np.ndarray  # (C, Hp, Wp)
    dweight: np.ndarray  # (1, C, KH, KW) from conv2d_backward
    dx: np.ndarray  # (1, C, H, W) from conv2d_backward
    frames: list


def conv_backward_frame_count(size, kernel, stride, padding, channels=1, max_frames=MAX_FRAMES) -> int:
    """``min(C*K*K, max_frames)`` weight frames + ``min(OH*OW, max_frames)`` scatter frames + 1."""
    positions = output_side(size, kernel, stride, padding) ** 2
    return min(channels * kernel * kernel, max_frames) + min(positions, max_frames) + 1


def conv_backward_frames(x, weight, dy, stride=1, padding=0, max_frames=MAX_FRAMES) -> ConvBackward:
    """Compute the frame states of the backward pass of one image through one filter.

    Parameters
    ----------
    x : ndarray (1, C, H, W); weight : ndarray (1, C, KH, KW); dy : ndarray (1, 1, OH, OW)
    stride, padding : int
    max_frames : int
        Cap on the frames of phase (a) and of phase (b) each (spread evenly when exceeded).
    """
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    _, cache = F.conv2d_forward(x, weight, None, stride, padding)
    dx, dweight, _ = F.conv2d_backward(dy, cache)
    story = ConvBackward(x, weight, dy, stride, padding, pad(x[0], padding), np.array(dweight),
                         np.array(dx), [])
    story.frames = [*_weight_frames(story, max_frames), *_scatter_frames(story, max_frames),
                    _full_convolution(story)]
    return story


def _weight_frames(story: ConvBackward, max_frames):
    """Phase (a): column k = (c, p, q) of im2col holds every input value weight k met."""
    channels, kh, kw = story.weight.shape[1:]
    dy = story.dy[0, 0]  # (OH, OW)
    columns = F.im2col(story.x, kh, kw, story.stride, story.padding)  # (OH*OW, C*KH*KW)
    frames = []
    for k in frame_positions(channels * kh * kw, max_frames):
        met = columns[:, k].reshape(dy.shape)  # (OH, OW)
        products = met * dy
        done = mask_until(k, (channels, kh, kw))
        frames.append(WeightGradFrame(np.unravel_index(k, (channels, kh, kw)), met, products,
                                      float(products.sum()), so_far(story.dweight[0], done)))
    return frames


def _scatter_frames(story: ConvBackward, max_frames):
    """Phase (b): col2im of ``dy[i, j] * w`` rows, for the positions seen so far."""
    channels, kh, kw = story.weight.shape[1:]
    dy = story.dy[0, 0]
    padded_shape = (1, *story.padded.shape)  # (1, C, Hp, Wp)
    frames = []
    for step in frame_positions(dy.size, max_frames):
        seen = np.where(mask_until(step, dy.shape), dy, 0.0).reshape(-1, 1)  # (OH*OW, 1)
        rows = seen * story.weight[0].reshape(1, -1)  # (OH*OW, C*KH*KW), columns (c, kh, kw)
        dx_padded = F.col2im(rows, padded_shape, kh, kw, story.stride, 0)[0]  # (C, Hp, Wp)
        i, j, _, _ = window_origin(step, dy.shape[1], story.stride)
        frames.append(InputGradFrame(step, (i, j), float(dy[i, j]), dy[i, j] * story.weight[0],
                                     dx_padded))
    return frames


def dilate_and_pad(dy: np.ndarray, stride: int, kernel: tuple, padded_hw: tuple) -> np.ndarray:
    """``dy`` (OH, OW) with ``stride - 1`` zeros between entries and ``K - 1`` zeros around (more
    at the bottom/right when the last rows/columns of the padded input were never covered)."""
    out_h, out_w = dy.shape
    dilated = np.zeros(((out_h - 1) * stride + 1, (out_w - 1) * stride + 1))
    dilated[::stride, ::stride] = dy
    extra_h = padded_hw[0] - ((out_h - 1) * stride + kernel[0])  # uncovered rows at the bottom
    extra_w = padded_hw[1] - ((out_w - 1) * stride + kernel[1])
    widths = ((kernel[0] - 1, kernel[0] - 1 + extra_h), (kernel[1] - 1, kernel[1] - 1 + extra_w))
    return np.pad(dilated, widths)


def _full_convolution(story: ConvBackward) -> FullConvFrame:
    """Phase (c): ``dx_pad[c] = conv2d_forward(dy_full, rot180(w[0, c]))``, cropped to ``dx``."""
    kernel = story.weight.shape[2:]
    dy_full = dilate_and_pad(story.dy[0, 0], story.stride, kernel, story.padded.shape[1:])
    rotated = story.weight[0, :, ::-1, ::-1]  # (C, KH, KW)
    result, _ = F.conv2d_forward(dy_full[None, None], np.ascontiguousarray(rotated[:, None]))
    dx_padded = np.array(result[0])  # (C, Hp, Wp)
    p = story.padding
    height, width = story.x.shape[2:]
    return FullConvFrame(dy_full, rotated, dx_padded, dx_padded[:, p:p + height, p:p + width])
