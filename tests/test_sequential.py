"""Sequential against torch.nn.Sequential (float64, 1e-10), its state dict, summary and gradcheck."""

import numpy as np
import pytest
import torch

import convnp as cn

TOLERANCE = 1e-10
INPUT_SHAPE = (3, 12, 10)  # (C, H, W) of one sample


def _convnp_model(seed=0):
    """Conv → ReLU → MaxPool → rectangular strided Conv → Tanh → AvgPool → Flatten → MLP."""
    rng = np.random.default_rng(seed)
    f64 = np.float64
    return cn.Sequential(
        cn.Conv2d(3, 6, 3, padding=1, dtype=f64, rng=rng),  # (6, 12, 10)
        cn.ReLU(),
        cn.MaxPool2d(2),                                     # (6, 6, 5)
        cn.Conv2d(6, 8, (3, 2), stride=(2, 1), dtype=f64, rng=rng),  # (8, 2, 4)
        cn.Tanh(),
        cn.AvgPool2d(2, 1),                                  # (8, 1, 3)
        cn.Flatten(),                                        # (24,)
        cn.Linear(24, 12, dtype=f64, rng=rng),
        cn.LeakyReLU(),
        cn.Linear(12, 5, dtype=f64, rng=rng),
    )


def _torch_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 8, (3, 2), stride=(2, 1)),
        torch.nn.Tanh(),
        torch.nn.AvgPool2d(2, 1),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 12),
        torch.nn.LeakyReLU(),
        torch.nn.Linear(12, 5),
    ).double()


def _nested_models(seed=0):
    """Equivalent models with a nested Sequential at index 2 (keys like ``"2.1.weight"``)."""
    rng = np.random.default_rng(seed)
    f64 = np.float64
    ours = cn.Sequential(
        cn.Conv2d(2, 4, 3, dtype=f64, rng=rng), cn.ReLU(),
        cn.Sequential(cn.MaxPool2d(2), cn.Conv2d(4, 3, 2, dtype=f64, rng=rng), cn.Sigmoid()),
        cn.Flatten(), cn.Linear(3 * 2 * 2, 4, dtype=f64, rng=rng))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 3, 2), torch.nn.Sigmoid()),
        torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 4)).double()
    return ours, theirs


@pytest.fixture
def batch():
    rng = np.random.default_rng(42)
    return rng.standard_normal((4, *INPUT_SHAPE)), rng.integers(0, 5, size=4)


def _load_into_torch(torch_model, model):
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})


def _compare_with_torch(model, torch_model, x, y):
    """Forward, loss and backward in both libraries; everything must agree to 1e-10."""
    loss = cn.CrossEntropyLoss()
    logits = model.forward(x)
    value = loss(logits, y)
    dx = model.backward(loss.backward())

    x_t = torch.tensor(x, requires_grad=True)
    logits_t = torch_model(x_t)
    value_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    value_t.backward()

    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=0, atol=TOLERANCE)
    assert value == pytest.approx(value_t.item(), rel=TOLERANCE, abs=TOLERANCE)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=0, atol=TOLERANCE)
    ours = model.named_parameters()
    theirs = dict(torch_model.named_parameters())
    assert list(ours) == list(theirs)
    for name, parameter in ours.items():
        np.testing.assert_allclose(parameter.grad, theirs[name].grad.numpy(), rtol=0,
                                   atol=TOLERANCE, err_msg=name)


def test_matches_torch_after_loading_our_weights_into_torch(batch):
    model, torch_model = _convnp_model(), _torch_model()
    assert list(model.state_dict()) == list(torch_model.state_dict())
    _load_into_torch(torch_model, model)
    _compare_with_torch(model, torch_model, *batch)


def test_matches_torch_after_loading_torch_weights(batch):
    model, torch_model = _convnp_model(), _torch_model()
    model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
    for name, value in torch_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value.numpy())
    _compare_with_torch(model, torch_model, *batch)


def test_nested_sequential_matches_torch():
    model, torch_model = _nested_models()
    assert "2.1.weight" in model.state_dict()
    assert list(model.state_dict()) == list(torch_model.state_dict())
    _load_into_torch(torch_model, model)
    rng = np.random.default_rng(3)
    _compare_with_torch(model, torch_model, rng.standard_normal((3, 2, 8, 8)),
                        rng.integers(0, 4, size=3))


