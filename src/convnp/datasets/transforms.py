"""Batch transforms for data augmentation and normalisation, vectorised over the batch.

Each transform is a callable ``t(x, rng=None) -> x`` on a floating batch (N, C, H, W): the shape
``Sequential.fit(..., augment=t)`` expects (fit passes its shuffling Generator as ``rng``, so a
seeded run is reproducible). Transforms return a new array of the input's dtype and never modify
the input. Example::

    from convnp.datasets import transforms as T
    normalize = T.Normalize.from_data(x_train)
    x_train, x_test = normalize(x_train), normalize(x_test)     # every split, once
    augment = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    model.fit(x_train, y_train, ..., augment=augment)            # training batches only

``augment`` is applied to training batches only, so put deterministic preprocessing such as
:class:`Normalize` on the data itself (as above), not in ``augment``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..init import as_generator


def _check_batch(x, who) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: expected a NumPy array (N, C, H, W), got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{who}: expected a floating-point batch, got dtype {x.dtype}; "
                        f"convert with x.astype(np.float32) / 255")
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a batch of shape (N, C, H, W), got {x.shape}")


def _non_negative_int(value, name, who) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{who}: {name} must be a non-negative int, got {value!r}")
    return int(value)


def _probability(p, who) -> float:
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ValueError(f"{who}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


class RandomCrop:
    """Zero-pad each image by ``padding`` on every side, then cut a random ``size`` window from it.

    Parameters
    ----------
    size : int or (int, int)
        Output (height, width).
    padding : int, default 0

    Each image gets its own offsets ``top`` in ``[0, H + 2*padding - height]`` and ``left``
    likewise, drawn uniformly; the windows are gathered in one indexing operation from a
    ``sliding_window_view`` of the padded batch (no loop over images).
    """

    def __init__(self, size, padding=0):
        sizes = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        if len(sizes) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                      and v >= 1 for v in sizes):
            raise ValueError(f"RandomCrop: size must be a positive int or (height, width), got {size!r}")
        self.size = (int(sizes[0]), int(sizes[1]))
        self.padding = _non_negative_int(padding, "padding", "RandomCrop")

    def __call__(self, x, rng=None):
        _check_batch(x, repr(self))
        pad, (height, width) = self.padding, self.size
        padded_h, padded_w = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
        if height > padded_h or width > padded_w:
            raise ValueError(f"{self!r}: crop {self.size} is larger than the padded image "
                             f"({padded_h}, {padded_w}) of input {x.shape}")
        rng = as_generator(rng)
        count = x.shape[0]
        top = rng.integers(0, padded_h - height + 1, size=count)
        left = rng.integers(0, padded_w - width + 1, size=count)
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
        windows = sliding_window_view(padded, (height, width), axis=(2, 3))  # (N, C, OH, OW, h, w)
        # advanced indices split by the channel slice: their (N,) axis goes first -> (N, C, h, w)
        return windows[np.arange(count), :, top, left]

    def __repr__(self):
        size = self.size[0] if self.size[0] == self.size[1] else self.size
        return f"RandomCrop(size={size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (independently per image)."""

    def __init__(self, p=0.5):
        self.p = _probability(p, "RandomHorizontalFlip")

    def __call__(self, x, rng=None):
        _check_batch(x, repr(self))
        flip = as_generator(rng).random(x.shape[0]) < self.p  # (N,) bool
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p:g})"


class Normalize:
    """Per-channel standardisation ``(x - mean[c]) / std[c]`` (torchvision's Normalize, batched).

    Parameters
    ----------
    mean, std : sequence of C floats (or one float for every channel); std > 0
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64)).copy()
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64)).copy()
        if self.mean.ndim != 1 or self.std.ndim != 1 or (
                len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std))):
            raise ValueError(f"Normalize: mean and std must be sequences of one value per channel "
                             f"of the same length, got {self.mean.shape} and {self.std.shape}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError(f"Normalize: std must be positive and finite and mean finite, got "
                             f"mean {self.mean.tolist()}, std {self.std.tolist()}")

    @classmethod
    def from_data(cls, x) -> Normalize:
        """The Normalize that maps ``x`` (N, C, H, W) to zero mean and unit std per channel.

        Statistics over N, H and W, computed in float64; std is the population one (ddof=0).
        """
        _check_batch(x, "Normalize.from_data")
        std = x.std(axis=(0, 2, 3), dtype=np.float64)
        if not np.all(std > 0):
            raise ValueError(f"Normalize.from_data: channels {np.flatnonzero(std <= 0).tolist()} are "
                             f"constant (std 0) and cannot be standardised")
        return cls(x.mean(axis=(0, 2, 3), dtype=np.float64), std)

    def __call__(self, x, rng=None):
        _check_batch(x, repr(self))
        channels = max(len(self.mean), len(self.std))
        if channels != 1 and x.shape[1] != channels:
            raise ValueError(f"{self!r}: expected a batch with {channels} channels (N, {channels}, H, W), "
                             f"got {x.shape}")
        mean = self.mean.astype(x.dtype).reshape(1, -1, 1, 1)
        std = self.std.astype(x.dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std

    def __repr__(self):
        values = ", ".join(f"{v:.4g}" for v in self.mean)
        spreads = ", ".join(f"{v:.4g}" for v in self.std)
        return f"Normalize(mean=[{values}], std=[{spreads}])"


class Compose:
    """Apply transforms in order, all drawing from the same ``rng``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for index, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(f"Compose: item {index} must be a transform (callable), got "
                                f"{type(transform).__name__}")

    def __call__(self, x, rng=None):
        rng = as_generator(rng)
        out = x
        for transform in self.transforms:
            out = transform(out, rng)
        return out if out is not x else x.copy()

    def __repr__(self):
        return f"Compose([{', '.join(map(repr, self.transforms))}])"


__all__ = ["RandomCrop", "RandomHorizontalFlip", "Normalize", "Compose"]
