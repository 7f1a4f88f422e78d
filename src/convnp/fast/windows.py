"""Strided windows over channels-last images, and their adjoint (scatter-add of window gradients).

The fast convolution and pooling kernels work on channels-last (N, H, W, C) memory: then every
window row is a run of C contiguous numbers, which makes the window copy several times cheaper
than on NCHW memory (docs/performance.md, "Window matrices and chunking"). Layers still take
and return NCHW arrays; the NCHW views they return simply have channels-last strides.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import workspace
from .routes import forced

COLUMN_CHUNK_BYTES = 2 * 2**20  # window matrices beyond KEEP_COLUMNS_BYTES are built in pieces this large
KEEP_COLUMNS_BYTES = 8 * 2**20  # a window matrix up to this size is built whole (and kept for dW)


def pad_channels_last(x: np.ndarray, pads, fill: float = 0.0) -> np.ndarray:
    """Copy an NCHW array into a new padded channels-last array.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    pads : (top, bottom, left, right)
    fill : value of the padded border (0 for convolution, -inf for max-pooling).

    Returns
    -------
    ndarray, shape (N, H + top + bottom, W + left + right, C), C-contiguous.
    """
    n, c, h, w = x.shape
    top, bottom, left, right = pads
    x_nhwc = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    if top == bottom == left == right == 0 and x_nhwc.flags.c_contiguous:
        return x_nhwc
    padded = workspace.empty((n, h + top + bottom, w + left + right, c), x.dtype)
    if top or bottom or left or right:
        padded.fill(fill)
    padded[:, top:top + h, left:left + w, :] = x_nhwc
    return padded


def window_view(padded: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """Read-only view of every (KH, KW) window of a padded channels-last array.

    Parameters
    ----------
    padded : ndarray, shape (N, Hp, Wp, C)
    kernel, stride, out_hw : (int, int)

    Returns
    -------
    ndarray view, shape (N, OH, OW, KH, KW, C); ``view[n, i, j]`` is the window whose top-left
    corner is ``padded[n, i * SH, j * SW]``. No data is copied.
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, hp, wp, c = padded.shape
    if oh < 1 or ow < 1 or (oh - 1) * sh + kh > hp or (ow - 1) * sw + kw > wp:
        raise ValueError(f"window_view: {out_hw} windows of {kernel} with stride {stride} do not fit "
                         f"in a padded image of {(hp, wp)}")
    step_n, step_y, step_x, step_c = padded.strides
    shape = (n, oh, ow, kh, kw, c)  # (N, OH, OW, KH, KW, C)
    strides = (step_n, step_y * sh, step_x * sw, step_y, step_x, step_c)
    if not padded.flags.c_contiguous:
        return as_strided(padded, shape, strides, writeable=False)
    # The same view built directly on the array's memory: several times cheaper than
    # sliding_window_view or as_strided, and a training step builds several
    # (docs/performance.md, "Python overhead").
    view = np.ndarray(shape, padded.dtype, buffer=padded, strides=strides)
    view.flags.writeable = False
    return view


def offset_slice(i: int, j: int, stride, out_hw) -> tuple[slice, slice, slice]:
    """Index of the elements that kernel offset (i, j) meets, one per output position.

    ``padded[(slice(None),) + offset_slice(i, j, ...)]`` has shape (N, OH, OW, C) for a
    channels-last array: element ``[n, y, x]`` is ``padded[n, y*SH + i, x*SW + j]``.
    """
    (sh, sw), (oh, ow) = stride, out_hw
    return (slice(None), axis_offset_slice(i, sh, oh), axis_offset_slice(j, sw, ow))


def axis_offset_slice(offset: int, step: int, count: int) -> slice:
    """Along one axis: positions ``o*step + offset`` for o < count (kernel offset ``offset`` of
    every window)."""
    return slice(offset, offset + (count - 1) * step + 1, step)


def offset_slices(kernel, stride, out_hw) -> list[tuple[slice, slice, slice]]:
    """:func:`offset_slice` for every kernel offset, in row-major (kh, kw) order."""
    return [offset_slice(i, j, stride, out_hw) for i in range(kernel[0]) for j in range(kernel[1])]


