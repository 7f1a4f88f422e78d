"""convnp studio's JSON API: every layer's activation and gradient equal torch's on the same
weights (even where the fast engine fuses layers), training under the lock, eval-mode state."""

import numpy as np
import pytest
import torch

import convnp as cn
from convnp.studio import open_studio
from studio_helpers import request, serving


@pytest.fixture(scope="module")
def studio():
    return open_studio()  # seed002, fresh, on mnist-sample


@pytest.fixture(scope="module")
def server(studio):
    with serving(studio) as running:
        yield running


def torch_layers(model, image, target):
    """Every top-level layer's output and d(cross-entropy)/d(output) in torch, and d/d input."""
    module = cn.interop.to_torch(model).double().eval()
    x = torch.tensor(image[None], dtype=torch.float64, requires_grad=True)
    outputs, h = [], x
    for child in module:
        h = child(h)
        h.retain_grad()
        outputs.append(h)
    torch.nn.functional.cross_entropy(h, torch.tensor([target])).backward()
    return ([(o[0].detach().numpy(), o.grad[0].numpy()) for o in outputs], x.grad[0].numpy())


def check_against_torch(result, model, image):
    expected, input_gradient = torch_layers(model, image, result["target"])
    assert len(result["layers"]) == len(model.layers)
    for entry, (activation, gradient) in zip(result["layers"], expected, strict=True):
        scale = max(np.abs(activation).max(), 1e-3)
        np.testing.assert_allclose(entry["activation"], activation, atol=1e-4 * scale,
                                   err_msg=f"activation of layer {entry['index']}")
        scale = max(np.abs(gradient).max(), 1e-6)
        np.testing.assert_allclose(entry["gradient"], gradient, atol=1e-4 * scale,
                                   err_msg=f"gradient of layer {entry['index']}")
    np.testing.assert_allclose(result["input_gradient"], input_gradient,
                               atol=1e-4 * np.abs(input_gradient).max())


