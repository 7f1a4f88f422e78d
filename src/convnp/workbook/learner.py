"""Run the learner's code: load a file or take an object, call it, and locate every failure.

Everything the learner wrote is called through :func:`call`, which turns an exception into a
:class:`LearnerError` quoting the learner's own line, silences NumPy's floating-point warnings
(the checker looks at the values instead), and notices when an argument was changed in place.
"""

from __future__ import annotations

import importlib.util
import itertools
import linecache
import os
import sys
import traceback
import types
import warnings
from pathlib import Path

import numpy as np

PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # .../convnp
_counter = itertools.count()


class LearnerError(Exception):
    """The learner's code raised or misbehaved; the message says where, in their words."""


def load(path_or_object):
    """The learner's definitions: a module loaded from a file path, or the object as given.

    Raises
    ------
    FileNotFoundError
        When a path is given and no such file exists (a usage error, not a failed stage).
    LearnerError
        When the file has a syntax error or raises while it is imported.
    """
    if not isinstance(path_or_object, (str, os.PathLike)):
        return path_or_object
    path = Path(path_or_object)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    module_name = f"convnp_learner_{path.stem.replace('-', '_')}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would (dataclasses, pickling look it up)
    sys.path.insert(0, str(path.resolve().parent))  # so the file may import its neighbours
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ there
    try:
        with _quiet():
            spec.loader.exec_module(module)
    except SyntaxError as error:
        line = (error.text or "").strip()
        raise LearnerError(f"{path.name} does not compile: {error.msg} at line {error.lineno}:\n"
                           f"    {error.lineno} | {line}") from None
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any error in their file is a failed stage
        raise LearnerError(f"importing {path.name} raised " + describe(error)) from None
    finally:
        sys.path.remove(str(path.resolve().parent))
        sys.dont_write_bytecode = writes_bytecode
    return module


def definition(namespace, name: str, kind: str = "class"):
    """``namespace.name`` (attribute or dict key), or a LearnerError saying it is missing."""
    value = namespace.get(name) if isinstance(namespace, dict) else getattr(namespace, name, None)
    if value is None:
        raise LearnerError(f"no {kind} named {name!r} found: the exercise asks for {kind} {name}")
    return value


def describe(error: BaseException) -> str:
    """``Type: message`` plus the learner's line where it happened (the last frame outside
    convnp and the libraries)."""
    text = f"{type(error).__name__}: {error}".rstrip(": ")
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_learner(frame.filename)]
    if not frames:
        return text
    frame = frames[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    return (f"{text}\n  at line {frame.lineno} of {Path(frame.filename).name}, in {frame.name}:\n"
            f"    {frame.lineno} | {line}")


def _is_learner(filename: str) -> bool:
    if filename.startswith("<"):
        return filename.startswith("<string") or filename.startswith("<ipython")
    resolved = str(Path(filename).resolve())
    if resolved.startswith(PACKAGE_DIR) and "solutions" not in resolved:
        return False
    library_dirs = {os.path.dirname(os.__file__), os.path.dirname(np.__file__)}
    return "site-packages" not in resolved and not any(resolved.startswith(d) for d in library_dirs)


def call(what: str, function, *args, names=(), watch=True):
    """Call learner code ``function(*args)``; return its result.

    ``what`` names the call in messages (``"Convolution.backward"``); ``names`` names the array
    arguments (``("dout",)``), which must be unchanged afterwards (unless ``watch`` is False:
    the capstone's long training skips the copies).

    Raises
    ------
    LearnerError
        If the call raised (quoting the learner's line) or changed an argument in place.
    """
    saved = [np.array(arg, copy=True) if watch and isinstance(arg, np.ndarray) else None for arg in args]
    try:
        with _quiet():
            result = function(*args)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any error in their code is a failed stage
        raise LearnerError(f"{what} raised " + describe(error)) from None
    for index, (arg, before) in enumerate(zip(args, saved, strict=False)):
        if before is not None and not np.array_equal(arg, before, equal_nan=True):
            name = names[index] if index < len(names) else f"argument {index + 1}"
            raise LearnerError(
                f"{what} changed its argument `{name}` in place -- diagnosis: in-place "
                f"modification. The caller still holds that array (a residual branch, the next "
                f"layer's cache, a gradient check), and now sees wrong numbers. Work on a new "
                f"array instead: `{name} = {name}.copy()` first, or `np.where(...)`, `{name} * mask`.")
    return result


def as_array(value, what: str) -> np.ndarray:
    """The learner's result as a float array, or a LearnerError naming what is wrong with it."""
    if value is None:
        raise LearnerError(f"{what} is None: did you forget to return it (or to set it)?")
    if isinstance(value, tuple):
        raise LearnerError(f"{what} is a tuple of {len(value)} values; expected one array")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise LearnerError(f"{what} is not a numeric array (got {type(value).__name__})")
    return array.astype(np.float64)


def attribute(obj, name: str, owner: str) -> np.ndarray:
    """``obj.name`` as set by the learner's backward, or a LearnerError if it is missing."""
    if not hasattr(obj, name):
        raise LearnerError(f"{owner}.backward did not set self.{name}")
    return as_array(getattr(obj, name), f"self.{name} (set by {owner}.backward)")


def namespace_of(definitions: dict) -> types.SimpleNamespace:
    """A namespace holding ``definitions`` (what a notebook passes is often a dict)."""
    return types.SimpleNamespace(**definitions)


class _quiet:
    """Silence floating-point warnings and messages while learner code runs."""

    def __enter__(self):
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._warnings.__exit__(*exc)
        self._errstate.__exit__(*exc)
        return False
