"""Drawing helpers shared by the animations: panel layout, annotated number grids, GIF writing.

Colour convention (the same in ``convnp studio``): values that are never negative (pixels) on
a gray scale, 0 black and the largest value white, as MNIST digits are stored and shown
everywhere else in convnp; signed values (weights, gradients, outputs) on blue-white-red,
blue negative, white zero, red positive.

Each animation lays out its panels on a :class:`Board` (positions in inches, so every grid cell
has the same size across panels), draws every frame into the same Figure (Agg canvas, no pyplot)
and hands the frames to matplotlib's ``PillowWriter``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..viz._figure import new_figure
from ..viz._images import diverging_cmap, sequential_cmap

TITLE_SPACE = 0.5  # inches above each panel for its (two-line) title
HEADER = 0.75  # inches at the top of the figure for the frame's caption
MARGIN = 0.25


@dataclass
class Board:
    """Panels placed in inches from the top-left corner; converted to axes per figure."""

    cell: float = 0.42  # inches per grid cell
    panels: dict = field(default_factory=dict)  # name -> (left, top, width, height) in inches
    symbols: list = field(default_factory=list)  # (x, y, text) in inches: operators between panels

    def symbol(self, between, text) -> None:
        """Write ``text`` (e.g. "×", "=") midway between two placed panels, at the first's middle."""
        left, top, width, height = self.panels[between[0]]
        self.symbols.append(((left + width + self.panels[between[1]][0]) / 2, top + height / 2, text))

    def place(self, name, left, top, shape, cell=None) -> float:
        """Put a (rows, cols) grid at (left, top); return its right edge."""
        cell = self.cell if cell is None else cell
        rows, cols = shape
        self.panels[name] = (left, top + TITLE_SPACE, cols * cell, rows * cell)
        return left + cols * cell

    def column(self, left, top, named_shapes, gap=0.25, cell=None) -> float:
        """Stack grids vertically from (left, top); return the column's right edge."""
        right = left
        for name, shape in named_shapes:
            right = max(right, self.place(name, left, top, shape, cell))
            top = self.panels[name][1] + self.panels[name][3] + gap
        return right

    def size(self) -> tuple[float, float]:
        """(width, height) in inches needed by the panels, with margins and the header."""
        right = max(left + width for left, _, width, _ in self.panels.values())
        bottom = max(top + height for _, top, _, height in self.panels.values())
        return right + 2 * MARGIN, bottom + HEADER + MARGIN

    def axes(self, figure) -> dict:
        """One Axes per panel, the whole board centred horizontally in ``figure``."""
        fig_width, fig_height = figure.get_size_inches()
        offset = (fig_width - self.size()[0]) / 2 + MARGIN
        result = {}
        for name, (left, top, width, height) in self.panels.items():
            rect = ((left + offset) / fig_width, 1 - (top + HEADER + height) / fig_height,
                    width / fig_width, height / fig_height)
            result[name] = figure.add_axes(rect)
        for x, y, text in self.symbols:
            figure.text((x + offset) / fig_width, 1 - (y + HEADER) / fig_height, text, ha="center",
                        va="center", fontsize=15, color="0.3")
        return result


def font_size(axes, shape, digits=5) -> float:
    """A font size (points) that fits ``digits`` characters into one cell of a (rows, cols) grid."""
    figure = axes.figure
    box = axes.get_position()
    cell_points = min(box.width * figure.get_figwidth() / shape[1],
                      box.height * figure.get_figheight() / shape[0]) * 72
    return float(np.clip(cell_points / (0.7 * digits), 3.0, 10.0))


def number_text(value) -> str:
    """A cell's label: two decimals, ``−∞`` for minus infinity, empty for NaN (not yet computed)."""
    if np.isnan(value):
        return ""
    if np.isinf(value):
        return "−∞" if value < 0 else "∞"
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text.replace("-", "−")


