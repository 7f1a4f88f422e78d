"""MaxPool2d and AvgPool2d: parameter-free downsampling over sliding windows."""

from __future__ import annotations

from ..engines import get_engine, ops
from ..functional._args import padding_amounts, pair
from ..functional.pooling import pool_geometry
from .base import Layer


class _Pool2d(Layer):
    """Shared constructor, checks and repr of the two pooling layers."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, f"{type(self).__name__} kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, f"{type(self).__name__} stride")
        if isinstance(padding, str):
            raise TypeError(f"{type(self).__name__}: padding must be an int or (h, w), got {padding!r}")
        pads = padding_amounts(padding, self.kernel_size, self.stride, type(self).__name__)
        # pads: (top, bottom, left, right)
        self.padding = (pads[0], pads[2])
        pool_geometry((1, 1) + tuple(self.kernel_size), self.kernel_size, self.stride, self.padding,
                      repr(self))  # validates padding <= kernel/2 at construction

    def check_input(self, x):
        """Raise a TypeError/ValueError naming this layer unless ``x`` is an (N, C, H, W) float
        array at least as large as the window."""
        self._check_input(x, 4, "(N, C, H, W)")
        try:
            pool_geometry(x.shape, self.kernel_size, self.stride, self.padding, repr(self))
        except ValueError as error:
            raise ValueError(str(error)) from None

    def config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding)}

    def __repr__(self):
        def short(v):
            return v[0] if v[0] == v[1] else v
        text = f"{type(self).__name__}(k={short(self.kernel_size)}"
        if self.stride != self.kernel_size:
            text += f", stride={short(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={short(self.padding)}"
        return text + ")"


class MaxPool2d(_Pool2d):
    """Maximum over each window (torch.nn.MaxPool2d).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int, (int, int) or None (= kernel_size)
    padding : int or (int, int), at most half the kernel; padded with -inf.

    Shapes: (N, C, H, W) -> (N, C, OH, OW). The gradient goes only to each window's maximum,
    the first one in row-major order on ties (torch's rule).
    """

    def forward(self, x):
        self.check_input(x)
        engine = get_engine()
        y, cache = ops(engine).max_pool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self._cache = (engine, cache, y.shape)
        return y

    def backward(self, dy):
        engine, cache, y_shape = self._saved()
        self._check_grad(dy, y_shape)
        return ops(engine).max_pool2d_backward(dy, cache)


class AvgPool2d(_Pool2d):
    """Mean over each window (torch.nn.AvgPool2d with count_include_pad=True).

    Parameters as :class:`MaxPool2d`; zero padding counts in the mean, so every output is
    ``window sum / (KH*KW)`` and every input in a window receives ``dy / (KH*KW)``.
    """

    def forward(self, x):
        self.check_input(x)
        engine = get_engine()
        y, cache = ops(engine).avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self._cache = (engine, cache, y.shape)
        return y

    def backward(self, dy):
        engine, cache, y_shape = self._saved()
        self._check_grad(dy, y_shape)
        return ops(engine).avg_pool2d_backward(dy, cache)
