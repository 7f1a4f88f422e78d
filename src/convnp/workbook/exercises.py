"""The exercise table: what each exercise asks for, its stages, and its hints by level."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import convnet, dropout_specs, stages
from .conv_specs import ConvSpec
from .im2col_specs import FoldSpec
from .layer_specs import ActivationSpec, AffineSpec
from .loss_norm_specs import BatchNormSpec, SoftmaxWithLossSpec
from .optim_specs import OptimizerSpec
from .pool_specs import PoolSpec

SOLUTIONS = Path(__file__).resolve().parent / "solutions"


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``name`` (CLI name), ``summary``, what the learner's file ``defines``, the
    ``stages`` as (name, function(namespace, reference) -> summary), and ``hints`` by level."""

    name: str
    summary: str
    defines: str
    stages: tuple
    hints: tuple

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS / (self.name.replace("-", "_") + ".py")


def _spec_stages(spec, gradient=True, extra=()):
    found = [("import and shapes", partial(stages.shapes_stage, spec)),
             ("small readable case", partial(stages.first_case_stage, spec)),
             ("random cases", partial(stages.random_cases_stage, spec))]
    if gradient:
        found.append(("numerical gradient", partial(stages.gradient_stage, spec)))
    found.extend(extra)
    found.append(("training in a convnp model", partial(stages.training_stage, spec)))
    return tuple(found)


def _optimizer_stages(class_name):
    spec = OptimizerSpec(class_name)
    return (("import and shapes", spec.shapes), ("small readable case", spec.first_case),
            ("random cases", spec.random_cases), ("training in a convnp model", spec.train))


_batchnorm = BatchNormSpec()
_im2col, _col2im = FoldSpec("im2col"), FoldSpec("col2im")

