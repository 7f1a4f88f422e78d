"""Every reference solution passes; planted bugs fail at the expected stage with the expected diagnosis.

Each mutant is the reference solution with one line changed (``old`` -> ``new``), as a learner
might write it. Other correct styles (loops, inverted dropout, torch's Adam) must pass.
The tables quote source lines verbatim, hence the long lines.
"""
# ruff: noqa: E501

import numpy as np
import pytest

import convnp as cn
from convnp.workbook import EXERCISES

MUTANTS = [
    # (exercise, old, new, failing stage, words the message must contain)
    ("relu", "        return np.where(self.mask, 0.0, dout)\n",
     "        dout[self.mask] = 0\n        return dout\n", "import and shapes", "in place"),
    ("relu", "        return np.where(self.mask, 0.0, dout)", "        return ~self.mask",
     "random cases", "backward returned the mask"),
    ("sigmoid", "            self.out = 1.0 / (1.0 + np.exp(-x))",
     "            self.out = np.exp(x) / (1.0 + np.exp(x))", "random cases", "numerical stability"),
    ("sigmoid", "        return dout * self.out * (1.0 - self.out)", "        return dout * self.out",
     "small readable case", "derivative is out * (1 - out)"),
    ("affine", "        self.db = np.sum(dout, axis=0)  # (M,)", "        self.db = np.mean(dout, axis=0)",
     "small readable case", "sum vs mean"),
    ("affine", "        return dx.reshape(self.original_x_shape)", "        return dx",
     "random cases", "layout"),
    ("affine", "        dx = dout @ self.W.T  # (N, D)", "        dx = -(dout @ self.W.T)",
     "small readable case", "sign"),
    ("softmax-with-loss", "        shifted = x - x.max(axis=1, keepdims=True)  # (N, K), row maximum 0",
     "        shifted = x", "random cases", "numerical stability"),
    ("softmax-with-loss", "        return dout * (self.y - self.t) / self.y.shape[0]",
     "        return dout * (self.y - self.t)", "small readable case", "sum vs mean"),
    ("softmax-with-loss", "        self.t = t if t.ndim == 2 else np.eye(x.shape[1], dtype=x.dtype)[t]",
     "        self.t = np.eye(x.shape[1], dtype=x.dtype)[t]", "random cases", "labels"),
    ("im2col", "    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)",
     "    return col.transpose(0, 4, 5, 2, 3, 1).reshape(N * out_h * out_w, -1)",
     "random cases", "(kh, kw, c)"),
    ("im2col", "            col[:, :, p, q, :, :] = img[:, :, p:p_max:stride, q:q_max:stride]",
     "            col[:, :, p, q, :, :] = img[:, :, p:p + out_h, q:q + out_w]", "small readable case",
     "stride"),
    ("col2im", "            img[:, :, p:p_max:stride, q:q_max:stride] += col[:, :, p, q, :, :]",
     "            img[:, :, p:p_max:stride, q:q_max:stride] = col[:, :, p, q, :, :]",
     "small readable case", "several windows"),
    ("col2im", "    return img[:, :, pad:H + pad, pad:W + pad]", "    return img[:, :, :H, :W]",
     "random cases", "padding"),
    ("conv-forward", "        col_W = self.W.reshape(FN, -1).T  # (C*FH*FW, FN)",
     "        col_W = self.W[:, :, ::-1, ::-1].reshape(FN, -1).T", "small readable case",
     "convolution vs cross-correlation"),
    ("conv-forward", "        return out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)  # (N, FN, OH, OW)",
     "        return out.reshape(N, FN, out_h, out_w)", "random cases", "layout"),
    ("conv-forward", "        col = im2col(x, FH, FW, self.stride, self.pad)  # (N*OH*OW, C*FH*FW)",
     "        col = im2col(x, FH, FW, self.stride, 0)", "random cases", "padding"),
    ("conv-forward", "        out = col @ col_W + self.b  # (N*OH*OW, FN)", "        out = col @ col_W",
     "random cases", "out differs"),
    ("conv-backward", "        self.db = np.sum(dout, axis=0)", "        self.db = np.mean(dout, axis=0)",
     "small readable case", "sum vs mean"),
    ("conv-backward", "        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)",
     "        self.dW = (self.col.T @ dout).reshape(FN, C, FH, FW)", "random cases", "layout"),
    ("conv-backward", "        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)",
     "        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)[:, :, ::-1, ::-1]",
     "small readable case", "rotated by 180°"),
    ("conv-backward", "        dcol = dout @ self.col_W.T  # (N*OH*OW, C*FH*FW)",
     "        dcol = -(dout @ self.col_W.T)", "small readable case", "sign"),
    ("conv-backward", "        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)\n",
     "        return col2im(dcol, self.x.shape, FH, FW, 1, self.pad)\n", "random cases", "stride"),
    ("conv-backward", "        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)\n",
     "        return col2im(dcol, self.x.shape, FH, FW, self.stride, 0)\n", "random cases", "padding"),
    ("conv-backward", "        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*OH*OW, FN)",
     "        dout *= 1.5\n        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN) / 1.5",
     "import and shapes", "in place"),
    ("maxpool-forward", "        out = np.max(col, axis=1).reshape(N, out_h, out_w, C)",
     "        out = np.mean(col, axis=1).reshape(N, out_h, out_w, C)", "small readable case",
     "average pooling"),
    ("maxpool-forward", "        col = im2col(x_padded, self.pool_h, self.pool_w, self.stride, 0)",
     "        col = im2col(x_padded, self.pool_h, self.pool_w, 1, 0)", "import and shapes",
     "at line 45 of maxpool-forward.py"),
    ("maxpool-backward", "        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()",
     "        col = im2col(np.pad(self.x, [(0, 0), (0, 0), (self.pad,) * 2, (self.pad,) * 2],\n"
     "                            constant_values=-np.inf), self.pool_h, self.pool_w, self.stride, 0)\n"
     "        col = col.reshape(-1, pool_size)\n"
     "        dmax[...] = (col == col.max(axis=1, keepdims=True)) * dout.reshape(-1, 1)",
     "random cases", "which maximum gets the gradient"),
    ("maxpool-backward", "        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()",
     "        dmax[np.arange(self.arg_max.size), self.arg_max] = -dout.ravel()",
     "small readable case", "sign"),
    ("batchnorm", "        dx = (dxn - dxn.mean(axis=0) - self.xn * (dxn * self.xn).mean(axis=0)) / self.std",
     "        dx = dxn / self.std", "small readable case", "dx differs"),
    ("batchnorm", "            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu",
     "            self.running_mean = mu", "test mode", "running"),
    ("dropout", "        return dout * self.mask", "        return dout", "import and shapes", "backward must pass"),
    ("dropout", "        return x * (1.0 - self.dropout_ratio)", "        return x", "import and shapes",
     "train_flg=False"),
    ("sgd", "            params[key] -= self.lr * grads[key]",
     "            params[key] = params[key] - self.lr * grads[key]", "import and shapes", "in place"),
    ("sgd", "            params[key] -= self.lr * grads[key]", "            params[key] -= grads[key]",
     "small readable case", "learning rate"),
    ("momentum", "            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]",
     "            self.v[key] = self.momentum * self.v[key] + self.lr * grads[key]",
     "small readable case", "change of params"),
    ("adam", "        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)",
     "        lr_t = self.lr", "small readable case", "change of params"),
]

