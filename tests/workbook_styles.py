"""Learner files in styles the workbook must accept (loops, float32, the book's own code)."""

# A loop-based Convolution in float32, written the way a learner fresh from the seeds would:
# no im2col at all, different names. It must pass conv-backward.
LOOP_CONVOLUTION = '''# convnp exercise: conv-backward
import numpy as np


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W.astype(np.float32), b.astype(np.float32), stride, pad

    def forward(self, x):
        self.x_padded = np.pad(x.astype(np.float32), [(0, 0), (0, 0), (self.pad,) * 2, (self.pad,) * 2])
        batch, _, height, width = self.x_padded.shape
        filters, _, kh, kw = self.W.shape
        self.out_h = (height - kh) // self.stride + 1
        self.out_w = (width - kw) // self.stride + 1
        out = np.zeros((batch, filters, self.out_h, self.out_w), dtype=np.float32)
        for n in range(batch):
            for f in range(filters):
                for i in range(self.out_h):
                    for j in range(self.out_w):
                        top, left = i * self.stride, j * self.stride
                        window = self.x_padded[n, :, top:top + kh, left:left + kw]
                        out[n, f, i, j] = np.sum(window * self.W[f]) + self.b[f]
        return out

    def backward(self, dout):
        filters, _, kh, kw = self.W.shape
        dx_padded = np.zeros_like(self.x_padded)
        self.dW = np.zeros_like(self.W)
        self.db = dout.sum(axis=(0, 2, 3))
        for n in range(dout.shape[0]):
            for f in range(filters):
                for i in range(self.out_h):
                    for j in range(self.out_w):
                        top, left = i * self.stride, j * self.stride
                        window = self.x_padded[n, :, top:top + kh, left:left + kw]
                        self.dW[f] += dout[n, f, i, j] * window
                        dx_padded[n, :, top:top + kh, left:left + kw] ACCUMULATE dout[n, f, i, j] * self.W[f]
        p = self.pad
        return dx_padded[:, :, p:dx_padded.shape[2] - p, p:dx_padded.shape[3] - p]
'''


# The book's own SoftmaxWithLoss (cross_entropy_error adds 1e-7 inside the log): right too.
BOOK_SOFTMAX_WITH_LOSS = '''# convnp exercise: softmax-with-loss
import numpy as np


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx
'''

# A loop-based MaxPool backward; ACCUMULATE is += (right) or = (overlapping windows overwrite).
LOOP_MAXPOOL_BACKWARD = '''
    def backward(self, dout):
        dx = np.zeros(self.x.shape)
        batch, channels, out_h, out_w = dout.shape
        for n in range(batch):
            for c in range(channels):
                for i in range(out_h):
                    for j in range(out_w):
                        k = self.arg_max[((n * out_h + i) * out_w + j) * channels + c]
                        row = i * self.stride + k // self.pool_w - self.pad
                        col = j * self.stride + k % self.pool_w - self.pad
                        dx[n, c, row, col] ACCUMULATE dout[n, c, i, j]
        return dx
'''

def write(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path