def test_named_parameters_and_parameters_agree():
    model = _convnp_model()
    named = model.named_parameters()
    assert list(named) == ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                           "9.weight", "9.bias"]
    assert named["3.weight"] is model[3].weight
    assert model.parameters() == list(named.values())
    assert all(isinstance(p, cn.Parameter) for p in model.parameters())


def test_bias_free_layers_have_no_bias_key():
    model = cn.Sequential(cn.Conv2d(1, 2, 3, bias=False), cn.Flatten(), cn.Linear(2, 3))
    assert list(model.state_dict()) == ["0.weight", "2.weight", "2.bias"]


def test_state_dict_returns_copies():
    model = _convnp_model()
    state = model.state_dict()
    state["0.weight"][...] = 123.0
    assert not np.any(model[0].weight.data == 123.0)
    assert not np.shares_memory(state["0.bias"], model[0].bias.data)


def test_load_state_dict_copies_into_the_existing_arrays():
    model, source = _convnp_model(seed=0), _convnp_model(seed=1)
    params_before = model.named_parameters()
    arrays_before = {name: p.data for name, p in params_before.items()}
    state = source.state_dict()
    model.load_state_dict(state)
    for name, parameter in model.named_parameters().items():
        assert parameter is params_before[name]
        assert parameter.data is arrays_before[name]
        np.testing.assert_array_equal(parameter.data, state[name])
    state["0.weight"][...] = 7.0  # the model must not alias the dict it was given
    assert not np.any(model[0].weight.data == 7.0)


def test_load_state_dict_strict_errors_name_the_keys():
    model = _convnp_model()
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "7.bias"}
    with pytest.raises(KeyError, match=r"missing keys \['7.bias'\]"):
        model.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['10.weight'\]"):
        model.load_state_dict({**state, "10.weight": np.zeros(3)})
    wrong_shape = {**state, "3.weight": np.zeros((8, 6, 2, 3))}
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(8, 6, 2, 3\), expected "
                                         r"\(8, 6, 3, 2\)"):
        model.load_state_dict(wrong_shape)


def test_load_state_dict_non_strict_loads_the_common_keys():
    model, source = _convnp_model(seed=0), _convnp_model(seed=1)
    partial = {"0.weight": source[0].weight.data, "extra": np.zeros(1)}
    before = model[9].weight.data.copy()
    model.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(model[0].weight.data, source[0].weight.data)
    np.testing.assert_array_equal(model[9].weight.data, before)


def test_getitem_len_and_iteration():
    model = _convnp_model()
    assert len(model) == 10
    assert isinstance(model[0], cn.Conv2d) and model[-1] is model.layers[-1]
    head = model[:3]
    assert isinstance(head, cn.Sequential) and len(head) == 3
    assert all(a is b for a, b in zip(head.layers, model.layers[:3], strict=True))
    assert list(model) == model.layers
    x = np.random.default_rng(0).standard_normal((2, *INPUT_SHAPE))
    np.testing.assert_array_equal(model[3:].forward(model[:3].forward(x)), model.forward(x))


def test_train_and_eval_are_recursive():
    model, _ = _nested_models()
    inner = model[2]
    assert model.eval() is model
    assert not model.training and not inner.training and not inner[1].training
    model.train()
    assert model.training and inner.training and inner[1].training and model[0].training


def test_summary_lists_output_shapes_and_parameter_counts():
    model = _convnp_model()
    text = model.summary(INPUT_SHAPE)
    for shape in ["(N, 6, 12, 10)", "(N, 6, 6, 5)", "(N, 8, 2, 4)", "(N, 8, 1, 3)", "(N, 24)",
                  "(N, 12)", "(N, 5)"]:
        assert shape in text, shape
    total = sum(p.numel() for p in _torch_model().parameters())
    assert f"Total params: {total:,}" in text
    conv_line = next(line for line in text.splitlines() if line.startswith("3:"))
    assert conv_line.rstrip().endswith(f"{6 * 8 * 3 * 2 + 8:,}")
    assert model.training  # summary runs in eval mode but restores the mode


def test_errors_name_the_failing_layer():
    model = _convnp_model()
    with pytest.raises(ValueError, match="layer 0"):
        model.forward(np.zeros((2, 4, 12, 10)))
    with pytest.raises(TypeError, match="argument 1"):
        cn.Sequential(cn.ReLU(), "not a layer")


