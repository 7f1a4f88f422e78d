"""Animation 3, pooling: max-pool forward and backward, then average pooling, window by window.

Max pooling keeps the largest value of each window; backward routes the upstream gradient only
to that element (the *first* maximum in row-major order when several are equal, torch's rule).
Average pooling takes the mean; backward shares the gradient equally, ``dy / (KH*KW)`` each.
Outputs and gradients shown are :func:`convnp.functional.max_pool2d_forward` / ``_backward`` and
``avg_pool2d_forward`` / ``_backward`` applied to the gradient of the positions seen so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .geometry import check_int, mask_until, output_side, pad, so_far, window_origin
from .inputs import frame_positions

MAX_FRAMES = 24
PHASES = ("max forward", "max backward", "average")


@dataclass
class PoolFrame:
    """One window position in one phase."""

    phase: str  # one of PHASES
    step: int
    position: tuple  # (i, j)
    windows: np.ndarray  # (C, KH, KW) padded input under the window (-inf padding for max)
    picks: np.ndarray  # (C, 2) (row, col) of the first maximum in each window
    ties: np.ndarray  # (C,) number of elements equal to the maximum
    output: np.ndarray  # (C, OH, OW) outputs of positions 0..step, NaN after
    dx: np.ndarray | None  # (C, H, W) input gradient of the positions 0..step (None when forward)


@dataclass
class Pool:
    """The whole animation: fixed arrays and the frames of the three phases."""

    x: np.ndarray  # (1, C, H, W)
    dy: np.ndarray  # (1, C, OH, OW)
    kernel: int
    stride: int
    padding: int
    max_output: np.ndarray  # (C, OH, OW)
    max_dx: np.ndarray  # (C, H, W)
    avg_output: np.ndarray  # (C, OH, OW)
    avg_dx: np.ndarray  # (C, H, W)
    frames: list


def pool_frame_count(size, kernel, stride=None, padding=0, max_frames=MAX_FRAMES) -> int:
    """Three phases of ``min(OH*OW, max_frames)`` frames each."""
    stride = kernel if stride is None else stride
    return 3 * min(output_side(size, kernel, stride, padding) ** 2, max_frames)


def pool_frames(x, dy, kernel=2, stride=None, padding=0, max_frames=MAX_FRAMES) -> Pool:
    """Compute the frame states of max and average pooling of ``x`` (1, C, H, W), forward and backward.

    ``dy`` (1, C, OH, OW) is the upstream gradient; ``stride`` None means ``kernel``.
    """
    kernel = check_int(kernel, "kernel", 1)
    stride = kernel if stride is None else check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    max_y, max_cache = F.max_pool2d_forward(x, kernel, stride, padding)
    avg_y, avg_cache = F.avg_pool2d_forward(x, kernel, stride, padding)
    story = Pool(x, dy, kernel, stride, padding, np.array(max_y[0]),
                 np.array(F.max_pool2d_backward(dy, max_cache)[0]), np.array(avg_y[0]),
                 np.array(F.avg_pool2d_backward(dy, avg_cache)[0]), [])
    out_hw = max_y.shape[2:]
    backward = {"max backward": (F.max_pool2d_backward, max_cache),
                "average": (F.avg_pool2d_backward, avg_cache)}
    for phase in PHASES:
        padded = pad(x[0], padding, -np.inf if phase != "average" else 0.0)  # (C, Hp, Wp)
        output = story.avg_output if phase == "average" else story.max_output
        for step in frame_positions(out_hw[0] * out_hw[1], max_frames):
            seen = mask_until(step, out_hw)
            dx = None
            if phase in backward:
                function, cache = backward[phase]
                dx = np.array(function(np.where(seen, dy, 0.0), cache)[0])
            story.frames.append(_frame(phase, step, padded, story, so_far(output, seen), dx))
    return story


def _frame(phase, step, padded, story: Pool, output, dx) -> PoolFrame:
    """The window at ``step`` with its first maximum and tie count per channel."""
    i, j, top, left = window_origin(step, story.max_output.shape[2], story.stride)
    windows = padded[:, top:top + story.kernel, left:left + story.kernel]  # (C, K, K)
    flat = windows.reshape(len(windows), -1)
    picks = np.array(np.unravel_index(flat.argmax(axis=1), windows.shape[1:])).T  # (C, 2) first max
    ties = (flat == flat.max(axis=1, keepdims=True)).sum(axis=1)
    return PoolFrame(phase, step, (i, j), windows, picks, ties, output, dx)
