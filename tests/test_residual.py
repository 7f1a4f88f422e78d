"""Residual against a torch twin module (attributes ``layers`` and ``shortcut``) in float64, in
train and eval mode; torch-style state_dict keys; save/load and torch exchange of a whole model
with BatchNorm, Dropout and Residual blocks."""

import re

import numpy as np
import pytest
import torch

import convnp as cn
from convnp.model.serialization import describe


class TorchResidual(torch.nn.Module):
    """What cn.Residual mirrors: ``layers(x) + shortcut(x)``."""

    def __init__(self, layers, shortcut=None):
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)
        self.shortcut = shortcut

    def forward(self, x):
        return self.layers(x) + (x if self.shortcut is None else self.shortcut(x))


def torch_twin(layer):
    """A float64 torch module with the structure (and, after load_state_dict, weights) of ``layer``."""
    f64 = torch.float64
    if isinstance(layer, cn.layers.Chain):  # a Sequential, or a list of layers (a shortcut)
        return torch.nn.Sequential(*(torch_twin(child) for child in layer.layers))
    if isinstance(layer, cn.Residual):
        shortcut = None if layer.shortcut is None else torch_twin(layer.shortcut)
        return TorchResidual([torch_twin(child) for child in layer.layers], shortcut)
    if isinstance(layer, cn.Conv2d):
        return torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                               layer.padding, bias=layer.bias is not None, dtype=f64)
    if isinstance(layer, (cn.BatchNorm1d, cn.BatchNorm2d)):
        kind = torch.nn.BatchNorm1d if isinstance(layer, cn.BatchNorm1d) else torch.nn.BatchNorm2d
        return kind(layer.num_features, layer.eps, layer.momentum, dtype=f64)
    if isinstance(layer, cn.Linear):
        return torch.nn.Linear(layer.in_features, layer.out_features, layer.bias is not None, dtype=f64)
    if isinstance(layer, cn.GlobalAvgPool2d):
        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    if isinstance(layer, cn.MaxPool2d):
        return torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    simple = {cn.ReLU: torch.nn.ReLU, cn.Flatten: torch.nn.Flatten, cn.Tanh: torch.nn.Tanh}
    if type(layer) in simple:
        return simple[type(layer)]()
    if isinstance(layer, cn.Dropout):
        return torch.nn.Dropout(layer.p)
    raise TypeError(f"no torch twin for {layer!r}")


def to_torch_state(state):
    return {key: torch.from_numpy(np.array(value)) for key, value in state.items()}


def from_torch_state(module):
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


def randomize_state(model, rng):
    """Random weights and BN running statistics (not the defaults), so eval mode tests something."""
    for name, array in model.state_dict().items():
        if name.endswith("running_var"):
            array = rng.uniform(0.5, 2.0, array.shape)
        elif name.endswith("num_batches_tracked"):
            continue
        else:
            array = rng.standard_normal(array.shape) * (0.3 if array.ndim > 1 else 1.0)
        model.load_state_dict({name: array}, strict=False)


