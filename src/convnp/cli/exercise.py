"""``convnp exercise``: the workbook -- start an exercise, check it, get hints, see the solution.

Exit status of ``check``: 0 when every stage passes, 1 when one fails (including an exception or
a syntax error in the learner's file), 2 for usage errors (unknown exercise, missing file).
"""

from __future__ import annotations

import contextlib
import json
import sys

from .. import workbook


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "exercise", help="the workbook: write the layers yourself, with a checker that locates mistakes",
        description="Exercises in the interface of 'Deep Learning from Scratch': start one, fill the "
                    "BEGIN/END regions, check it. Stages run from easy to hard and stop at the first "
                    "failure with a diagnosis (which output, the case, the worst element, a heatmap, "
                    "a named cause).")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the exercises and their status in the workbook folder")
    listing.add_argument("--dir", default=workbook.DEFAULT_DIR,
                         help=f"the workbook folder (default: ./{workbook.DEFAULT_DIR})")
    listing.set_defaults(run=run_list)
    start = actions.add_parser("start", help="write the skeleton DIR/NAME.py (never overwrites)")
    start.add_argument("name", metavar="NAME", help="the exercise (see 'convnp exercise list')")
    start.add_argument("--dir", default=workbook.DEFAULT_DIR,
                       help=f"where to write it (default: ./{workbook.DEFAULT_DIR})")
    start.set_defaults(run=run_start)
    check = actions.add_parser("check", help="check a file; exit 0 if every stage passes, 1 if not")
    check.add_argument("path", metavar="PATH", help="your exercise file")
    check.add_argument("--name", help="the exercise (default: from the file's first line "
                                      "'# convnp exercise: NAME')")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    check.set_defaults(run=run_check)
    hint = actions.add_parser("hint", help="a hint; higher levels say more")
    hint.add_argument("name", metavar="NAME")
    hint.add_argument("--level", type=int, default=1, help="1 (a nudge) to 3 (nearly the code)")
    hint.set_defaults(run=run_hint)
    solution = actions.add_parser("solution", help="print the reference solution")
    solution.add_argument("name", metavar="NAME")
    solution.set_defaults(run=run_solution)


def run_list(args) -> int:
    states = workbook.status(args.dir)
    width = max(len(name) for name in workbook.EXERCISES)
    print(f"{'exercise':<{width}}  {'status':<28}  what you write   (folder: {args.dir})")
    for name, exercise in workbook.EXERCISES.items():
        print(f"{name:<{width}}  {states[name]:<28}  {exercise.defines}")
    passed = sum(state == "passed" for state in states.values())
    print(f"{passed} of {len(states)} passed. Start one with: convnp exercise start NAME --dir {args.dir}")
    return 0


def run_start(args) -> int:
    path = workbook.start(args.name, args.dir)
    print(f"wrote {path}: fill the regions between '# BEGIN' and '# END', then run\n"
          f"  convnp exercise check {path}")
    return 0


def run_check(args) -> int:
    if args.json:  # anything the learner's code prints must not spoil the one JSON object
        with contextlib.redirect_stdout(sys.stderr):
            report = workbook.check(args.path, name=args.name)
        print(json.dumps(report.to_dict()))
    else:
        report = workbook.check(args.path, name=args.name)
        print(report)
    return 0 if report.passed else 1


def run_hint(args) -> int:
    print(workbook.hint(args.name, args.level))
    return 0


def run_solution(args) -> int:
    print(workbook.solution(args.name), end="")
    return 0
