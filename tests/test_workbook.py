"""The workbook: skeletons, the checker's API, learner errors and exceptions, other correct styles."""

import re
import types
from pathlib import Path

import numpy as np
import pytest

import convnp as cn
from convnp.workbook import EXERCISES
from workbook_styles import BOOK_SOFTMAX_WITH_LOSS, LOOP_CONVOLUTION, LOOP_MAXPOOL_BACKWARD, write


@pytest.mark.parametrize("name", list(EXERCISES))
def test_skeleton_has_the_header_docstring_and_regions_and_imports(name, tmp_path):
    text = cn.workbook.skeleton_text(name)
    assert text.splitlines()[0] == f"# convnp exercise: {name}"
    assert '"""' in text and "# BEGIN" in text and "# END" in text
    assert text.count("# BEGIN") == text.count("# END") == text.count("raise NotImplementedError")
    path = cn.workbook.start(name, tmp_path)
    assert path == tmp_path / f"{name}.py" and path.read_text() == text
    report = cn.workbook.check(path)  # a fresh skeleton imports, then fails on the first stage
    failed = report.stages[-1]
    assert not report.passed and failed.name == ("each layer" if name == "convnet" else "import and shapes")
    assert "NotImplementedError" in failed.message and " | raise NotImplementedError" in failed.message


def test_start_never_overwrites(tmp_path):
    path = cn.workbook.start("relu", tmp_path)
    path.write_text("# convnp exercise: relu\n# my work\n")
    with pytest.raises(FileExistsError):
        cn.workbook.start("relu", tmp_path)
    assert path.read_text().endswith("# my work\n")


def test_syntax_error_is_a_failed_stage_quoting_the_line(tmp_path):
    text = cn.workbook.solution("relu").replace("        self.mask = x <= 0", "        self.mask = x <= 0)")
    report = cn.workbook.check(write(tmp_path, "relu", text))
    stage = report.stages[0]
    assert not report.passed and not stage.passed and stage.name == "import and shapes"
    line = text.splitlines().index("        self.mask = x <= 0)") + 1
    assert f"line {line}" in stage.message and "self.mask = x <= 0)" in stage.message
    assert report.skipped == [name for name, _ in EXERCISES["relu"].stages[1:]]


def test_exception_in_learner_code_quotes_their_line(tmp_path):
    old = "        self.dW = self.x.T @ dout  # (D, M)"
    text = cn.workbook.solution("affine").replace(old, "        self.dW = self.x @ dout")
    report = cn.workbook.check(write(tmp_path, "affine", text))
    message = report.stages[-1].message
    line = text.splitlines().index("        self.dW = self.x @ dout") + 1
    assert "Affine.backward raised ValueError" in message
    assert f"at line {line} of affine.py, in backward" in message and "self.dW = self.x @ dout" in message


def test_loop_based_float32_solution_passes_and_overwriting_is_diagnosed(tmp_path):
    correct = LOOP_CONVOLUTION.replace("ACCUMULATE", "+=")
    report = cn.workbook.check(write(tmp_path, "conv-backward", correct))
    assert report.passed, str(report)
    wrong = LOOP_CONVOLUTION.replace("ACCUMULATE", "=")
    report = cn.workbook.check(write(tmp_path, "conv-backward", wrong))
    assert not report.passed and report.stages[-1].name == "small readable case"
    assert "several windows" in report.stages[-1].message


def test_check_takes_a_module_a_namespace_or_a_dict():
    reference = cn.workbook.reference("relu")
    assert cn.workbook.check(reference, name="relu").passed
    assert cn.workbook.check(types.SimpleNamespace(Relu=reference.Relu), name="relu").passed
    assert cn.workbook.check({"Relu": reference.Relu}, name="relu").passed
    report = cn.workbook.check({}, name="relu")
    assert not report.passed and "no class named 'Relu'" in report.stages[0].message
    with pytest.raises(ValueError, match="name="):
        cn.workbook.check(reference)


def test_report_text_and_dict():
    report = cn.workbook.check(cn.workbook.reference("sigmoid"), name="sigmoid")
    text = str(report)
    assert text.startswith("exercise sigmoid") and "All stages pass." in text
    assert report.to_dict()["passed"] is True and report.hints == []


