"""Checks for the studio's JSON requests: every problem becomes an :class:`ApiError` whose message
names what was wrong, what was expected and what was given (answered with 400 and ``{"error": …}``).
"""

from __future__ import annotations

import json
import math

import numpy as np

from .session import MAX_BATCH

MAX_BODY = 2 * 1024 * 1024  # bytes; larger bodies are answered with 413


class ApiError(Exception):
    """A request the studio refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_body(body: bytes) -> dict:
    """The request body as a JSON object."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ApiError(f"the body must be a JSON object; could not parse it ({error})") from None
    if not isinstance(value, dict):
        raise ApiError(f"the body must be a JSON object, got {type(value).__name__}")
    return value


def _refuse_constant(name):
    raise ApiError(f"numbers must be finite; got {name}")


def explain_request(value: dict, input_shape, num_classes: int):
    """``{"image": …, "target": int|null}`` → (image (C, H, W) float32, target or None)."""
    _only_keys(value, {"image", "target"})
    if "image" not in value:
        raise ApiError('missing "image": give a list of rows (H, W) or of channels (C, H, W) in [0, 1]')
    image = _image(value["image"], tuple(input_shape))
    target = value.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int)
                               or not 0 <= target < num_classes):
        raise ApiError(f'"target" must be null or a class index 0…{num_classes - 1}, got {target!r}')
    return image, target


def _image(raw, input_shape) -> np.ndarray:
    channels, height, width = input_shape
    expected = (f"({height}, {width}) or (1, {height}, {width})" if channels == 1
                else f"({channels}, {height}, {width})")
    try:
        array = np.array(raw, dtype=np.float64)
    except (ValueError, TypeError):
        raise ApiError(f'"image" must be a rectangular array of numbers of shape {expected}') from None
    if array.ndim == 2 and channels == 1:
        array = array[None]
    if array.shape != input_shape:
        raise ApiError(f'"image" must have shape {expected}, got {array.shape}')
    if not np.isfinite(array).all():
        raise ApiError('"image" values must be finite numbers in [0, 1]')
    if array.min() < 0 or array.max() > 1:
        raise ApiError(f'"image" values must be in [0, 1], got {array.min():g} … {array.max():g}')
    return array.astype(np.float32)


def train_request(value: dict) -> dict:
    """``{"action": "start"|"pause"|"step"?, "lr": float?, "batch_size": int?}``, checked."""
    _only_keys(value, {"action", "lr", "batch_size"})
    action = value.get("action")
    if action not in (None, "start", "pause", "step"):
        raise ApiError(f'"action" must be "start", "pause" or "step", got {action!r}')
    lr = value.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not math.isfinite(lr) or not 0 < lr <= 10):
        raise ApiError(f'"lr" must be a number in (0, 10], got {lr!r}')
    batch = value.get("batch_size")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int)
                              or not 1 <= batch <= MAX_BATCH):
        raise ApiError(f'"batch_size" must be an integer from 1 to {MAX_BATCH}, got {batch!r}')
    return {"action": action, "lr": lr, "batch_size": batch}


def _only_keys(value: dict, allowed: set) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ApiError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected only "
                       f"{', '.join(sorted(allowed))}")