EXERCISES = {exercise.name: exercise for exercise in [
    Exercise("relu", "ReLU forward and backward", "class Relu: forward(x), backward(dout) -> dx",
             _spec_stages(ActivationSpec("Relu")),
             ("The gradient passes where the input was positive and stops where it was not.",
              "Keep a mask (x <= 0) from forward; backward returns dout with the masked places set to 0.",
              "forward: self.mask = x <= 0; return np.where(self.mask, 0, x). backward: return "
              "np.where(self.mask, 0, dout) -- a new array; `dout[self.mask] = 0` changes the caller's.")),
    Exercise("sigmoid", "Sigmoid forward and backward", "class Sigmoid: forward(x), backward(dout) -> dx",
             _spec_stages(ActivationSpec("Sigmoid")),
             ("The derivative of the sigmoid can be written with its output alone.",
              "Keep out = 1 / (1 + exp(-x)) from forward; dsigmoid/dx = out * (1 - out).",
              "backward: return dout * self.out * (1.0 - self.out).")),
    Exercise("affine", "Affine (fully connected) forward and backward",
             "class Affine(W, b), W (in, out): forward(x), backward(dout) -> dx; sets dW, db",
             _spec_stages(AffineSpec()),
             ("Each gradient has the shape of the thing it is the gradient of.",
              "out = x2 @ W + b with x2 = x.reshape(N, -1): dx2 = dout @ W.T, dW = x2.T @ dout, db = "
              "dout summed over the batch; give dx back x's original shape.",
              "Remember self.original_x_shape = x.shape in forward; db = dout.sum(axis=0) (a sum: "
              "the loss already divided by N).")),
    Exercise("softmax-with-loss", "Softmax + cross-entropy loss, fused",
             "class SoftmaxWithLoss: forward(x, t) -> float, backward(dout=1) -> dx",
             _spec_stages(SoftmaxWithLossSpec()),
             ("The gradient of softmax + cross-entropy is beautifully simple: (y - t) / N.",
              "Subtract each row's maximum before exp(); turn labels (N,) into one-hot rows with "
              "np.eye(K)[t]; loss = -sum(t * log y) / N.",
              "log y = shifted - log(sum(exp(shifted))) with shifted = x - x.max(axis=1, keepdims=True); "
              "backward: return dout * (self.y - self.t) / N.")),
    Exercise("im2col", "im2col: windows to matrix rows",
             "im2col(input_data, filter_h, filter_w, stride=1, pad=0) -> (N*OH*OW, C*FH*FW)",
             _spec_stages(_im2col, gradient=False, extra=(("adjoint of col2im", _im2col.adjoint),)),
             ("Row (n*OH + i)*OW + j holds window (i, j) of image n, channel by channel.",
              "Pad first; then loop over the kernel offsets (p, q): x_padded[:, :, p:p + stride*OH:stride, "
              "q:q + stride*OW:stride] is that offset for every window at once.",
              "Fill col (N, C, FH, FW, OH, OW), then col.transpose(0, 4, 5, 1, 2, 3).reshape(N*OH*OW, -1).")),
    Exercise("col2im", "col2im: matrix rows back to images, adding overlaps",
             "col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0) -> (N, C, H, W)",
             _spec_stages(_col2im, gradient=False, extra=(("adjoint of im2col", _col2im.adjoint),)),
             ("col2im undoes im2col's layout, but where windows overlap it adds.",
              "Reshape col to (N, OH, OW, C, FH, FW) and transpose to (N, C, FH, FW, OH, OW); loop over "
              "(p, q) and add into a padded image with +=.",
              "img[:, :, p:p + stride*OH:stride, q:q + stride*OW:stride] += col[:, :, p, q]; return "
              "img[:, :, pad:pad + H, pad:pad + W].")),
    Exercise("conv-forward", "Convolution forward with im2col",
             "class Convolution(W, b, stride=1, pad=0): forward(x)",
             _spec_stages(ConvSpec(backward=False), gradient=False),
             ("A convolution is one matrix product once the windows are rows.",
              "col = im2col(x, FH, FW, stride, pad); col_W = W.reshape(FN, -1).T; out = col @ col_W + b.",
              "out has rows (n, oh, ow) and columns f: reshape to (N, OH, OW, FN), then "
              "transpose(0, 3, 1, 2).")),
    Exercise("conv-backward", "Convolution backward with col2im",
             "class Convolution: backward(dout) -> dx; sets dW, db",
             _spec_stages(ConvSpec(backward=True)),
             ("Backward of out2d = col @ col_W + b is three matrix products; col2im turns dcol into dx.",
              "dout2d = dout.transpose(0, 2, 3, 1).reshape(-1, FN); db = dout2d.sum(axis=0); "
              "dW from col.T @ dout2d; dcol = dout2d @ col_W.T.",
              "self.dW = (self.col.T @ dout2d).T.reshape(FN, C, FH, FW); return col2im(dcol, "
              "self.x.shape, FH, FW, self.stride, self.pad).")),
    Exercise("maxpool-forward", "Max pooling forward",
             "class MaxPool(pool_h, pool_w, stride=1, pad=0): forward(x)",
             _spec_stages(PoolSpec(backward=False), gradient=False),
             ("Each channel is pooled on its own: one window per row, then max along the row.",
              "im2col(x, ph, pw, stride, pad).reshape(-1, ph*pw) has rows (n, oh, ow, c).",
              "out = col.max(axis=1).reshape(N, OH, OW, C).transpose(0, 3, 1, 2); keep "
              "self.arg_max = col.argmax(axis=1).")),
    Exercise("maxpool-backward", "Max pooling backward", "class MaxPool: backward(dout) -> dx",
             _spec_stages(PoolSpec(backward=True)),
             ("Only the element that won the max gets the window's gradient; ties: the first one.",
              "dmax = zeros((N*OH*OW*C, ph*pw)); dmax[arange, self.arg_max] = dout in (n, oh, ow, c) order.",
              "dout.transpose(0, 2, 3, 1).ravel() gives that order; dcol = dmax.reshape(N*OH*OW, -1); "
              "dx = col2im(dcol, self.x.shape, ph, pw, stride, pad).")),
    Exercise("batchnorm", "Batch normalization", "class BatchNormalization(gamma, beta, momentum=0.9, "
             "eps=1e-5): forward(x, train_flg=True), backward(dout); sets dgamma, dbeta",
             _spec_stages(_batchnorm, extra=(("test mode", _batchnorm.test_mode),)),
             ("Normalize each column with the batch's mean and variance, then scale and shift.",
              "Keep xn and std from forward; dbeta = sum(dout), dgamma = sum(dout * xn).",
              "dxn = gamma * dout; dx = (dxn - dxn.mean(0) - xn * (dxn * xn).mean(0)) / std.")),
    Exercise("dropout", "Dropout",
             "class Dropout(dropout_ratio=0.5): forward(x, train_flg=True), backward(dout)",
             (("import and shapes", dropout_specs.shapes_stage),
              ("small readable case", dropout_specs.first_case_stage),
              ("random cases", dropout_specs.random_cases_stage),
              ("training in a convnp model", dropout_specs.training_stage)),
             ("Backward must use the very mask forward drew.",
              "self.mask = np.random.rand(*x.shape) > self.dropout_ratio in training.",
              "training: x * self.mask; test: x * (1 - self.dropout_ratio); backward: dout * self.mask.")),
    Exercise("sgd", "SGD update", "class SGD(lr=0.01): update(params, grads) in place",
             _optimizer_stages("SGD"),
             ("Step against the gradient.", "params[key] -= lr * grads[key] for every key.",
              "`params[key] = params[key] - ...` puts a new array in the dict: the layer never sees it.")),
    Exercise("momentum", "Momentum SGD", "class Momentum(lr=0.01, momentum=0.9): update(params, grads)",
             _optimizer_stages("Momentum"),
             ("A velocity per parameter remembers past steps.",
              "v = momentum * v - lr * grad; params += v; v starts at zeros.",
              "Create self.v = {key: np.zeros_like(value)} on the first update.")),
    Exercise("adam", "Adam", "class Adam(lr=0.001, beta1=0.9, beta2=0.999): update(params, grads)",
             _optimizer_stages("Adam"),
             ("Momentum for the gradient and for its square, both bias-corrected.",
              "m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g**2; count the steps t from 1.",
              "params -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + 1e-8).")),
    Exercise("convnet", "Capstone: your layers as a CNN that learns MNIST",
             "Convolution, Relu, MaxPool, Affine, SoftmaxWithLoss (your own), trained by the checker",
             (("import and shapes", convnet.classes_stage), ("each layer", convnet.layers_stage),
              ("training on mnist-sample", convnet.training_stage)),
             ("Every class must pass its own exercise first; check them there for details.",
              "Vectorise: im2col-based Convolution and MaxPool; loops over every pixel are too slow here.",
              "The checker builds Conv(8, 5x5) -> Relu -> MaxPool(2, stride 2) -> Affine(1152, 10).")),
]}


def find(name: str) -> Exercise:
    """The exercise called ``name``; ValueError listing the names otherwise."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose one of: {', '.join(EXERCISES)}")
    return EXERCISES[name]
