"""``convnp predict``: classify image files (PNG, JPEG, …) with a trained model."""

from __future__ import annotations

import json

import numpy as np

from .. import functional as F
from ..viz import VIZ_HINT
from .common import CLIError, class_names, open_model


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict", help="classify image files with a trained model",
        description="Load images (converted to the model's channels and resized to its input size), "
                    "print the most probable classes. MNIST-style models expect light digits on a "
                    "dark background: use --invert for dark-on-light drawings.")
    parser.add_argument("model", metavar="MODEL", help="run directory or model .npz")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    parser.add_argument("--invert", action="store_true", help="invert pixel values (1 - x)")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    parser.set_defaults(run=run)


def load_image(path, input_shape, invert=False) -> np.ndarray:
    """Read an image file as one model input of shape (C, H, W), float32 in [0, 1]."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CLIError(f"reading images needs Pillow; {VIZ_HINT}") from None
    channels, height, width = input_shape
    if channels not in (1, 3):
        raise CLIError(f"the model takes {channels}-channel inputs; only 1 (gray) or 3 (RGB) can be read")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
    except FileNotFoundError:
        raise CLIError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise CLIError(f"cannot read {path} as an image ({error})") from None
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)
    return 1.0 - pixels if invert else pixels


def run(args) -> int:
    model, path = open_model(args.model)
    input_shape = model.metadata.get("input_shape")
    if not input_shape:
        raise CLIError(f"{path} does not record its input shape; save it with metadata "
                       f"{{'input_shape': [C, H, W]}} or train it with 'convnp train'")
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    batch = np.stack([load_image(image, input_shape, args.invert) for image in args.images])  # (N, C, H, W)
    probabilities = F.softmax(model.predict(batch).astype(np.float64), axis=1)  # (N, K)
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
