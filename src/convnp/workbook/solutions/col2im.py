# convnp exercise: col2im
"""col2im: fold a column matrix back into images, *adding* where windows overlap.

It is the adjoint (transpose) of im2col, which is why a convolution's input gradient is
``col2im(dcol, x.shape, ...)``: every element of x appeared in several windows, so its gradient
is the sum of the gradients of all those copies.

Shapes
------
col (N*OH*OW, C*FH*FW), input_shape (N, C, H, W) -> img (N, C, H, W).

Layout (as im2col's, *Deep Learning from Scratch*): rows (n, oh, ow), columns (c, kh, kw)::

    img_padded[n, c, i*stride + p, j*stride + q] += col[(n*OH + i)*OW + j, (c*FH + p)*FW + q]

then the ``pad`` border is cut off. Check: sum(im2col(x) * col) == sum(x * col2im(col)).
Check your work with ``convnp exercise check col2im.py``.
"""

import numpy as np


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    # BEGIN col2im: return img of input_shape
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for p in range(filter_h):
        p_max = p + stride * out_h
        for q in range(filter_w):
            q_max = q + stride * out_w
            img[:, :, p:p_max:stride, q:q_max:stride] += col[:, :, p, q, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]
    # END


if __name__ == "__main__":  # the first case the checker tries
    col = np.ones((4, 4))  # four 2x2 windows of a 1x1x3x3 image, stride 1
    print(col2im(col, (1, 1, 3, 3), 2, 2))  # [[1 2 1] [2 4 2] [1 2 1]]: how many windows hold each pixel
