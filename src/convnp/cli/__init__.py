"""The ``convnp`` command line: train, evaluate, predict, explain and list datasets.

Every failure a user can cause ends with one line ``convnp: error: …`` and exit status 2;
set ``CONVNP_DEBUG=1`` to see the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..datasets import DatasetError
from ..engines import ENGINES, engine, get_engine
from . import bench, data, evaluate, exercise, explain, export, predict, studio, train
from .common import CLIError

ENGINE_COMMANDS = ("train", "evaluate", "predict")  # the commands that take --engine
USER_ERRORS = (CLIError, DatasetError, FileNotFoundError, ValueError, TypeError, ImportError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convnp", description="Convolutional neural networks from scratch in NumPy.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in (train, evaluate, predict, explain, data, bench, exercise, export, studio):
        command.add_parser(subparsers)
    for name in ENGINE_COMMANDS:
        subparsers.choices[name].add_argument(
            "--engine", choices=ENGINES, default=None,
            help="fast (default; $CONVNP_ENGINE if set) or reference (the textbook code of "
                 "convnp.functional: the same numbers, slower, easy to step through)")
    return parser


def main(argv=None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores the default display afterwards
            warnings.showwarning = _one_line_warning
            with engine(getattr(args, "engine", None) or get_engine()):
                return args.run(args)
    except BrokenPipeError:  # e.g. `convnp predict … --json | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        return 1
    except USER_ERRORS as error:
        if os.environ.get("CONVNP_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"convnp: error: {message}", file=sys.stderr)
        return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Show a warning as ``convnp: warning: …`` (no file name and source line, as Python would)."""
    print(f"convnp: warning: {message}", file=sys.stderr if file is None else file)


def entry_point() -> None:
    """Console-script entry point: exit with :func:`main`'s status."""
    sys.exit(main())
