"""Skeletons: the reference solution with every ``# BEGIN`` … ``# END`` region emptied.

The region's body becomes ``raise NotImplementedError(...)``, so a fresh skeleton imports,
and ``check`` answers with a failed first stage that quotes the line to replace.
"""

from __future__ import annotations

import re

BEGIN = re.compile(r"^(\s*)# BEGIN\b")
END = re.compile(r"^\s*# END\b")
PLACEHOLDER = "your code here, between BEGIN and END"
FIRST_LINE = re.compile(r"^#\s*convnp exercise:\s*([\w-]+)\s*$")


def skeleton(solution: str) -> str:
    """``solution`` with the code between each ``# BEGIN`` and ``# END`` line replaced."""
    lines, inside = [], False
    for line in solution.splitlines():
        begin = BEGIN.match(line)
        if begin:
            lines.append(line)
            lines.append(f"{begin.group(1)}raise NotImplementedError({PLACEHOLDER!r})")
            inside = True
        elif END.match(line):
            lines.append(line)
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines) + "\n"


def exercise_name(text: str) -> str | None:
    """The NAME of a first line ``# convnp exercise: NAME``, or None."""
    first = text.splitlines()[0] if text else ""
    match = FIRST_LINE.match(first.strip())
    return match.group(1) if match else None


def unfinished(text: str) -> bool:
    """Whether a learner's file still has an untouched ``raise NotImplementedError`` region."""
    return f"raise NotImplementedError({PLACEHOLDER!r})" in text