PASSING_VARIANTS = [
    # computing in float32 (whatever dtype comes back): within the 1e-5 relative tolerance ...
    ("affine", "        self.x = x.reshape(x.shape[0], -1)  # (N, D)",
     "        self.x = x.reshape(x.shape[0], -1).astype(np.float32)\n        self.W = self.W.astype(np.float32)"),
    ("sigmoid", "            self.out = 1.0 / (1.0 + np.exp(-x))",
     "            self.out = (1.0 / (1.0 + np.exp(-x))).astype(np.float32)"),
    ("softmax-with-loss", "        shifted = x - x.max(axis=1, keepdims=True)  # (N, K), row maximum 0",
     "        x = x.astype(np.float32)\n        shifted = x - x.max(axis=1, keepdims=True)"),
    ("batchnorm", "        x = x.reshape(x.shape[0], -1)  # (N, D)",
     "        x = x.reshape(x.shape[0], -1).astype(np.float32)"),
    ("conv-forward", "        col = im2col(x, FH, FW, self.stride, self.pad)  # (N*OH*OW, C*FH*FW)",
     "        col = im2col(x.astype(np.float32), FH, FW, self.stride, self.pad)\n"
     "        self.W = self.W.astype(np.float32)"),
    ("maxpool-backward", "        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)  # one window a row",
     "        dout = dout.astype(np.float32)\n        dmax = np.zeros((dout.size, pool_size), dtype=np.float32)"),
    ("col2im", "    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)",
     "    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=np.float32)"),
    # correct in another style: zero padding in max-pool (the padded cases use inputs > 0) ...
    ("maxpool-forward", ", constant_values=-np.inf)", ")"),
    # ... inverted dropout (torch's) ...
    ("dropout", "            return x * self.mask\n        return x * (1.0 - self.dropout_ratio)",
     "            self.mask = self.mask / (1.0 - self.dropout_ratio)\n            return x * self.mask\n"
     "        return x"),
    # ... Adam in torch's form (bias-corrected m and v, eps 1e-8) ...
    ("adam", "            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)",
     "            m_hat = self.m[key] / (1 - self.beta1 ** self.iter)\n"
     "            v_hat = self.v[key] / (1 - self.beta2 ** self.iter)\n"
     "            params[key] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)"),
    # ... running variance unbiased, as torch keeps it ...
    ("batchnorm", "            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var",
     "            n = x.shape[0]\n"
     "            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var * n / (n - 1)"),
]


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", [name for name in EXERCISES if name != "convnet"])
def test_reference_solution_passes(name, tmp_path):
    report = cn.workbook.check(write(tmp_path, name, cn.workbook.solution(name)))
    assert report.passed, str(report)
    assert [stage.name for stage in report.stages] == [stage for stage, _ in EXERCISES[name].stages]


