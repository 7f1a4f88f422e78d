"""The workbook: learn by writing the layers yourself, with a checker that says where you went wrong.

Each exercise gives a skeleton in the style of *Deep Learning from Scratch* (``start``); the
learner fills the ``# BEGIN`` / ``# END`` regions and runs ``check``, which runs stages from easy
to hard and stops at the first failure with a located diagnosis::

    import convnp as cn
    report = cn.workbook.check("workbook/conv-backward.py")
    print(report)            # stages, the failing element, a heatmap, a named cause
    report.passed, report.to_dict()

The same from the shell: ``convnp exercise list | start | check | hint | solution``.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import learner
from .exercises import EXERCISES, Exercise, find
from .report import Report, StageResult
from .skeleton import exercise_name, skeleton, unfinished
from .stages import StageFailure

DEFAULT_DIR = "workbook"
STATUS_FILE = ".convnp-workbook.json"  # what check last found, per exercise, in the file's folder

__all__ = ["EXERCISES", "Exercise", "Report", "StageResult", "check", "hint", "solution", "start",
           "status", "skeleton_text", "DEFAULT_DIR"]

_references = {}


def reference(name: str):
    """The reference solution of exercise ``name``, loaded once."""
    if name not in _references:
        _references[name] = learner.load(find(name).solution_path)
    return _references[name]


def skeleton_text(name: str) -> str:
    """What ``start`` writes for exercise ``name``."""
    return skeleton(find(name).solution_path.read_text())


def solution(name: str) -> str:
    """The reference solution of exercise ``name``, as source text."""
    return find(name).solution_path.read_text()


def hint(name: str, level: int = 1) -> str:
    """Hint number ``level`` (1 = a nudge … the last = nearly the code) for exercise ``name``."""
    hints = find(name).hints
    if not 1 <= level <= len(hints):
        raise ValueError(f"exercise {name!r} has hint levels 1 to {len(hints)}, got {level}")
    return hints[level - 1]


def start(name: str, directory=DEFAULT_DIR) -> Path:
    """Write the skeleton of ``name`` to ``directory/name.py``; never overwrite an existing file."""
    text = skeleton_text(name)
    path = Path(directory) / f"{name}.py"
    if path.exists():
        raise FileExistsError(f"{path} already exists; edit it, or remove it to start over")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as file:
        file.write(text)
    return path


def check(path_or_object, name: str | None = None) -> Report:
    """Run exercise ``name``'s stages on the learner's definitions; stop at the first failure.

    Parameters
    ----------
    path_or_object : str, Path, module, namespace, dict or object
        A learner's file, or anything holding their definitions as attributes (or keys).
    name : str, optional
        The exercise; by default read from the file's first line ``# convnp exercise: NAME``.

    Returns
    -------
    Report
        ``.passed``, ``.stages``, ``.hints``, ``str(report)``, ``.to_dict()``.

    Raises
    ------
    ValueError
        Unknown exercise, or no name given and none found in the file.
    FileNotFoundError
        ``path_or_object`` is a path to no file.
    """
    exercise = find(_exercise_name(path_or_object, name))
    report = _run_stages(exercise, path_or_object)
    _remember(path_or_object, report)
    return report


def _run_stages(exercise: Exercise, path_or_object) -> Report:
    report = Report(exercise.name)
    names = [stage_name for stage_name, _ in exercise.stages]
    try:
        namespace = learner.load(path_or_object)
        if isinstance(namespace, dict):
            namespace = learner.namespace_of(namespace)
    except learner.LearnerError as error:
        return _failed(report, exercise, 0, str(error), names)
    for index, (stage_name, run) in enumerate(exercise.stages):
        try:
            with _seeded_global_random(index):
                message = run(namespace, reference(exercise.name))
        except (StageFailure, learner.LearnerError) as error:
            return _failed(report, exercise, index, str(error), names)
        except Exception as error:  # noqa: BLE001 - e.g. a wrong shape deep in a convnp layer
            return _failed(report, exercise, index, "the check stopped: " + learner.describe(error), names)
        report.stages.append(StageResult(stage_name, True, message))
    return report


@contextmanager
def _seeded_global_random(seed: int):
    """NumPy's global random state seeded for one stage, the caller's restored afterwards.

    A learner's layer may draw from ``np.random`` (Dropout's mask, as in *Deep Learning from
    Scratch*); seeded, the same code gets the same report every time, and a wrong backward that
    an all-kept mask would hide is caught at the same stage every time."""
    saved = np.random.get_state()  # noqa: NPY002 - the legacy global state is what learners' code draws from
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def _failed(report, exercise, index, message, names) -> Report:
    report.stages.append(StageResult(names[index], False, message))
    report.skipped = names[index + 1:]
    report.hints = [exercise.hints[0], f"more: convnp exercise hint {exercise.name} --level 2"]
    return report


def _exercise_name(path_or_object, name):
    if name is not None:
        return name
    if isinstance(path_or_object, (str, Path)):
        path = Path(path_or_object)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        found = exercise_name(path.read_text(encoding="utf-8-sig", errors="replace"))
        if found is None:
            raise ValueError(f"{path} does not start with '# convnp exercise: NAME'; pass the name "
                             f"(--name NAME, or check(path, name=...))")
        return found
    raise ValueError("check(object) needs name=...: only a file says which exercise it is")


def status(directory=DEFAULT_DIR) -> dict[str, str]:
    """Each exercise's state in ``directory``: not started, started, written (not checked),
    passed, failed (as last checked; "changed since" if the file changed after the check)."""
    directory = Path(directory)
    recorded = _read_status(directory)
    states = {}
    for exercise_name_ in EXERCISES:
        path = directory / f"{exercise_name_}.py"
        if not path.is_file():
            states[exercise_name_] = "not started"
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        entry = recorded.get(exercise_name_)
        if unfinished(text):
            states[exercise_name_] = "started"
        elif entry and entry.get("sha256") == _digest(text):
            states[exercise_name_] = "passed" if entry.get("passed") else "failed"
        elif entry:
            states[exercise_name_] = "changed since the last check"
        else:
            states[exercise_name_] = "written, not checked"
    return states


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read_status(directory: Path) -> dict:
    try:
        return json.loads((directory / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _remember(path_or_object, report: Report) -> None:
    """Note the result beside a checked file (for ``exercise list``); never fail the check over it."""
    if not isinstance(path_or_object, (str, Path)):
        return
    path = Path(path_or_object)
    if path.stem != report.exercise or path.resolve().is_relative_to(learner.PACKAGE_DIR):
        return  # only the learner's own workbook files, never the package's reference solutions
    recorded = _read_status(path.parent)
    recorded[report.exercise] = {"passed": report.passed, "sha256": _digest(path.read_text(
        encoding="utf-8", errors="replace"))}
    try:
        (path.parent / STATUS_FILE).write_text(json.dumps(recorded, indent=1, sort_keys=True))
    except OSError:
        pass