def residual_config(seed):
    """A random Residual block: identity shortcut, or Conv 1x1 (stride 1 or 2) [+ BN] projection."""
    rng = np.random.default_rng(seed)
    f64 = np.float64
    in_channels = int(rng.integers(1, 5))
    kind = ["identity", "conv", "conv-bn"][seed % 3]
    stride = 1 if kind == "identity" else int(rng.integers(1, 3))
    out_channels = in_channels if kind == "identity" else int(rng.integers(1, 6))
    branch = [cn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bool(seed % 2),
                        dtype=f64, rng=rng),
              cn.BatchNorm2d(out_channels, momentum=float(rng.uniform(0.05, 0.5)), dtype=f64), cn.ReLU(),
              cn.Conv2d(out_channels, out_channels, 3, padding=1, dtype=f64, rng=rng),
              cn.BatchNorm2d(out_channels, eps=1e-3, dtype=f64)][:int(rng.integers(2, 6))]
    if kind == "identity":
        shortcut = None
    else:
        conv = cn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, dtype=f64, rng=rng)
        shortcut = conv if kind == "conv" else cn.Sequential(conv, cn.BatchNorm2d(out_channels, dtype=f64))
    block = cn.Residual(*branch, shortcut=shortcut)
    randomize_state(block, rng)
    shape = (int(rng.integers(2, 5)), in_channels, *(int(v) for v in rng.integers(1, 9, size=2)))
    return block, shape, rng


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("seed", range(30))
def test_matches_torch_twin(seed, mode, torch_check, close):
    block, shape, rng = residual_config(seed)
    module = torch_twin(block)
    module.load_state_dict(to_torch_state(block.state_dict()))
    assert sorted(block.state_dict()) == sorted(module.state_dict())
    block.train(mode == "train")
    module.train(mode == "train")
    for step in range(2):
        module.zero_grad()
        torch_check(block, module, rng.standard_normal(shape), rng, config=f"{mode} step {step}")
    expected = from_torch_state(module)
    for name, value in block.state_dict().items():  # running statistics and their counters too
        close(value, expected[name], f"{name} of {block!r} after 2 {mode} steps")


def test_state_dict_keys_inside_a_sequential():
    f64 = np.float64
    model = cn.Sequential(
        cn.Conv2d(1, 2, 3, dtype=f64), cn.ReLU(), cn.Tanh(), cn.ReLU(),
        cn.Residual(cn.Conv2d(2, 2, 3, padding=1, dtype=f64), shortcut=cn.Conv2d(2, 2, 1, dtype=f64)),
        cn.Residual(cn.Conv2d(2, 3, 1, stride=2, dtype=f64), cn.BatchNorm2d(3, dtype=f64),
                    shortcut=[cn.Conv2d(2, 3, 1, stride=2, bias=False, dtype=f64),
                              cn.BatchNorm2d(3, dtype=f64)]))
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    expected = ["0.weight", "0.bias", "4.layers.0.weight", "4.layers.0.bias", "4.shortcut.weight",
                "4.shortcut.bias", "5.layers.0.weight", "5.layers.0.bias", *(f"5.layers.1.{k}" for k in bn),
                "5.shortcut.0.weight", *(f"5.shortcut.1.{k}" for k in bn)]
    assert sorted(model.state_dict()) == sorted(expected) == sorted(torch_twin(model).state_dict())
    assert isinstance(model[5].layers, list) and len(model[5].layers) == 2
    assert isinstance(model[5].shortcut, cn.layers.Chain)
    assert model[4].shortcut.weight.shape == (2, 2, 1, 1)


def test_train_and_eval_are_recursive():
    block = cn.Residual(cn.Conv2d(2, 2, 1), cn.BatchNorm2d(2), cn.Dropout(),
                        shortcut=cn.Sequential(cn.Conv2d(2, 2, 1), cn.BatchNorm2d(2)))
    model = cn.Sequential(block).eval()
    layers = [*block.layers, *block.shortcut.layers]
    assert not any(layer.training for layer in layers)
    model.train()
    assert all(layer.training for layer in layers)


def test_shape_mismatch_names_both_shapes_and_suggests_a_shortcut():
    block = cn.Residual(cn.Conv2d(2, 4, 3, stride=2, padding=1))
    x = np.zeros((1, 2, 6, 6), dtype=np.float32)
    message = ("Residual(1 layer): the layers give shape (1, 4, 3, 3) but the identity shortcut gives "
               "(1, 2, 6, 6)")
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        block(x)
    assert "shortcut=Conv2d(in_channels, out_channels, 1, stride=stride)" in str(info.value)
    wrong = cn.Residual(cn.Conv2d(2, 4, 3, stride=2, padding=1), shortcut=cn.Conv2d(2, 4, 1))
    with pytest.raises(ValueError, match=re.escape("but shortcut Conv2d(2→4, k=1) gives (1, 4, 6, 6)")):
        wrong(x)
    fixed = cn.Residual(cn.Conv2d(2, 4, 3, stride=2, padding=1), shortcut=cn.Conv2d(2, 4, 1, stride=2))
    assert fixed(x).shape == (1, 4, 3, 3)