def mutate(name, old, new):
    text = cn.workbook.solution(name)
    assert text.count(old) == 1, f"{name}: the line to mutate must occur once: {old!r}"
    return text.replace(old, new)


@pytest.mark.parametrize("name, old, new, stage, words", MUTANTS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTANTS)])
def test_mutant_fails_with_the_expected_diagnosis(name, old, new, stage, words, tmp_path):
    report = cn.workbook.check(write(tmp_path, name, mutate(name, old, new)))
    assert not report.passed
    failed = report.stages[-1]
    assert not failed.passed and all(s.passed for s in report.stages[:-1])
    assert failed.name == stage, str(report)
    assert words in failed.message, str(report)
    assert report.hints


@pytest.mark.parametrize("name, old, new", PASSING_VARIANTS,
                         ids=[f"{v[0]}-{i}" for i, v in enumerate(PASSING_VARIANTS)])
def test_other_correct_styles_pass(name, old, new, tmp_path):
    report = cn.workbook.check(write(tmp_path, name, mutate(name, old, new)))
    assert report.passed, str(report)


def test_a_random_layer_gets_the_same_report_whatever_the_callers_random_state_and_keeps_it(tmp_path):
    # The learner's Dropout draws its mask from np.random. Stages run with NumPy's global random
    # state seeded: unseeded, a caller's state whose next 2x4 draw keeps every element (seed 154,
    # one state in 256) hid a backward that ignores the mask from the first stage.
    path = write(tmp_path, "dropout", mutate("dropout", "        return dout * self.mask", "        return dout"))
    for caller_seed in (154, 0):
        np.random.seed(caller_seed)  # noqa: NPY002 - the legacy global state is the one under test
        before = np.random.get_state()[1].copy()  # noqa: NPY002
        report = cn.workbook.check(path)
        assert report.stages[-1].name == "import and shapes", str(report)
        assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
