"""Drawing of the pooling animation (states: :mod:`convnp.explain.pool`)."""

from __future__ import annotations

import numpy as np

from .pool import Pool, PoolFrame
from .render import Board, board_size, caption, draw_grid, write_animation

GAP = 0.55


def _board(story: Pool) -> Board:
    """One row per channel: padded input | output | upstream dy | dx."""
    board = Board(cell=0.4)
    channels, height, width = story.x.shape[1:]
    padded = (height + 2 * story.padding, width + 2 * story.padding)
    out_shape = story.max_output.shape[1:]
    top = 0.0
    for c in range(channels):
        right = board.place(f"input{c}", 0, top, padded)
        right = board.place(f"output{c}", right + GAP, top, out_shape)
        right = board.place(f"dy{c}", right + GAP + 0.3, top, out_shape)
        board.place(f"dx{c}", right + GAP, top, (height, width))
        board.symbol((f"input{c}", f"output{c}"), "→")
        board.symbol((f"dy{c}", f"dx{c}"), "→")
        top += max(padded[0], height) * board.cell + 0.7
    return board


def _limit(*arrays) -> float:
    values = np.concatenate([np.ravel(a) for a in arrays])
    return max(float(np.abs(values[np.isfinite(values)]).max(initial=0.0)), 1e-12)


def _draw_channel(axes, story: Pool, frame: PoolFrame, c: int) -> None:
    i, j = frame.position
    k, s, p = story.kernel, story.stride, story.padding
    top, left = i * s, j * s
    pick_row, pick_col = frame.picks[c] + (top, left)  # in padded coordinates
    is_max = frame.phase != "average"
    boxes = [(top, left, k, k, "gold", "-")]
    if is_max:
        boxes.append((pick_row, pick_col, 1, 1, "limegreen", "-"))
    padded = np.pad(story.x[0, c], p, constant_values=-np.inf if is_max else 0.0)
    tag = f" ch {c}" if story.x.shape[1] > 1 else ""
    pad_note = (", padding −∞" if is_max else ", zero padding") if p else ""
    draw_grid(axes[f"input{c}"], padded, f"input{tag}{pad_note}\n" +
              ("green: first maximum" if is_max else f"mean of {k * k} values"),
              limit=_limit(story.x), signed=story.x.min() < 0, boxes=boxes)
    name = "max pool" if is_max else "avg pool"
    draw_grid(axes[f"output{c}"], frame.output[c], f"{name} output\nstride {s}",
              limit=_limit(story.max_output, story.avg_output), signed=story.x.min() < 0,
              boxes=[(i, j, 1, 1, "gold", "-")])
    draw_grid(axes[f"dy{c}"], story.dy[0, c], "upstream\ngradient dy", limit=_limit(story.dy),
              boxes=[(i, j, 1, 1, "gold", "-")] if frame.dx is not None else [])
    dx = np.full(story.x.shape[2:], np.nan) if frame.dx is None else frame.dx[c]
    dx_boxes = []
    if frame.dx is not None and is_max:
        dx_boxes = [(pick_row - p, pick_col - p, 1, 1, "limegreen", "-")]
    elif frame.dx is not None:
        dx_boxes = [(top - p, left - p, k, k, "gold", "-")]
    draw_grid(axes[f"dx{c}"], dx, "dx (backward)" + ("\nnot yet" if frame.dx is None else ""),
              limit=_limit(story.max_dx, story.avg_dx), boxes=dx_boxes)


def _caption_lines(story: Pool, frame: PoolFrame) -> list[str]:
    i, j = frame.position
    k = story.kernel
    value = frame.output[0, i, j]
    upstream = story.dy[0, 0, i, j]
    row, col = frame.picks[0] + (i * story.stride - story.padding, j * story.stride - story.padding)
    tie = (f"tie: {frame.ties[0]} equal maxima — the first in row-major order counts (torch's rule)"
           if frame.ties[0] > 1 else "one clear maximum")
    many = " (channel 0; each channel pools on its own)" if story.x.shape[1] > 1 else ""
    if frame.phase == "max forward":
        return [f"max pool forward: y[{i},{j}] = max of the {k}×{k} window = {value:.2f}{many}", tie]
    if frame.phase == "max backward":
        return [f"max pool backward: dy[{i},{j}] = {upstream:.2f} goes only to the maximum, x[{row},{col}];"
                f" the rest of the window gets 0{many}", tie]
    return [f"average pool: y[{i},{j}] = mean of the window = {value:.2f}{many}",
            f"backward: every element of the window gets dy/{k * k} = {upstream:.2f}/{k * k} = "
            f"{upstream / (k * k):.3f}; overlaps add up"]


def _draw(figure, story: Pool, frame: PoolFrame):
    axes = _board(story).axes(figure)
    for c in range(story.x.shape[1]):
        _draw_channel(axes, story, frame, c)
    caption(figure, _caption_lines(story, frame))


def render_pool(story: Pool, path, fps=4, dpi=80):
    """Write the animation as a GIF at ``path`` and its last frame as a PNG beside it."""
    return write_animation(story.frames, lambda figure, frame: _draw(figure, story, frame),
                           board_size(_board(story)), path, fps, dpi)
