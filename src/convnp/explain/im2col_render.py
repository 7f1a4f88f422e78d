"""Drawing of the im2col animation (states: :mod:`convnp.explain.im2col`)."""

from __future__ import annotations

import numpy as np

from .im2col import Im2col, RowFrame
from .render import Board, board_size, caption, draw_grid, write_animation

GAP = 0.55
MATRIX_HEIGHT = 6.0  # inches available for the column matrix


def _matrix_cell(story: Im2col) -> float:
    rows, cols = story.columns.shape
    return min(0.4, MATRIX_HEIGHT / rows, 7.0 / cols)


def _row_board(story: Im2col) -> Board:
    """Input channels stacked on the left, the column matrix on the right."""
    board = Board(cell=0.4)
    right = board.column(0, 0, [(f"input{c}", story.padded.shape[1:]) for c in range(len(story.padded))],
                         gap=0.6)
    board.place("columns", right + GAP + 0.3, 0, story.columns.shape, cell=_matrix_cell(story))
    board.symbol(("input0", "columns"), "→")
    return board


def _product_board(story: Im2col) -> Board:
    """columns @ weight matrix = product, reshaped to the output maps."""
    board = Board(cell=0.4)
    cell = _matrix_cell(story)
    right = board.place("columns", 0, 0, story.columns.shape, cell=cell)
    right = board.place("weights", right + GAP, 0, story.frames[-1].weight_matrix.shape, cell=cell)
    right = board.place("product", right + GAP, 0, story.frames[-1].product.shape, cell=cell)
    outputs = [(f"output{o}", story.output.shape[1:]) for o in range(len(story.output))]
    board.column(right + GAP + 0.3, 0, outputs, gap=0.5)
    operators = ((("columns", "weights"), "@"), (("weights", "product"), "="), (("product", "output0"), "→"))
    for pair, text in operators:
        board.symbol(pair, text)
    return board


def _limit(values) -> float:
    return max(float(np.abs(values).max()), 1e-12)


def _draw_row_frame(figure, story: Im2col, frame: RowFrame):
    axes = _row_board(story).axes(figure)
    i, j = frame.position
    s, p = story.stride, story.padding
    kh, kw = story.weight.shape[2:]
    height, width = story.x.shape[2:]
    signed = story.x.min() < 0
    for c in range(len(story.padded)):
        boxes = [(i * s, j * s, kh, kw, "gold", "-")] + ([(p, p, height, width, "0.35", "--")] if p else [])
        tag = f" channel {c}" if len(story.padded) > 1 else ""
        draw_grid(axes[f"input{c}"], story.padded[c], f"input{tag}, padding {p}", limit=_limit(story.padded),
                  signed=signed, boxes=boxes)
    rows, cols = story.columns.shape
    draw_grid(axes["columns"], frame.columns, f"column matrix ({rows}×{cols})\nrow {frame.step}: "
              f"window ({i},{j}), columns (c, kh, kw)", limit=_limit(story.padded), signed=signed,
              boxes=[(frame.step, 0, 1, cols, "gold", "-")])
    caption(figure, [f"im2col: the window at output position ({i},{j}) becomes row {frame.step} = "
                     f"{i}·{story.output.shape[2]} + {j} of the matrix",
                     "each row lists the window channel by channel, row by row — "
                     "the layout of cn.functional.im2col"])


def _draw_product_frame(figure, story: Im2col, frame):
    axes = _product_board(story).axes(figure)
    signed = story.x.min() < 0
    rows, cols = frame.columns.shape
    draw_grid(axes["columns"], frame.columns, f"im2col(x)\n({rows}×{cols})", limit=_limit(story.padded),
              signed=signed)
    draw_grid(axes["weights"], frame.weight_matrix, f"kernels as\ncolumns ({cols}×{len(story.output)})",
              limit=_limit(story.weight))
    draw_grid(axes["product"], frame.product, f"product\n({rows}×{len(story.output)})",
              limit=_limit(story.output))
    for o in range(len(story.output)):
        draw_grid(axes[f"output{o}"], frame.output[o], f"output channel {o}\n= product column {o}",
                  limit=_limit(story.output))
    caption(figure, ["one matrix product computes every output at once: y = im2col(x) @ W.reshape(O, −1).T",
                     f"column o of the product, reshaped to {story.output.shape[1]}×{story.output.shape[2]},"
                     " is output channel o — equal to conv2d_forward"])


def _draw(figure, story, frame):
    if isinstance(frame, RowFrame):
        _draw_row_frame(figure, story, frame)
    else:
        _draw_product_frame(figure, story, frame)


def render_im2col(story: Im2col, path, fps=4, dpi=80):
    """Write the animation as a GIF at ``path`` and its last frame as a PNG beside it."""
    return write_animation(story.frames, lambda figure, frame: _draw(figure, story, frame),
                           board_size(_row_board(story), _product_board(story)), path, fps, dpi)
