"""Which images a model gets wrong, with its confidence (PNG)."""

from __future__ import annotations

import numpy as np

from ..functional import softmax
from ._figure import new_figure, save
from ._images import grid_shape, image_for_display


def plot_misclassified(model, x, y, class_names=None, path=None, *, logits=None, max_images=16):
    """A grid of misclassified images titled "true → predicted (probability)".

    Parameters
    ----------
    model : Sequential
        Used to compute ``logits = model.predict(x)`` unless ``logits`` is given.
    x : ndarray, shape (N, C, H, W)
    y : ndarray, shape (N,), int
    class_names : list[str], optional
        Default: the class indices.
    path : str, optional
        Where to write the PNG.
    logits : ndarray (N, K), optional
        The model's outputs on ``x`` when already computed.
    max_images : int
        Show at most this many (the most confident mistakes first).

    Returns
    -------
    matplotlib.figure.Figure
    """
    logits = model.predict(x) if logits is None else logits
    if len(logits) != len(x) or len(y) != len(x):
        raise ValueError(f"plot_misclassified: x has {len(x)} images, y {len(y)} labels and the "
                         f"outputs {len(logits)} rows")
    probabilities = softmax(np.asarray(logits, dtype=np.float64))  # (N, K)
    predicted = probabilities.argmax(axis=1)
    names = [str(k) for k in range(probabilities.shape[1])] if class_names is None else list(class_names)
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:max_images]
    rows, columns = grid_shape(max(len(wrong), 1), max_columns=8)
    figure = new_figure(1.5 * columns, 1.65 * rows + 0.5)
    figure.suptitle(f"{np.count_nonzero(predicted != y)} of {len(y)} images misclassified "
                    f"(most confident first): true → predicted (p)", fontsize=10)
    if len(wrong) == 0:
        figure.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for slot, axes in enumerate(figure.subplots(rows, columns, squeeze=False).ravel()):
        axes.set_axis_off()
        if slot < len(wrong):
            index = wrong[slot]
            image, cmap = image_for_display(x[index])
            axes.imshow(image, cmap=cmap, interpolation="nearest")
            axes.set_title(f"{names[y[index]]} → {names[predicted[index]]} "
                           f"({probabilities[index, predicted[index]]:.2f})", fontsize=8, color="darkred")
    if path is not None:
        save(figure, path)
    return figure