def test_model_lists_top_level_layers(server, studio):
    status, model = request(server, "GET", "/api/model")
    assert status == 200
    assert model["input_shape"] == [1, 28, 28] and model["classes"] == [str(k) for k in range(10)]
    shapes = [layer["output_shape"] for layer in model["layers"]]
    assert shapes == [[8, 24, 24], [8, 24, 24], [8, 12, 12], [16, 8, 8], [16, 8, 8], [16, 4, 4],
                      [256], [10]]
    assert [layer["index"] for layer in model["layers"]] == list(range(8))
    assert model["layers"][0]["conv"] == {"kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0]}


@pytest.mark.parametrize("target", [None, 3])
def test_explain_equals_torch_layer_by_layer(server, studio, target):
    image = studio.x_test[5]
    status, result = request(server, "POST", "/api/explain", {"image": image[0].tolist(), "target": target})
    assert status == 200
    probabilities = np.array(result["probabilities"])
    assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-6
    assert result["predicted"] == int(np.argmax(probabilities))
    assert result["target"] == (result["predicted"] if target is None else target)
    assert result["loss"] == pytest.approx(-np.log(probabilities[result["target"]]), rel=1e-4)
    check_against_torch(result, studio.model, image)
    logits = studio.model.eval().forward(image[None])  # the whole model, engine's plan
    studio.model.train()
    np.testing.assert_allclose(result["layers"][-1]["activation"], logits[0], rtol=1e-4, atol=1e-5)


def test_explain_gives_conv_kernels_and_their_gradients(server, studio):
    image = studio.x_test[1]
    _, result = request(server, "POST", "/api/explain", {"image": image.tolist(), "target": 2})
    assert [bank["name"] for bank in result["kernels"]] == ["0.weight", "3.weight"]
    module = cn.interop.to_torch(studio.model).double().eval()
    logits = module(torch.tensor(image[None], dtype=torch.float64))
    torch.nn.functional.cross_entropy(logits, torch.tensor([2])).backward()
    for bank in result["kernels"]:
        index = bank["layer"]
        np.testing.assert_allclose(bank["weight"], module[index].weight.detach().numpy(), rtol=1e-6)
        expected = module[index].weight.grad.numpy()
        np.testing.assert_allclose(bank["gradient"], expected, atol=1e-4 * np.abs(expected).max())


def test_residual_and_batchnorm_model_from_a_saved_file(tmp_path):
    rng = np.random.default_rng(0)
    model = cn.models.build("cifar-resnet", (1, 28, 28), 10, rng=rng)
    for layer in model.layers:  # BatchNorm running statistics that are not the identity
        if isinstance(layer, cn.BatchNorm2d):
            layer.running_mean[...] = rng.uniform(-0.2, 0.2, layer.running_mean.shape)
            layer.running_var[...] = rng.uniform(0.5, 2.0, layer.running_var.shape)
    model.save(tmp_path / "resnet.npz")
    studio = open_studio(cn.load_model(tmp_path / "resnet.npz"), "mnist-sample", name="resnet")
    with serving(studio) as server:
        _, description = request(server, "GET", "/api/model")
        assert description["model"] == "resnet"
        blocks = [layer for layer in description["layers"] if "inner" in layer]
        assert len(blocks) == 3 and blocks[0]["name"] == "Residual"
        image = studio.x_test[0]
        status, result = request(server, "POST", "/api/explain", {"image": image.tolist(), "target": 1})
    assert status == 200
    check_against_torch(result, studio.model, image)
    index = str(description["layers"].index(blocks[0]))
    assert [item["name"].split()[0] for item in result["inner"][index]] == [
        f"layers.{k}" for k in range(5)]


def test_explain_restores_training_flags(studio):
    studio.model.train()
    studio.explain(studio.x_test[0], None)
    assert all(layer.training for layer in studio.model.layers)
    studio.model.eval()
    studio.explain(studio.x_test[0], None)
    assert not any(layer.training for layer in studio.model.layers)
    studio.model.train()


def test_training_steps_start_and_pause(server, studio):
    status, state = request(server, "POST", "/api/train", {"action": "step", "lr": 0.05, "batch_size": 16})
    assert status == 200 and not state["running"]
    assert state["lr"] == 0.05 and state["batch_size"] == 16
    first = state["step"]
    before = studio.model.layers[0].weight.data.copy()
    _, state = request(server, "POST", "/api/train", {"action": "step"})
    assert state["step"] == first + 1 and len(state["loss"]) == state["step"]
    assert not np.array_equal(before, studio.model.layers[0].weight.data)
    np.testing.assert_array_equal(state["first_kernels"]["weight"], studio.model.layers[0].weight.data)
    _, state = request(server, "POST", "/api/train", {"action": "start"})
    assert state["running"]
    image = studio.x_test[2][0].tolist()
    for _ in range(3):  # explaining while training runs: a consistent answer each time
        status, result = request(server, "POST", "/api/explain", {"image": image, "target": None})
        assert status == 200 and np.isfinite(result["loss"])
    _, state = request(server, "POST", "/api/train", {"action": "pause"})
    assert not state["running"]
    paused_at = state["step"]
    assert paused_at > first + 1
    _, state = request(server, "GET", "/api/train")
    assert state["step"] == paused_at and state["val_accuracy"]
    _, result = request(server, "POST", "/api/explain", {"image": image, "target": None})
    assert result["step"] == paused_at
    check_against_torch(result, studio.model, studio.x_test[2])


def test_a_non_finite_update_is_undone_and_stops_training():
    studio = open_studio(seed=1)
    weights = studio.model.layers[0].weight.data.copy()
    studio.optimizer.step = lambda: studio.model.layers[0].weight.data.fill(np.nan)  # a diverged step
    studio.step()
    assert studio.error and "lower the learning rate" in studio.error
    np.testing.assert_array_equal(studio.model.layers[0].weight.data, weights)
    assert studio.step_count == 0 and studio.training_state()["error"] == studio.error
    assert np.isfinite(studio.explain(studio.x_test[0], None)["loss"])
