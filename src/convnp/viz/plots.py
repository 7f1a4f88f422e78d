"""Plots of training results: learning curves and confusion matrices (PNG)."""

from __future__ import annotations

import numpy as np

from ._figure import new_figure, save


def plot_history(history, path=None):
    """Loss and accuracy (train and validation) against epoch, side by side.

    Parameters
    ----------
    history : History or dict[str, list[float]]
        ``History.history``-style: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
    path : str, optional
        Where to write the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    logs = getattr(history, "history", history)
    if not logs or "loss" not in logs:
        raise ValueError("plot_history: the history has no 'loss' entries to plot")
    figure = new_figure(10, 4)
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, label, style in ((metric, "train", "o-"), (f"val_{metric}", "validation", "s--")):
            if key in logs:
                epochs = np.arange(1, len(logs[key]) + 1)
                axes.plot(epochs, logs[key], style, label=label)
        axes.set(xlabel="epoch", ylabel=metric, title=metric)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
            axes.xaxis.get_major_locator().set_params(integer=True)
    if path is not None:
        save(figure, path)
    return figure


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts ``matrix[t, p]`` of samples of true class t predicted as p, shape (K, K)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)  # (K, K)


def plot_confusion_matrix(y_true, y_pred, class_names, path=None):
    """Confusion matrix as a heat map with the count in every cell; rows are true classes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    k = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, k)
    figure = new_figure(1.0 + 0.6 * k, 0.8 + 0.55 * k)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(k)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set(xlabel="predicted class", ylabel="true class",
             title=f"Confusion matrix (accuracy {np.trace(matrix) / max(matrix.sum(), 1):.2%})")
    threshold = matrix.max() / 2
    for t in range(k):
        for p in range(k):
            axes.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=8,
                      color="white" if matrix[t, p] > threshold else "black")
    if path is not None:
        save(figure, path)
    return figure
