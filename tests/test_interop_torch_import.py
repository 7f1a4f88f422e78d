"""cn.interop.from_torch: nn.Sequential nets and residual blocks become convnp models with the same
function and weights."""

import numpy as np
import pytest
import torch
from torch import nn

import convnp as cn
from convnp.interop import from_torch, to_torch
from test_interop_torch_onnx import block_net, every_activation_net


def outputs_agree(model, module, shape, dtype=np.float32):
    x = np.random.default_rng(0).random((3, *shape)).astype(dtype)
    expected = module.eval()(torch.from_numpy(x)).detach().numpy()
    actual = model.predict(x)
    assert actual.dtype == dtype
    assert np.max(np.abs(actual - expected)) <= 1e-5 * np.max(np.abs(expected))


@pytest.mark.parametrize("name", ["deep-cnn", "cifar-resnet", "lenet5"])
def test_to_torch_then_from_torch_gives_the_model_back(name):
    shape = (3, 32, 32) if name.startswith("cifar") else (1, 28, 28)
    model = cn.models.build(name, shape, 10, rng=0)
    back = from_torch(to_torch(model))
    assert back.training and back.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)
    assert [repr(layer) for layer in back.layers] == [repr(layer) for layer in model.layers]


def test_every_activation_and_residual_blocks_are_read_directly():
    module = every_activation_net()
    model = from_torch(module)
    assert not model.training
    assert sum(isinstance(layer, cn.Residual) for layer in model.layers) == 2
    assert model.state_dict()["8.layers.1.running_var"] == pytest.approx(
        module.state_dict()["8.layers.1.running_var"].numpy())
    outputs_agree(model, module, (2, 9, 10))


def test_a_block_with_its_own_forward_needs_the_input_shape():
    module = block_net()
    with pytest.raises(ValueError, match="module 1 \\(Block\\) has no convnp counterpart; pass input_shape"):
        from_torch(module)
    model = from_torch(module, input_shape=(1, 8, 8))
    assert [type(layer).__name__ for layer in model.layers][:3] == ["Conv2d", "Residual", "ReLU"]
    outputs_agree(model, module, (1, 8, 8))


def test_float64_modules_give_float64_models():
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)).double()
    outputs_agree(from_torch(module), module, (1, 4, 4), np.float64)


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Conv2d(1, 2, 1), nn.Upsample(scale_factor=2)), "module 1 \\(Upsample\\) has no convnp"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "module 0 \\(Conv2d\\) uses groups"),
    (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), "ceil_mode"),
    (nn.Sequential(nn.Sequential(nn.Flatten(0))), "module 0.0 \\(Flatten\\) flattens"),
])
def test_unsupported_modules_are_named(module, message):
    with pytest.raises(ValueError, match=message):
        from_torch(module)


def test_not_a_module_is_a_type_error():
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got list"):
        from_torch([nn.ReLU()])


def test_a_bad_input_shape_or_a_failing_export_is_a_value_error():
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2))
    with pytest.raises(ValueError, match="input_shape must be \\(C, H, W\\)"):
        from_torch(module, input_shape=(1, 8))
    with pytest.raises(ValueError, match="unsupported op 'Resize'"):
        from_torch(module, input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="exporting Sequential to ONNX for inputs \\(N, 3, 8, 8\\) failed"):
        from_torch(module, input_shape=(3, 8, 8))  # the conv takes 1 channel
