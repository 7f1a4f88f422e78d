"""``convnp predict``: classify image files (PNG, JPEG, …) with a trained model."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .. import functional as F
from ..viz.image_files import read_image
from .common import CLIError, class_names, open_model


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict", help="classify image files with a trained model",
        description="Load images (EXIF orientation applied, transparency composited on white, "
                    "converted to the model's channels and resized to its input size), print the "
                    "most probable classes. Gray models expect light digits on a dark background, "
                    "as MNIST: a dark drawing on light paper is inverted automatically (and the "
                    "output says so); --invert / --no-invert force the choice.")
    parser.add_argument("model", metavar="MODEL", help="run directory or model .npz")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    parser.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                        help="invert pixel values (1 - x); default: automatic for gray models")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    parser.set_defaults(run=run)


def load_image(path, input_shape, invert=None) -> np.ndarray:
    """Read an image file as one model input of shape (C, H, W), float32 in [0, 1].

    See :func:`convnp.viz.image_files.read_image`; what it changed is printed on stderr.
    """
    try:
        pixels, notes = read_image(path, input_shape, invert)
    except ValueError as error:
        raise CLIError(str(error)) from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return pixels


def run(args) -> int:
    model, path = open_model(args.model)
    input_shape = model.metadata.get("input_shape")
    if not input_shape or len(input_shape) != 3:
        raise CLIError(f"{path} does not record its input shape; save it with metadata "
                       f"{{'input_shape': [C, H, W]}} or train it with 'convnp train'")
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    batch = np.stack([load_image(image, input_shape, args.invert) for image in args.images])  # (N, C, H, W)
    try:
        logits = model.predict(batch)
    except ValueError as error:
        raise CLIError(f"{path} does not take its recorded input shape {input_shape} ({error})") from None
    probabilities = F.softmax(logits.astype(np.float64), axis=1)  # (N, K)
    names = class_names(model, probabilities.shape[1])
    results = []
    for image, row in zip(args.images, probabilities, strict=True):
        best = np.argsort(-row, kind="stable")[:args.top]
        results.append({"path": str(image), "top": [
            {"class": int(k), "name": names[k], "probability": float(row[k])} for k in best]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            ranked = ", ".join(f"{t['name']} ({100 * t['probability']:.1f}%)" for t in result["top"])
            print(f"{result['path']}: {ranked}")
    return 0