# ---- gradcheck on a whole model ------------------------------------------------------------

def _small_model(dtype=np.float64):
    rng = np.random.default_rng(0)
    return cn.Sequential(cn.Conv2d(2, 3, 3, dtype=dtype, rng=rng), cn.ReLU(), cn.MaxPool2d(2),
                         cn.Flatten(), cn.Linear(3 * 2 * 2, 4, dtype=dtype, rng=rng))


def _small_input():
    return np.random.default_rng(1).standard_normal((2, 2, 6, 6))


def test_gradcheck_passes_on_a_small_model():
    assert cn.gradcheck(_small_model(), _small_input()) is True


def test_gradcheck_names_the_element_of_a_wrong_backward(monkeypatch):
    model = _small_model()
    linear = model[4]
    correct_backward = type(linear).backward

    def wrong_backward(dy):
        dx = correct_backward(linear, dy)
        linear.weight.grad[1, 2] += 0.5  # one wrong element
        return dx

    monkeypatch.setattr(linear, "backward", wrong_backward)
    # the reference engine calls each layer's own backward (the fast one may run its own steps)
    wrong = pytest.raises(cn.GradcheckError, match=r"failed at 4\.weight\[1, 2\]")
    with cn.engine("reference"), wrong as info:
        cn.gradcheck(model, _small_input())
    assert "4.weight: 1/48 elements" in str(info.value)


def test_gradcheck_catches_a_wrong_input_gradient(monkeypatch):
    model = _small_model()
    conv = model[0]
    correct_backward = type(conv).backward
    monkeypatch.setattr(conv, "backward", lambda dy: 2 * correct_backward(conv, dy))
    with cn.engine("reference"), pytest.raises(cn.GradcheckError, match=r"failed at input\["):
        cn.gradcheck(model, _small_input())


def test_gradcheck_restores_float32_parameters():
    model = _small_model(np.float32)
    before = {name: (p.data, p.data.copy(), p.grad) for name, p in
              model.named_parameters().items()}
    assert cn.gradcheck(model, _small_input(), atol=1e-5)
    for name, p in model.named_parameters().items():
        data, values, grad = before[name]
        assert p.data is data and p.grad is grad
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.data, values)
    assert model.forward(_small_input().astype(np.float32)).dtype == np.float32


def test_load_state_dict_with_a_bad_shape_changes_nothing():
    model = cn.Sequential(cn.Linear(3, 4, rng=0), cn.ReLU(), cn.Linear(4, 2, rng=1))
    before = model.state_dict()
    bad = {key: value + 1 for key, value in before.items()}
    bad["2.weight"] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'2.weight' has shape \(3, 3\), expected \(2, 4\)"):
        model.load_state_dict(bad)
    for key, value in model.state_dict().items():
        assert np.array_equal(value, before[key]), key


def test_backward_without_input_grad_skips_the_first_layer_and_keeps_parameter_grads():
    rng = np.random.default_rng(0)
    model = cn.Sequential(cn.Conv2d(2, 3, 3, dtype=np.float64, rng=0), cn.ReLU(), cn.Flatten(),
                          cn.Linear(3 * 4 * 4, 2, dtype=np.float64, rng=1))
    x, dy = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((2, 2))
    model.forward(x)
    dx = model.backward(dy)
    full = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    assert dx.shape == x.shape
    model.forward(x)
    assert model.backward(dy, input_grad=False) is None
    for name, p in model.named_parameters().items():
        np.testing.assert_array_equal(p.grad, full[name])


@pytest.mark.parametrize("shape, error, message", [
    ((1, 60000, 60000), ValueError, r"summary: input_shape \(1, 60000, 60000\) holds 3,600,000,000 values"),
    ((1, 0, 28), ValueError, r"summary: every size in input_shape must be a positive int, got 0"),
    ("1x28x28", TypeError, r"summary: input_shape must be a tuple such as \(1, 28, 28\), got '1x28x28'"),
])
def test_summary_refuses_a_shape_it_cannot_run_before_allocating(shape, error, message):
    model = cn.Sequential(cn.Flatten())
    with pytest.raises(error, match=message):
        model.summary(shape)
