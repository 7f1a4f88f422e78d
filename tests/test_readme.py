"""The README's Python examples run as written, and its test command is the one CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # examples may write files (model.save)
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "__readme__"})


def test_quickstart_fit_reaches_high_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit_block = next(block for block in BLOCKS if ".fit(" in block)
    namespace = {"__name__": "__readme__"}
    exec(compile(fit_block, "README.md fit example", "exec"), namespace)
    assert namespace["history"].history["val_accuracy"][-1] > 0.95


def test_ci_runs_the_readme_test_command():
    command = re.search(r"```bash\n(pip install -e '\.\[dev\]' && .*?)\n```", README).group(1)
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines
