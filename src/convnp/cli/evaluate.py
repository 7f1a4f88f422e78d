"""``convnp evaluate``: accuracy, per-class accuracy and confusion matrix of a trained model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import datasets, viz
from ..datasets.catalog import SOURCES
from ..losses import CrossEntropyLoss
from .common import CLIError, class_names, load_split_data, open_model, percent


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="measure a trained model on a dataset's test split",
        description="Print accuracy, per-class accuracy and the confusion matrix of a model on the "
                    "test split; with the viz extra also write confusion.png and misclassified.png.")
    parser.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="run directory or model .npz")
    parser.add_argument("--dataset", choices=datasets.names(),
                        help="default: the dataset the model was trained on")
    parser.add_argument("--limit", type=int, help="use only the first N test images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", help="directory for confusion.png and misclassified.png "
                        "(default: beside the model)")
    parser.add_argument("--root", help="data directory (default $CONVNP_DATA or ~/.cache/convnp)")
    parser.add_argument("--download", action="store_true", help="download missing dataset files")
    parser.set_defaults(run=run)


def run(args) -> int:
    model, path = open_model(args.model)
    dataset = args.dataset or model.metadata.get("dataset")
    if dataset is None:
        raise CLIError(f"{path} does not say which dataset it was trained on; pass --dataset")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    expected = model.metadata.get("input_shape")
    if expected and list(expected) != list(datasets.info(dataset).input_shape):
        raise CLIError(f"{path} takes inputs of shape {tuple(expected)}, but {dataset} images have "
                       f"shape {datasets.info(dataset).input_shape}; pass a --dataset it was built for")
    _, (x, y) = load_split_data(dataset, args.root, args.download, args.limit)
    x, y = exclude_training_images(model, dataset, x, y)
    logits = model.predict(x, batch_size=args.batch_size)
    names = class_names(model, logits.shape[1])
    if len(names) != len(datasets.info(dataset).classes):
        raise CLIError(f"the model has {len(names)} outputs but {dataset} has "
                       f"{len(datasets.info(dataset).classes)} classes")
    predicted = logits.argmax(axis=1)
    matrix = viz.confusion_matrix(y, predicted, len(names))
    loss = CrossEntropyLoss()(logits, y)
    print(f"{dataset} test split, {len(x)} images: accuracy {percent(np.trace(matrix) / len(x))}, "
          f"loss {loss:.4f}")
    print(format_per_class(matrix, names))
    print(format_matrix(matrix, names))
    if viz.available():
        picture = (Path(args.out) if args.out else path.parent) / "confusion.png"
        viz.plot_confusion_matrix(y, predicted, names, picture)
        mistakes = picture.with_name("misclassified.png")
        viz.plot_misclassified(model, x, y, names, mistakes, logits=logits)
        print(f"wrote {picture}")
        print(f"wrote {mistakes}")
    else:
        print(f"(no confusion.png, misclassified.png: {viz.VIZ_HINT})", file=sys.stderr)
    return 0


def exclude_training_images(model, dataset, x, y):
    """Drop test images the model trained on: mnist-sample's train split is MNIST's t10k[:8000].

    Evaluating such a model on full MNIST would otherwise report "test" accuracy on 8,000
    images it has seen. Says what it did on stderr.
    """
    trained_on = model.metadata.get("dataset")
    if trained_on != "mnist-sample" or dataset != "mnist":
        return x, y
    seen = SOURCES["mnist-sample"].split_at  # t10k[:8000] is its train split
    if len(x) <= seen:
        raise CLIError(f"this model trained on mnist-sample, i.e. on MNIST test images "
                       f"0-{seen - 1}; evaluate it on more than {seen} images (drop --limit) "
                       f"or on --dataset mnist-sample")
    print(f"note: this model trained on mnist-sample, whose {seen:,} training images are MNIST "
          f"test images 0-{seen - 1}; evaluating on the other {len(x) - seen:,} only", file=sys.stderr)
    return x[seen:], y[seen:]


def format_per_class(matrix, names) -> str:
    width = max(len(name) for name in names)
    lines = ["per-class accuracy:"]
    for index, name in enumerate(names):
        total = matrix[index].sum()
        accuracy = percent(matrix[index, index] / total) if total else "n/a"
        lines.append(f"  {name:<{width}}  {accuracy:>8}  ({matrix[index, index]}/{total})")
    return "\n".join(lines)


def format_matrix(matrix, names) -> str:
    width = max(5, len(str(matrix.max())) + 1)
    labels = [name[:width - 1] for name in names]
    lines = ["confusion matrix (rows: true class, columns: predicted):",
             " " * (width + 2) + "".join(f"{label:>{width}}" for label in labels)]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"{label:>{width}}  " + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)
