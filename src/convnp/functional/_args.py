"""Normalisation and validation of the size arguments shared by convolution and pooling."""

from __future__ import annotations

import numbers


def _plain_int_pair(value) -> bool:
    """True for a tuple of two Python ints (no subclass such as bool)."""
    return type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int


def pair(value, name: str) -> tuple[int, int]:
    """Return ``value`` as a ``(h, w)`` pair of positive ints (an int means both)."""
    if _plain_int_pair(value) and min(value) > 0:
        return value  # what layers store: the quick check (isinstance(numbers.Integral) is slow)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {value!r}")
    if min(result) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return result


def padding_amounts(padding, kernel: tuple[int, int], stride: tuple[int, int],
                    who: str = "") -> tuple[int, ...]:
    """Translate a padding argument into explicit ``(top, bottom, left, right)`` amounts.

    Parameters
    ----------
    padding : int, (int, int), 'valid' or 'same'
        ``'valid'`` means no padding. ``'same'`` (stride 1 only, as in torch) pads ``k - 1`` in
        total per axis, the smaller half first: ``top = (k - 1) // 2``, ``bottom = k - 1 - top``.
    kernel, stride : (int, int)
    who : str
        Name that starts each error message (a layer passes its own, e.g. ``"Conv2d"``).
    """
    if _plain_int_pair(padding) and min(padding) >= 0:  # what layers store: the quick check
        return (padding[0], padding[0], padding[1], padding[1])
    prefix = f"{who}: " if who else ""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{prefix}padding='same' is only supported with stride 1, "
                                 f"got stride {stride}")
            (top, left) = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
            return (top, kernel[0] - 1 - top, left, kernel[1] - 1 - left)
        raise ValueError(f"{prefix}padding must be an int, a pair, 'valid' or 'same', "
                         f"got {padding!r}")
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = (padding, padding)
    if not (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding)):
        raise TypeError(f"{prefix}padding must be an int, a pair, 'valid' or 'same', "
                        f"got {padding!r}")
    if min(padding) < 0:
        raise ValueError(f"{prefix}padding must be non-negative, got {padding!r}")
    return (int(padding[0]), int(padding[0]), int(padding[1]), int(padding[1]))


def output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> int:
    """Number of window positions along one axis: ``floor((size + pads - kernel) / stride) + 1``."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def output_hw(in_hw, kernel, stride, pads, who: str) -> tuple[int, int]:
    """Output height and width of a sliding window, with a clear error when the input is too small."""
    out_h = output_size(in_hw[0], kernel[0], stride[0], pads[0], pads[1])
    out_w = output_size(in_hw[1], kernel[1], stride[1], pads[2], pads[3])
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"{who}: input of spatial size {tuple(in_hw)} with padding {pads} is smaller than the "
            f"kernel {tuple(kernel)}; the output would be empty"
        )
    return out_h, out_w
