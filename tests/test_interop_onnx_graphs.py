"""from_onnx on small hand-written graphs: the ops and forms exporters rarely write together."""

import numpy as np
import pytest

from convnp.interop import from_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
helper, numpy_helper = onnx.helper, onnx.numpy_helper
RNG = np.random.default_rng(0)


def write(tmp_path, nodes, initializers, shape=(2, 4, 4), out=("batch", 3), opset=18):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", *shape])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(out))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    return path


def agrees_with_onnxruntime(path, shape=(2, 4, 4), batch=3):
    model = from_onnx(path)
    x = RNG.random((batch, *shape), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    return model


def test_matmul_add_constant_identity_dropout_and_reduce_mean(tmp_path):
    f32 = np.float32
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn", epsilon=1e-3),
        helper.make_node("Identity", ["n"], ["i"], name="id"),
        helper.make_node("Constant", [], ["ratio"], name="k", value=numpy_helper.from_array(f32(0.25))),
        helper.make_node("Dropout", ["i", "ratio"], ["d"], name="drop"),
        helper.make_node("Constant", [], ["axes"], name="k2",
                         value=numpy_helper.from_array(np.array([-1, -2]))),
        helper.make_node("ReduceMean", ["d", "axes"], ["r"], name="mean", keepdims=0),
        helper.make_node("MatMul", ["r", "W"], ["mm"], name="mm"),
        helper.make_node("Add", ["B", "mm"], ["y"], name="add")]
    initializers = {"w": RNG.standard_normal((2, 2, 3, 3)).astype(f32), "b": f32([0.1, -0.2]),
                    "s": f32([1.5, 0.5]), "m": f32([0.3, -0.1]), "v": f32([2.0, 0.5]),
                    "W": RNG.standard_normal((2, 3)).astype(f32), "B": f32([1, 2, 3])}
    model = agrees_with_onnxruntime(write(tmp_path, nodes, initializers))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2d", "BatchNorm2d", "Dropout", "GlobalAvgPool2d", "Linear"]
    assert model.layers[1].eps == 1e-3 and model.layers[2].p == 0.25


def test_a_mean_kept_as_an_image_becomes_a_whole_image_average_pool(tmp_path):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
             helper.make_node("Conv", ["g", "w"], ["c"], name="conv"),
             helper.make_node("Flatten", ["c"], ["y"], name="flat")]
    path = write(tmp_path, nodes, {"w": RNG.standard_normal((3, 2, 1, 1)).astype(np.float32)})
    model = agrees_with_onnxruntime(path)
    assert repr(model.layers[0]) == "AvgPool2d(k=4)"


def test_gemm_without_transposed_weights_and_with_alpha_beta(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "W", "B"], ["y"], name="gemm", alpha=0.5, beta=2.0)]
    initializers = {"W": RNG.standard_normal((32, 3)).astype(np.float32), "B": np.float32([[1, 2, 3]])}
    agrees_with_onnxruntime(write(tmp_path, nodes, initializers))


def test_a_flatten_for_the_batch_size_fixed_at_export_takes_any_batch(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "s"], ["f"], name="view"),
             helper.make_node("Gemm", ["f", "W"], ["y"], name="gemm", transB=1)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 2, 4, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([2, 32]), "s"),
         numpy_helper.from_array(RNG.standard_normal((3, 32)).astype(np.float32), "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8),
              str(tmp_path / "static.onnx"))
    model = agrees_with_onnxruntime(tmp_path / "static.onnx", batch=2)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Linear"]
    assert model.predict(RNG.random((5, 2, 4, 4), dtype=np.float32)).shape == (5, 3)


@pytest.mark.parametrize("node, initializers, message", [
    (helper.make_node("Conv", ["x", "w"], ["y"], name="c1", pads=[0, 0, 1, 1], strides=[2, 2]),
     {"w": np.ones((3, 2, 2, 2), np.float32)}, "Conv node 'c1': asymmetric pads \\[0, 0, 1, 1\\]"),
    (helper.make_node("Conv", ["x", "x"], ["y"], name="c2"), {},
     "Conv node 'c2': input 1 .* must be a constant"),
    (helper.make_node("HardSwish", ["x"], ["y"], name="hs"), {}, "unsupported op 'HardSwish' at node 'hs'"),
    (helper.make_node("Mul", ["x", "x"], ["y"], name="sq"), {}, "unsupported op 'Mul' at node 'sq'"),
    (helper.make_node("Reshape", ["x", "s"], ["y"], name="r"), {"s": np.array([-1, 4, 8])},
     "Reshape node 'r': only a flatten to \\(N, -1\\)"),
])
def test_what_cannot_be_mapped_is_named(tmp_path, node, initializers, message):
    path = tmp_path / "bad.onnx"
    out = ["n", "a", "b"] if node.op_type == "Reshape" else ["n", "a", "b", "c"]
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 2, 4, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, out)],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), str(path))
    with pytest.raises(ValueError, match=message):
        from_onnx(path)
