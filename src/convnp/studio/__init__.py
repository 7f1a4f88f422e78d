"""``convnp studio``: a local web page to watch a CNN think (every layer's activations and
gradients for one image) and learn (training live in the server). See DESIGN.md §5.

Typical use::

    from convnp.studio import open_studio, StudioServer
    server = StudioServer(open_studio(), port=0)   # seed002, untrained, on mnist-sample
    print(server.url); server.serve_forever()
"""

from __future__ import annotations

import numpy as np

from .. import datasets
from ..models import build
from .server import StudioServer
from .session import Studio
from .validation import MAX_BODY, ApiError

DEFAULT_MODEL = "seed002"
DEFAULT_DATASET = "mnist-sample"


def open_studio(model=None, dataset=None, *, root=None, seed=0, name=None) -> Studio:
    """A :class:`Studio` for ``model`` (a Sequential, or None for a fresh ``seed002``).

    Parameters
    ----------
    model : Sequential or None
    dataset : str or None
        Data to train on and to pick test images from; default the model's
        ``metadata["dataset"]``, else ``"mnist-sample"``.
    root : data root for :func:`convnp.datasets.load`
    seed : int, for the fresh model's weights and the batch order
    name : str or None
        The model's name on the page and in shared links (default ``"seed002"`` for the fresh
        model, else ``"model"``).

    Raises
    ------
    ValueError
        When the data's images do not fit the model (shape or class count).
    """
    if dataset is None:
        dataset = (model.metadata.get("dataset") if model is not None else None) or DEFAULT_DATASET
    classes = list(datasets.info(dataset).classes)
    (x_train, y_train), (x_test, y_test) = datasets.load(dataset, root=root)
    input_shape = tuple(int(v) for v in x_train.shape[1:])
    if model is None:
        name = name or DEFAULT_MODEL
        model = build(DEFAULT_MODEL, input_shape, len(classes), rng=np.random.default_rng(seed))
    expected = model.metadata.get("input_shape")
    if expected and tuple(expected) != input_shape:
        raise ValueError(f"the model takes inputs of shape {tuple(expected)} but dataset {dataset!r} "
                         f"has images of shape {input_shape}; pass --dataset with matching images")
    saved = model.metadata.get("classes")
    if saved and len(saved) == len(classes):
        classes = list(saved)
    try:
        studio = Studio(model, ((x_train, y_train), (x_test, y_test)), classes, seed=seed,
                        name=name or "model")
    except ValueError as error:
        raise ValueError(f"the model cannot take dataset {dataset!r}'s images of shape {input_shape}: "
                         f"{error}") from None
    _check_outputs(studio, dataset)
    return studio


def _check_outputs(studio, dataset) -> None:
    """The model must give one logit per class of the dataset."""
    outputs = studio.describe()["layers"][-1]["output_shape"]
    if outputs != [len(studio.classes)]:
        raise ValueError(f"the model's last layer gives shape {tuple(outputs)} per image, but dataset "
                         f"{dataset!r} has {len(studio.classes)} classes; expected logits of shape "
                         f"({len(studio.classes)},)")


__all__ = ["open_studio", "Studio", "StudioServer", "ApiError", "MAX_BODY"]
