"""Drawing of the convolution-backward animation (states: :mod:`convnp.explain.conv_backward`)."""

from __future__ import annotations

import numpy as np

from .conv_backward import ConvBackward, InputGradFrame, WeightGradFrame
from .render import Board, board_size, caption, draw_grid, write_animation

GAP = 0.55  # inches between panels, room for the operator symbols
CELL = 0.36


def _limit(values) -> float:
    return max(float(np.abs(np.asarray(values)[np.isfinite(values)]).max(initial=0.0)), 1e-12)


def _weight_board(story: ConvBackward) -> Board:
    """(a): input channel c | inputs met | dy | products | dW[c]."""
    board, out_shape = Board(cell=CELL), story.dy.shape[2:]
    right = board.place("input", 0, 0, story.padded.shape[1:])
    for name in ("met", "dy", "products"):
        right = board.place(name, right + GAP, 0, out_shape)
    board.place("dweight", right + GAP + 0.2, 0, story.weight.shape[2:])
    for pair, text in ((("input", "met"), "→"), (("met", "dy"), "×"), (("dy", "products"), "="),
                       (("products", "dweight"), "Σ→")):
        board.symbol(pair, text)
    return board


def _channel_rows(board: Board, story: ConvBackward, left: float, names, shapes, symbols) -> None:
    """One row per input channel of panels ``names`` with ``shapes`` and ``symbols`` between them."""
    top = 0.0
    for c in range(story.weight.shape[1]):
        right = left
        for index, (name, shape) in enumerate(zip(names, shapes, strict=True)):
            right = board.place(f"{name}{c}", right + (GAP if index else 0), top, shape)
        for first, second, text in zip(names[:-1], names[1:], symbols, strict=True):
            board.symbol((f"{first}{c}", f"{second}{c}"), text)
        top += max(shape[0] for shape in shapes) * board.cell + 0.65


def _scatter_board(story: ConvBackward) -> Board:
    """(b): dy | per channel: kernel | contribution | dx_padded."""
    board = Board(cell=CELL)
    right = board.place("dy", 0, 0, story.dy.shape[2:])
    kernel = story.weight.shape[2:]
    _channel_rows(board, story, right + GAP, ("kernel", "contribution", "dx"),
                  (kernel, kernel, story.padded.shape[1:]), ("=", "→"))
    board.symbol(("dy", "kernel0"), "×")
    return board


def _full_board(story: ConvBackward, frame) -> Board:
    """(c): dy dilated and padded | per channel: rotated kernel | dx_padded."""
    board = Board(cell=CELL)
    right = board.place("dy_full", 0, 0, frame.dy_full.shape)
    _channel_rows(board, story, right + GAP, ("rotated", "dx"), (frame.rotated.shape[1:],
                                                                 story.padded.shape[1:]), ("=",))
    board.symbol(("dy_full", "rotated0"), "✱")
    return board


def _draw_weight_frame(figure, story: ConvBackward, frame: WeightGradFrame):
    axes = _weight_board(story).axes(figure)
    c, p, q = frame.index
    s = story.stride
    out_h, out_w = story.dy.shape[2:]
    met_cells = [(i * s + p, j * s + q, 1, 1, "gold", "-") for i in range(out_h) for j in range(out_w)]
    tag = f" channel {c}" if story.weight.shape[1] > 1 else ""
    draw_grid(axes["input"], story.padded[c], f"input{tag}, padding {story.padding}\n"
              f"cells w[{c},{p},{q}] met", limit=_limit(story.padded), signed=story.x.min() < 0,
              boxes=met_cells, fontsize=None)
    draw_grid(axes["met"], frame.met, f"inputs met by\nw[{c},{p},{q}]", limit=_limit(story.padded),
              signed=story.x.min() < 0)
    draw_grid(axes["dy"], story.dy[0, 0], "upstream\ngradient dy", limit=_limit(story.dy))
    draw_grid(axes["products"], frame.products, f"products\nsum {frame.value:.2f}",
              limit=_limit(story.padded) * _limit(story.dy))
    draw_grid(axes["dweight"], frame.dweight[c], f"dW{tag}\nso far", limit=_limit(story.dweight),
              boxes=[(p, q, 1, 1, "gold", "-")])
    caption(figure, [f"(a) dW[{c},{p},{q}] = Σ over output positions of (input it met) × dy "
                     f"= {frame.value:.2f}",
                     "every weight touched one input per output position; the conv2d_backward "
                     "result fills in weight by weight"])


