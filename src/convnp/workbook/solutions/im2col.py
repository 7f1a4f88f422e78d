# convnp exercise: im2col
"""im2col: unfold every window of a batch of images into one row of a matrix.

With it, a convolution becomes one matrix product: ``im2col(x) @ W.reshape(FN, -1).T``.

Shapes
------
input_data (N, C, H, W) -> col (N*OH*OW, C*FH*FW), where
OH = (H + 2*pad - filter_h) // stride + 1 and OW = (W + 2*pad - filter_w) // stride + 1.

Layout (as in *Deep Learning from Scratch*): rows ordered (n, oh, ow), columns (c, kh, kw)::

    col[(n*OH + i)*OW + j, (c*FH + p)*FW + q] = x_padded[n, c, i*stride + p, j*stride + q]

where x_padded is the input with ``pad`` zeros on every side of H and W.
Check your work with ``convnp exercise check im2col.py``.
"""

import numpy as np


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    # BEGIN im2col: return col (N*OH*OW, C*FH*FW)
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for p in range(filter_h):  # one kernel offset (p, q) at a time: all windows at once
        p_max = p + stride * out_h
        for q in range(filter_w):
            q_max = q + stride * out_w
            col[:, :, p, q, :, :] = img[:, :, p:p_max:stride, q:q_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)  # rows (n, oh, ow)
    # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    print(im2col(x, 2, 2, stride=2))  # [[0 1 4 5] [2 3 6 7] [8 9 12 13] [10 11 14 15]]
