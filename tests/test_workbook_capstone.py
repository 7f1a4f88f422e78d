"""The capstone: the learner's classes as a CNN that the checker trains on mnist-sample."""

import re

import convnp as cn
from workbook_styles import LOOP_CONVOLUTION, write


def test_capstone_with_a_broken_class_stops_at_that_class(tmp_path):
    text = cn.workbook.solution("convnet").replace("        self.db = np.sum(dout, axis=0)  # (M,)",
                                                   "        self.db = np.mean(dout, axis=0)")
    report = cn.workbook.check(write(tmp_path, "convnet", text))
    assert [stage.name for stage in report.stages] == ["import and shapes", "each layer"]
    assert report.stages[-1].message.startswith("Affine") and "sum vs mean" in report.stages[-1].message


def test_capstone_reference_learns_mnist_sample(tmp_path):
    """The learner's own classes, trained by the checker, reach 95% on mnist-sample (about a minute)."""
    report = cn.workbook.check(write(tmp_path, "convnet", cn.workbook.solution("convnet")))
    assert report.passed, str(report)
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", report.stages[-1].message).group(1))
    assert accuracy >= 95.0


def test_capstone_gives_up_early_on_loop_layers_and_names_the_slow_one(tmp_path, monkeypatch):
    from convnp.workbook import convnet
    monkeypatch.setattr(convnet, "PROBE_BATCHES", 1)
    monkeypatch.setattr(convnet, "MAX_SECONDS", 1.0)
    solution = cn.workbook.solution("convnet")
    loops = LOOP_CONVOLUTION.replace("ACCUMULATE", "+=").split("import numpy as np\n", 1)[1]
    text = "# convnp exercise: convnet\nimport numpy as np\nfrom convnp.functional import col2im, im2col\n" \
        + loops + "\n\n" + solution[solution.index("class Relu:"):]
    report = cn.workbook.check(write(tmp_path, "convnet", text))
    assert [stage.passed for stage in report.stages] == [True, True, False]
    assert "too slow" in report.stages[-1].message and "your Convolution" in report.stages[-1].message