def _draw_scatter_frame(figure, story: ConvBackward, frame: InputGradFrame):
    axes = _scatter_board(story).axes(figure)
    i, j = frame.position
    s, pad = story.stride, story.padding
    kh, kw = story.weight.shape[2:]
    height, width = story.x.shape[2:]
    draw_grid(axes["dy"], story.dy[0, 0], "upstream\ngradient dy", limit=_limit(story.dy),
              boxes=[(i, j, 1, 1, "gold", "-")])
    for c in range(story.weight.shape[1]):
        tag = f" (ch {c})" if story.weight.shape[1] > 1 else ""
        draw_grid(axes[f"kernel{c}"], story.weight[0, c], f"kernel{tag}", limit=_limit(story.weight))
        draw_grid(axes[f"contribution{c}"], frame.contribution[c], f"dy[{i},{j}] × kernel",
                  limit=_limit(story.dy) * _limit(story.weight))
        boxes = [(i * s, j * s, kh, kw, "gold", "-")]
        boxes += [(pad, pad, height, width, "0.35", "--")] if pad else []
        name = ("dx (padded)" if pad else "dx") + tag
        draw_grid(axes[f"dx{c}"], frame.dx_padded[c], f"{name}\nsum of the scattered windows",
                  limit=_limit(story.dx), boxes=boxes)
    caption(figure, [f"(b) dy[{i},{j}] = {frame.upstream:.2f} flows back through the same multiply: "
                     f"dx[window] += dy[{i},{j}] × kernel",
                     f"output position {frame.step + 1} of {story.dy.size}; overlapping windows add up"
                     + ("; dashed: the image, its border is padding (cropped away)" if pad else "")])


def _draw_full_frame(figure, story: ConvBackward, frame):
    axes = _full_board(story, frame).axes(figure)
    pad, (height, width) = story.padding, story.x.shape[2:]
    s = story.stride
    kh, kw = story.weight.shape[2:]
    last_h, last_w = frame.dx_padded.shape[1] - 1, frame.dx_padded.shape[2] - 1
    draw_grid(axes["dy_full"], frame.dy_full, "dy, " + (f"dilated by stride {s}, " if s > 1 else "")
              + f"padded by K−1 = {kh - 1}\n(window of the last dx cell)", limit=_limit(story.dy),
              boxes=[(last_h, last_w, kh, kw, "gold", "-")])
    for c in range(story.weight.shape[1]):
        tag = f" (ch {c})" if story.weight.shape[1] > 1 else ""
        draw_grid(axes[f"rotated{c}"], frame.rotated[c], f"kernel rotated 180°{tag}",
                  limit=_limit(story.weight))
        boxes = [(last_h, last_w, 1, 1, "gold", "-")]
        boxes += [(pad, pad, height, width, "0.2", "--")] if pad else []
        name = ("dx (padded)" if pad else "dx") + tag + ("\ndashed: dx" if pad else "")
        draw_grid(axes[f"dx{c}"], frame.dx_padded[c], name, limit=_limit(story.dx), boxes=boxes)
    caption(figure, ["(c) the same dx as a full convolution: slide the 180°-rotated kernel over "
                     "the zero-padded dy",
                     "equal to the scattered sum of (b) and to conv2d_backward's dx"])


def _draw(figure, story, frame):
    if isinstance(frame, WeightGradFrame):
        _draw_weight_frame(figure, story, frame)
    elif isinstance(frame, InputGradFrame):
        _draw_scatter_frame(figure, story, frame)
    else:
        _draw_full_frame(figure, story, frame)


def render_conv_backward(story: ConvBackward, path, fps=4, dpi=80):
    """Write the animation as a GIF at ``path`` and its last frame as a PNG beside it."""
    size = board_size(_weight_board(story), _scatter_board(story), _full_board(story, story.frames[-1]))
    return write_animation(story.frames, lambda figure, frame: _draw(figure, story, frame), size,
                           path, fps, dpi)
