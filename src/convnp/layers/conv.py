"""Conv2d: a bank of learnable filters slid over the image (torch.nn.Conv2d's semantics)."""

from __future__ import annotations

import numpy as np

from .._checks import positive_int
from ..engines import get_engine, ops
from ..functional._args import padding_amounts, pair
from ..functional.conv import conv_geometry
from ..init import as_generator, bias_uniform, check_float_dtype, kaiming_uniform
from ..parameter import Parameter
from .base import Layer


class Conv2d(Layer):
    """2-D convolution over NCHW images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), 'valid' or 'same', default 0
        Zero padding. ``'same'`` (stride 1 only) keeps H and W; for an even kernel the extra row
        and column go at the bottom/right, as in torch.
    bias : bool, default True
    dtype : numpy floating dtype, default float32
    rng : None, int or numpy.random.Generator
        Source of the initial weights.

    Attributes
    ----------
    weight : Parameter, shape (out_channels, in_channels, KH, KW)
        Initialised ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = in_channels*KH*KW``
        (torch's Kaiming-uniform default).
    bias : Parameter of shape (out_channels,), or None

    Shapes
    ------
    x (N, C_in, H, W) -> y (N, C_out, OH, OW), ``OH = (H + pad_h - KH) // SH + 1``.
    The math: :func:`convnp.functional.conv2d_forward` / :func:`~convnp.functional.conv2d_backward`
    (im2col, one matrix product, col2im), or their engine twins in :mod:`convnp.fast`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size")
        self.stride = pair(stride, "Conv2d stride")
        pads = padding_amounts(padding, self.kernel_size, self.stride, "Conv2d")  # 'same': stride 1
        self.padding = padding if isinstance(padding, str) else (pads[0], pads[2])
        dtype = check_float_dtype(dtype, "Conv2d")
        rng = as_generator(rng)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = Parameter(kaiming_uniform(shape, fan_in, rng, dtype), "weight")
        self.bias = Parameter(bias_uniform(self.out_channels, fan_in, rng, dtype), "bias") if bias else None

    def check_input(self, x):
        """Raise a TypeError/ValueError naming this layer unless ``x`` is an input it takes:
        a float array (N, in_channels, H, W) of the weights' dtype, no smaller than the kernel."""
        self._check_input(x, 4, f"(N, {self.in_channels}, H, W)", 1, self.in_channels,
                          self.weight.dtype)
        try:
            conv_geometry(x.shape, self.weight.shape, self.stride, self.padding)
        except ValueError as error:  # input smaller than the kernel
            raise ValueError(f"{self!r}: {error}") from None

    def forward(self, x):
        self.check_input(x)
        bias = None if self.bias is None else self.bias.data
        engine = get_engine()
        y, cache = ops(engine).conv2d_forward(x, self.weight.data, bias, self.stride, self.padding)
        self._cache = (engine, cache, y.shape)  # backward runs the same engine's twin
        return y

    def backward(self, dy):
        engine, cache, y_shape = self._saved()
        self._check_grad(dy, y_shape)
        dx, dweight, dbias = ops(engine).conv2d_backward(dy, cache)
        np.copyto(self.weight.grad, dweight)
        if self.bias is not None:
            np.copyto(self.bias.grad, dbias)
        return dx

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "bias": self.bias is not None, "dtype": str(self.weight.dtype)}

    def __repr__(self):
        kh, kw = self.kernel_size
        text = f"Conv2d({self.in_channels}→{self.out_channels}, k={kh if kh == kw else f'{kh}x{kw}'}"
        if self.stride != (1, 1):
            text += f", stride={self.stride[0] if len(set(self.stride)) == 1 else self.stride}"
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding!r}"
        return text + ")"