def test_usage_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown exercise 'nope'"):
        cn.workbook.check(tmp_path / "x.py", name="nope")
    with pytest.raises(FileNotFoundError):
        cn.workbook.check(tmp_path / "missing.py")
    (tmp_path / "plain.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="convnp exercise: NAME"):
        cn.workbook.check(tmp_path / "plain.py")
    with pytest.raises(ValueError, match="hint levels 1 to 3"):
        cn.workbook.hint("relu", 4)






def test_references_equal_the_textbook_functions():
    """The graders' expected values come from the references: they agree with convnp.functional."""
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    bias = rng.standard_normal(4)
    conv = cn.workbook.reference("conv-backward").Convolution(weight, bias, 2, 1)
    out = conv.forward(x)
    np.testing.assert_allclose(out, cn.functional.conv2d_forward_naive(x, weight, bias, 2, 1), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    naive = cn.functional.conv2d_backward_naive(dout, x, weight, 2, 1)
    np.testing.assert_allclose(dx, naive[0], atol=1e-12)
    np.testing.assert_allclose(conv.dW, naive[1], atol=1e-12)
    pool = cn.workbook.reference("maxpool-backward").MaxPool(3, 3, 2, 1)
    x = rng.integers(0, 3, (2, 2, 7, 7)).astype(np.float64)  # ties everywhere
    out = pool.forward(x)
    np.testing.assert_array_equal(out, cn.functional.pool2d_naive(x, 3, 2, 1))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(pool.backward(dout), cn.functional.pool2d_backward_naive(dout, x, 3, 2, 1))
    col = cn.workbook.reference("im2col").im2col(x, 3, 2, 2, 1)
    np.testing.assert_array_equal(col, cn.functional.im2col(x, 3, 2, 2, 1))
    np.testing.assert_allclose(cn.workbook.reference("col2im").col2im(col, x.shape, 3, 2, 2, 1),
                               cn.functional.col2im(col, x.shape, 3, 2, 2, 1))


def test_diagnosis_heatmap_and_factor():
    from convnp.workbook.diagnosis import compare
    expected = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    got = expected.copy()
    got[0, 0, 0, :] += 1
    message = compare("dx", got, expected, regions=[(np.pad(np.zeros((1, 1, 2, 2), bool), [(0, 0)] * 2 +
                                                            [(1, 1)] * 2, constant_values=True), "border")])
    assert "worst at index (0, 0, 0" in message and "####\n    ....\n" in message
    assert "diagnosis: border" in message
    assert "sum vs mean" in compare("db", expected / 4, expected, factors=[(4, "the batch size N")])
    assert compare("x", expected.astype(np.float32), expected) is None


def test_the_books_softmax_with_loss_passes(tmp_path):
    report = cn.workbook.check(write(tmp_path, "softmax-with-loss", BOOK_SOFTMAX_WITH_LOSS))
    assert report.passed, str(report)


def test_loop_based_maxpool_backward_passes_and_overwriting_is_diagnosed(tmp_path):
    text = cn.workbook.solution("maxpool-backward")
    start = text.index("    def backward(self, dout):")
    end = text.index("        # END", start) + len("        # END\n")
    for accumulate, passes in (("+=", True), ("=", False)):
        loops = LOOP_MAXPOOL_BACKWARD.lstrip("\n").replace("ACCUMULATE", accumulate)
        mine = text[:start] + loops + text[end:]
        report = cn.workbook.check(write(tmp_path, "maxpool-backward", mine))
        assert report.passed == passes, str(report)
    assert report.stages[-1].name == "random cases" and "overlapping windows" in report.stages[-1].message


def test_numerical_gradient_stage_catches_a_backward_that_disagrees_with_its_own_forward():
    from convnp.workbook import stages
    from convnp.workbook.layer_specs import ActivationSpec

    class Relu:  # backward lets everything through: wrong for its own forward
        def forward(self, x):
            return np.maximum(x, 0)

        def backward(self, dout):
            return dout * 1.0

    namespace = types.SimpleNamespace(Relu=Relu)
    with pytest.raises(stages.StageFailure, match="disagrees with central differences"):
        stages.gradient_stage(ActivationSpec("Relu"), namespace, namespace)


def test_tutorial_examples_run():
    """docs/workbook.md's Python blocks run; its loop convolution is the textbook's."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "workbook.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace = {"np": np}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/workbook.md block {index}", "exec"), namespace)
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    bias = rng.standard_normal(4)
    expected = cn.functional.conv2d_forward_naive(x[None], weight, bias, 2, 1)[0]
    np.testing.assert_allclose(namespace["conv_one_image"](x, weight, bias, 2, 1), expected, atol=1e-12)