def test_errors_inside_the_branch_are_named():
    model = cn.Sequential(cn.ReLU(), cn.Residual(cn.ReLU(), cn.Conv2d(3, 3, 1)))
    with pytest.raises(ValueError, match=re.escape("layer 1 Residual(2 layers): layers.1 Conv2d(3→3, k=1): "
                                                   "expected input of shape (N, 3, H, W)")):
        model(np.zeros((1, 2, 4, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match=re.escape("Residual(1 layer): backward() called before")):
        cn.Residual(cn.ReLU()).backward(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="Residual: give at least one layer"):
        cn.Residual()
    with pytest.raises(TypeError, match="Residual: argument 1 must be a layer"):
        cn.Residual(cn.ReLU(), "conv")
    with pytest.raises(TypeError, match="Residual: shortcut must be a layer"):
        cn.Residual(cn.ReLU(), shortcut=3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradcheck(dtype):
    rng = np.random.default_rng(0)
    block = cn.Residual(cn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=dtype, rng=rng),
                        cn.BatchNorm2d(3, dtype=dtype), cn.Tanh(),
                        shortcut=[cn.Conv2d(2, 3, 1, stride=2, dtype=dtype, rng=rng),
                                  cn.BatchNorm2d(3, dtype=dtype)])
    x = rng.standard_normal((3, 2, 4, 5))
    assert cn.gradcheck(block, x) is True
    assert cn.gradcheck(block.eval(), x) is True
    assert cn.gradcheck(cn.Residual(cn.Tanh(), cn.Linear(4, 4, dtype=dtype, rng=rng)), x[:, 0, 0, :4]) is True


def test_repr():
    assert repr(cn.Residual(cn.ReLU(), cn.ReLU())) == "Residual(2 layers)"
    assert repr(cn.Residual(cn.ReLU(), shortcut=cn.Conv2d(2, 4, 1, stride=2))) == (
        "Residual(1 layer, shortcut=Conv2d(2→4, k=1, stride=2))")
    assert repr(cn.Residual(cn.ReLU(), shortcut=[cn.Conv2d(2, 4, 1), cn.BatchNorm2d(4)])) == (
        "Residual(1 layer, shortcut=Conv2d(2→4, k=1) → BatchNorm2d(4))")


# ---- a whole model: BN + Dropout + Residual ---------------------------------------------------
def mixed_model(dtype=np.float64):
    rng = np.random.default_rng(0)
    return cn.Sequential(
        cn.Conv2d(3, 4, 3, padding=1, bias=False, dtype=dtype, rng=rng),            # (4, 7, 6)
        cn.BatchNorm2d(4, momentum=0.2, dtype=dtype), cn.ReLU(), cn.Dropout(0.2, rng=1),
        cn.Residual(cn.Conv2d(4, 4, 3, padding=1, dtype=dtype, rng=rng), cn.BatchNorm2d(4, dtype=dtype),
                    cn.ReLU(), cn.Conv2d(4, 4, 3, padding=1, dtype=dtype, rng=rng)),
        cn.Residual(cn.Conv2d(4, 6, 3, stride=2, padding=1, dtype=dtype, rng=rng),
                    cn.BatchNorm2d(6, eps=1e-4, dtype=dtype),                       # (6, 4, 3)
                    shortcut=cn.Sequential(cn.Conv2d(4, 6, 1, stride=2, bias=False, dtype=dtype, rng=rng),
                                           cn.BatchNorm2d(6, dtype=dtype))),
        cn.ReLU(), cn.GlobalAvgPool2d(), cn.Linear(6, 5, dtype=dtype, rng=rng),
        cn.BatchNorm1d(5, momentum=None, dtype=dtype), cn.Dropout(0.5, rng=2),
        cn.Linear(5, 3, dtype=dtype, rng=rng))


def trained_a_little(model, x):
    """A few training-mode steps so running statistics and counters are not their defaults."""
    optimizer = cn.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        out = model(x)
        model.backward(np.ones_like(out) / out.size)
        optimizer.step()
    return model


@pytest.fixture
def images():
    return np.random.default_rng(5).standard_normal((4, 3, 7, 6))


def test_save_load_round_trip_is_exact(tmp_path, images):
    model = trained_a_little(mixed_model(), images)
    model.save(tmp_path / "model.npz")
    loaded = cn.load_model(tmp_path / "model.npz")
    assert repr(loaded) == repr(model) and describe(loaded) == describe(model)
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(original)
    assert "5.shortcut.1.num_batches_tracked" in original
    for name, value in original.items():
        assert restored[name].dtype == value.dtype and restored[name].shape == value.shape, name
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    assert int(loaded[1].num_batches_tracked) == 3
    assert loaded[9].momentum is None and loaded[5].layers[1].eps == 1e-4 and loaded[3].p == 0.2
    assert isinstance(loaded[5].shortcut, cn.Sequential) and loaded[4].shortcut is None
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))


