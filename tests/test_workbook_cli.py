"""The workbook's command line: a whole session, the JSON shape, exit codes 0/1/2, hints."""

import json
import re

import convnp as cn
from convnp.cli import main
from helpers import run_cli


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


def validate_json(text):
    """Exactly one JSON object of the documented shape."""
    value = json.loads(text)
    assert set(value) == {"exercise", "passed", "stages", "hints"}
    assert isinstance(value["exercise"], str) and isinstance(value["passed"], bool)
    assert all(set(stage) == {"name", "passed", "message"} and isinstance(stage["name"], str)
               and isinstance(stage["passed"], bool) and isinstance(stage["message"], str)
               for stage in value["stages"])
    assert all(isinstance(hint, str) for hint in value["hints"])
    return value

def test_cli_session(tmp_path, capsys):
    folder = tmp_path / "wb"
    status, out, _ = run_cli(capsys, "exercise", "start", "maxpool-backward", "--dir", folder)
    assert status == 0 and str(folder / "maxpool-backward.py") in out
    path = folder / "maxpool-backward.py"
    assert run_cli(capsys, "exercise", "start", "maxpool-backward", "--dir", folder)[0] == 2
    status, out, _ = run_cli(capsys, "exercise", "check", path)
    assert status == 1 and "FAIL" in out and "hint:" in out
    status, out, _ = run_cli(capsys, "exercise", "list", "--dir", folder)
    assert status == 0 and re.search(r"maxpool-backward +started", out)
    assert re.search(r"relu +not started", out)
    path.write_text('print("noise")\n' + cn.workbook.solution("maxpool-backward"))
    status, out, err = run_cli(capsys, "exercise", "check", path, "--name", "maxpool-backward", "--json")
    value = validate_json(out)
    assert status == 0 and value["passed"] and value["exercise"] == "maxpool-backward"
    assert "noise" in err
    status, out, _ = run_cli(capsys, "exercise", "list", "--dir", folder)
    assert re.search(r"maxpool-backward +passed", out)

def test_cli_json_on_failure_and_exit_codes(tmp_path, capsys):
    path = write(tmp_path, "mine", "# convnp exercise: relu\nclass Relu:\n    pass\n")
    status, out, _ = run_cli(capsys, "exercise", "check", path, "--json")
    value = validate_json(out)
    assert status == 1 and not value["passed"] and value["stages"][-1]["passed"] is False
    assert value["hints"]
    for argv in (["check", tmp_path / "missing.py"], ["check", path, "--name", "nope"],
                 ["hint", "nope"], ["solution", "nope"], ["hint", "relu", "--level", "9"]):
        status, out, err = run_cli(capsys, "exercise", *argv)
        assert status == 2 and out == "" and err.startswith("convnp: error: ") and err.count("\n") == 1

def test_cli_hint_and_solution(capsys):
    status, out, _ = run_cli(capsys, "exercise", "hint", "conv-backward", "--level", "2")
    assert status == 0 and "col_W" in out
    status, out, _ = run_cli(capsys, "exercise", "solution", "conv-backward")
    assert status == 0 and out.startswith("# convnp exercise: conv-backward")
    assert main(["exercise", "hint", "relu"]) == 0