def scatter_add_windows(grad_windows: np.ndarray, padded_shape, stride) -> np.ndarray:
    """Adjoint of :func:`window_view`: sum window gradients back onto the padded image.

    Loops over the KH*KW kernel offsets only; each iteration is one strided slice ``+=`` over
    the whole batch (never ``np.add.at``, which is 5-10x slower:
    docs/performance.md, "Input-gradient routes").

    Parameters
    ----------
    grad_windows : ndarray, shape (N, OH, OW, KH, KW, C)
    padded_shape : (N, Hp, Wp, C)
    stride : (int, int)

    Returns
    -------
    ndarray, shape (N, Hp, Wp, C): ``out[n, y, x] = sum of grad_windows[n, i, j, p, q]`` over all
    windows (i, j) and offsets (p, q) with ``i*SH + p == y`` and ``j*SW + q == x``.
    """
    _, oh, ow, kh, kw, _ = grad_windows.shape
    grad_padded = workspace.zeros(padded_shape, grad_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            grad_padded[offset_slice(i, j, stride, (oh, ow))] += grad_windows[:, :, :, i, j, :]
    return grad_padded


def pixels(a: np.ndarray) -> np.ndarray:
    """View a channels-last array (..., C) as an array (...) whose items are whole pixels.

    Each item is the C contiguous numbers of one pixel, as one opaque (void) value, so copying
    between strided pixel layouts moves each pixel with one memcpy. NumPy copies plain float
    arrays with an inner loop along the last axis, several times slower when C is small
    (docs/performance.md, "Window matrices and chunking").
    """
    if a.ndim == 0 or (a.shape[-1] > 1 and a.strides[-1] != a.itemsize):
        raise ValueError(f"pixels: the channel axis must be the last, contiguous axis of a channels-last "
                         f"array; got shape {a.shape} with strides {a.strides}")
    return a.view(_pixel_dtype(a.shape[-1] * a.itemsize))[..., 0]


@functools.lru_cache(maxsize=64)
def _pixel_dtype(nbytes: int) -> np.dtype:
    """The opaque item of ``nbytes`` bytes (made once: building a dtype costs ~1 us per call)."""
    return np.dtype((np.void, nbytes))


def gather_offsets(padded: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """Every window element of a padded channels-last array, offset-major.

    Parameters
    ----------
    padded : ndarray, shape (N, Hp, Wp, C), C-contiguous
    kernel, stride, out_hw : (int, int)

    Returns
    -------
    ndarray, shape (KH*KW, N, OH, OW, C), C-contiguous: ``out[p*KW + q, n, i, j]`` is
    ``padded[n, i*SH + p, j*SW + q]``. Elementwise passes over it run on long contiguous
    runs, where passes over strided offset views of ``padded`` run C numbers at a time.
    """
    n, _, _, c = padded.shape
    gathered = workspace.empty((kernel[0] * kernel[1], n, *out_hw, c), padded.dtype)
    source, target = pixels(padded), pixels(gathered)  # (N, Hp, Wp), (KH*KW, N, OH, OW)
    for element, index in zip(target, offset_slices(kernel, stride, out_hw), strict=True):
        element[...] = source[index]
    return gathered


def scatter_offsets(values, padded_shape, kernel, stride, out_hw) -> np.ndarray:
    """Adjoint of :func:`gather_offsets`: sum offset-major values back onto the padded image.

    Parameters
    ----------
    values : ndarray (KH*KW, N, OH, OW, C), or any iterable of KH*KW C-contiguous
        (N, OH, OW, C) arrays in offset order (a generator may hand out one buffer again: each
        value is used before the next one is requested).
    padded_shape : (N, Hp, Wp, C)
    kernel, stride, out_hw : (int, int)

    Returns
    -------
    ndarray, shape (N, Hp, Wp, C). Overlapping windows are added in offset order; when the
    windows tile the image exactly, every element is copied once (no zero fill, no adds).
    """
    offsets = offset_slices(kernel, stride, out_hw)
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    tiled = not overlapping and all(size == out * k for size, out, k in
                                    zip(padded_shape[1:3], out_hw, kernel, strict=True))
    grad = None
    for index, value in zip(offsets, values, strict=True):
        if grad is None:
            make = workspace.empty if tiled else workspace.zeros
            grad = make(padded_shape, value.dtype)  # (N, Hp, Wp, C)
        if overlapping:
            grad[index] += value
        else:
            pixels(grad)[index] = pixels(value)  # (N, OH, OW) pixels
    return grad


def crop_to_nchw(padded: np.ndarray, pads, in_hw) -> np.ndarray:
    """Remove the padding of a channels-last array and return it as an NCHW view.

    (N, Hp, Wp, C) -> (N, C, H, W), a transposed view (channels-last strides, no copy).
    """
    top, _, left, _ = pads
    h, w = in_hw
    return padded[:, top:top + h, left:left + w, :].transpose(0, 3, 1, 2)


def columns_transposed(x: np.ndarray, kernel, stride, pads, out_hw, ones_row=False) -> np.ndarray:
    """The transposed window matrix of NCHW images, built with one strided copy per offset.

    For few input channels this is several times faster than building rows: each copy moves
    runs of OW contiguous numbers (docs/performance.md, "Window matrices and chunking").

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride, out_hw : (int, int); pads : (top, bottom, left, right)
    ones_row : bool
        Append a row of ones (for a bias folded into the weights).

    Returns
    -------
    ndarray, shape (C*KH*KW, N*OH*OW) (+1 row with ``ones_row``): row ``(c*KH + p)*KW + q``
    holds ``x_pad[n, c, i*SH + p, j*SW + q]`` for every output position (n, i, j), i.e.
    ``im2col(x).T``.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    top, bottom, left, right = pads
    padded = x
    if top or bottom or left or right:
        padded = np.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        padded[:, :, top:top + h, left:left + w] = x
    rows = c * kh * kw
    matrix = workspace.empty((rows + ones_row, n * oh * ow), x.dtype)
    columns = matrix[:rows].reshape(c, kh, kw, n, oh, ow)  # a view to fill
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]  # (N, C, OH, OW)
            columns[:, i, j] = window.transpose(1, 0, 2, 3)  # (C, N, OH, OW)
    if ones_row:
        matrix[rows] = 1
    return matrix


def images_per_chunk(n, image_bytes):
    """All ``n`` images when their window matrix is at most KEEP_COLUMNS_BYTES, else as many as
    fit in COLUMN_CHUNK_BYTES (at least one)."""
    chunk_bytes = forced("chunk_bytes")  # a test hook: routes.force_conv_route(chunk_bytes=...)
    if chunk_bytes is None and n * image_bytes <= KEEP_COLUMNS_BYTES:
        return n
    return max(1, (chunk_bytes or COLUMN_CHUNK_BYTES) // image_bytes)


def column_chunks(images, kernel, stride, out_hw, pads=(0, 0, 0, 0)):
    """Yield ``(row slice, window matrix)`` for consecutive chunks of images.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C), channels-last, *unpadded* (zero padding ``pads``,
        (top, bottom, left, right), is added here)
    kernel, stride, out_hw : (int, int)

    Each matrix is (images*OH*OW, KH*KW*C), columns ordered (kh, kw, c); the row slice says
    which rows of the full matrix it holds. When the matrix is built in chunks, each chunk's
    images are padded into one small reused buffer just before their windows are copied: the
    padded copy stays in cache, where a padded copy of the whole batch goes through memory
    twice (docs/performance.md, "Window matrices and chunking").
    """
    n, h, w, c = images.shape
    rows_per_image = out_hw[0] * out_hw[1]
    step = images_per_chunk(n, rows_per_image * kernel[0] * kernel[1] * c * images.itemsize)
    scratch = None  # chunks with padding: one buffer whose borders stay 0 (only the inside is written)
    if step < n and any(pads):
        scratch = workspace.zeros((step, h + pads[0] + pads[1], w + pads[2] + pads[3], c), images.dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        padded = pad_images(images[start:stop], pads, scratch)  # (images, Hp, Wp, C)
        windows = window_view(padded, kernel, stride, out_hw)  # (images, OH, OW, KH, KW, C) view
        columns = workspace.empty(((stop - start) * rows_per_image, windows[0, 0, 0].size), images.dtype)
        columns.reshape(windows.shape)[...] = windows  # the one copy
        yield slice(start * rows_per_image, stop * rows_per_image), columns


def pad_images(images, pads, scratch):
    """``images`` (n, H, W, C) zero-padded: in the first n images of ``scratch`` (whose borders
    must be 0) when given, else as :func:`pad_channels_last` does (themselves when no padding
    is needed and they are contiguous)."""
    if scratch is None:
        return pad_channels_last(images.transpose(0, 3, 1, 2), pads)
    top, _, left, _ = pads
    n, h, w, _ = images.shape
    padded = scratch[:n]  # (n, Hp, Wp, C)
    padded[:, top:top + h, left:left + w] = images
    return padded


def transposed_chunks(x, kernel, stride, pads, out_hw):
    """Yield ``(row slice, transposed window matrix with a row of ones)`` for chunks of images:
    (C*KH*KW + 1, images*OH*OW) each, see :func:`columns_transposed`."""
    n, c = x.shape[:2]
    rows_per_image = out_hw[0] * out_hw[1]
    step = images_per_chunk(n, rows_per_image * (c * kernel[0] * kernel[1] + 1) * x.itemsize)
    for start in range(0, n, step):
        stop = min(start + step, n)
        yield (slice(start * rows_per_image, stop * rows_per_image),
               columns_transposed(x[start:stop], kernel, stride, pads, out_hw, ones_row=True))