def draw_grid(axes, values, title, *, limit, signed=True, annotate=True, boxes=(), fontsize=None):
    """An annotated heat map of a 2-D array with a fixed colour scale.

    Parameters
    ----------
    axes : matplotlib Axes
    values : ndarray (rows, cols); NaN cells are blank (not yet computed), ±inf labelled.
    title : str
    limit : float
        Colour scale: ``[-limit, limit]`` on blue-white-red when ``signed``, else ``[0, limit]``
        on gray (0 black, ``limit`` white), the convention stated in the module docstring.
    annotate : bool
        Write every number with two decimals (skipped when the cells are too small to read).
    boxes : iterable of (top, left, height, width, colour, linestyle)
        Rectangles drawn around groups of cells.
    """
    values = np.asarray(values, dtype=np.float64)
    shown = np.where(np.isfinite(values), values, np.nan)
    cmap = diverging_cmap() if signed else sequential_cmap("gray")
    axes.imshow(shown, cmap=cmap, vmin=-limit if signed else 0.0, vmax=limit, interpolation="nearest")
    rows, cols = values.shape
    axes.set_axis_off()  # no tick machinery: grid lines and border are drawn directly (fast)
    axes.vlines(np.arange(1, cols) - 0.5, -0.5, rows - 0.5, color="0.75", linewidth=0.5)
    axes.hlines(np.arange(1, rows) - 0.5, -0.5, cols - 0.5, color="0.75", linewidth=0.5)
    draw_box(axes, 0, 0, rows, cols, "0.2", "-", linewidth=0.8)
    axes.set_title(title, fontsize=9, pad=3)
    size = font_size(axes, values.shape) if fontsize is None else fontsize
    if annotate and size >= 4.5:
        for (row, col), value in np.ndenumerate(values):
            dark = np.isfinite(value) and (abs(value) > 0.6 * limit if signed else value < 0.5 * limit)
            axes.text(col, row, number_text(value), ha="center", va="center", fontsize=size,
                      color="white" if dark else "black")
    for top, left, height, width, colour, style in boxes:
        draw_box(axes, top, left, height, width, colour, style)


def draw_box(axes, top, left, height, width, colour="black", style="-", linewidth=2.2):
    """A rectangle around cells [top, top+height) x [left, left+width) of a grid."""
    from matplotlib.patches import Rectangle

    axes.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour,
                             linestyle=style, linewidth=linewidth, clip_on=False))


def caption(figure, lines) -> None:
    """The frame's explanation, centred at the top of the figure (one string per line)."""
    figure.text(0.5, 1 - 0.12 / figure.get_figheight(), "\n".join(lines), ha="center", va="top",
                fontsize=10, linespacing=1.4)


def write_animation(frames, draw_frame, size, path, fps=4, dpi=80):
    """Draw every frame into one Figure, write them as a GIF and the last one as a PNG.

    Parameters
    ----------
    frames : sequence
        Frame states, in order.
    draw_frame : callable (figure, frame) -> None
        Draws one state into the cleared figure.
    size : (float, float)
        Figure size in inches.
    path : str
        The GIF's path; the still PNG goes beside it with the ``.png`` suffix.

    Returns
    -------
    (str, str) : the GIF's and the PNG's paths.
    """
    figure = new_figure(*size)  # ImportError naming the viz extra when matplotlib is missing
    from matplotlib.animation import PillowWriter

    gif_path = os.fspath(path)
    png_path = os.path.splitext(gif_path)[0] + ".png"
    os.makedirs(os.path.dirname(os.path.abspath(gif_path)), exist_ok=True)
    figure.set_facecolor("white")
    writer = PillowWriter(fps=fps)
    with writer.saving(figure, gif_path, dpi):
        for frame in frames:
            figure.clear()
            draw_frame(figure, frame)
            writer.grab_frame(facecolor="white")
    figure.savefig(png_path, dpi=dpi, facecolor="white")
    return gif_path, png_path


def board_size(*boards) -> tuple[float, float]:
    """The figure size holding the largest of several boards (animations with several phases)."""
    sizes = [board.size() for board in boards]
    return max(width for width, _ in sizes), max(height for _, height in sizes)