def test_torch_twin_exchange_both_ways(images, close):
    model = trained_a_little(mixed_model(), images)
    module = torch_twin(model)
    module.load_state_dict(to_torch_state(model.state_dict()))  # convnp -> torch
    assert sorted(module.state_dict()) == sorted(model.state_dict())
    module.eval()
    model.eval()
    x_torch = torch.from_numpy(images).requires_grad_(True)
    logits = module(x_torch)
    dy = np.random.default_rng(0).standard_normal(logits.shape)
    logits.backward(torch.from_numpy(dy))
    close(model(images), logits, "eval logits of the mixed model")
    close(model.backward(dy), x_torch.grad, "eval input gradient of the mixed model")
    torch_params = dict(module.named_parameters())
    for name, param in model.named_parameters().items():
        close(param.grad, torch_params[name].grad, f"{name}.grad (eval)")

    module.train()  # torch -> convnp: train torch a step (changes weights and running stats)
    torch_model_out = module(torch.from_numpy(images))
    torch_model_out.sum().backward()
    with torch.no_grad():
        for param in module.parameters():
            param -= 0.1 * param.grad
    model.load_state_dict(from_torch_state(module))
    for name, value in from_torch_state(module).items():
        np.testing.assert_array_equal(model.state_dict()[name], value, err_msg=name)
    module.eval()
    close(model.eval()(images), module(torch.from_numpy(images)), "logits after loading torch's state")


def test_train_mode_matches_torch_without_dropout(images, close):
    model = mixed_model()
    for index in (3, 10):
        model[index].p = 0.0  # dropout's masks are random; the rest of the training math is compared
    module = torch_twin(model)
    module.load_state_dict(to_torch_state(model.state_dict()))
    x_torch = torch.from_numpy(images).requires_grad_(True)
    logits = module(x_torch)
    dy = np.random.default_rng(1).standard_normal(logits.shape)
    logits.backward(torch.from_numpy(dy))
    close(model(images), logits, "train logits")
    close(model.backward(dy), x_torch.grad, "train input gradient")
    torch_params = dict(module.named_parameters())
    for name, param in model.named_parameters().items():
        close(param.grad, torch_params[name].grad, f"{name}.grad (train)")
    for name, value in from_torch_state(module).items():
        close(model.state_dict()[name], value, name)


def test_summary(images):
    text = mixed_model().summary((3, 7, 6))
    assert "Residual(4 layers)" in text and "(N, 6, 4, 3)" in text
    assert "Residual(2 layers, shortcut=Conv2d(4→6, k=1, stride=2) → BatchNorm2d(6))" in text
    assert f"Total params: {sum(p.size for p in mixed_model().parameters()):,}" in text
