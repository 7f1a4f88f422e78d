"""The checker's answer: one result per stage, the hints, and their text and JSON forms."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StageResult:
    """One stage: its name, whether it passed, and what it found (a located diagnosis if not)."""

    name: str
    passed: bool
    message: str

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "message": self.message}


@dataclass
class Report:
    """What :func:`convnp.workbook.check` returns.

    Attributes
    ----------
    exercise : str
    stages : list of StageResult
        The stages that ran, in order; checking stops at the first failure.
    hints : list of str
        The exercise's first hint when a stage failed, none when all passed.
    skipped : list of str
        Names of the stages not run after a failure.
    """

    exercise: str
    stages: list[StageResult] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every stage ran and passed."""
        return bool(self.stages) and not self.skipped and all(stage.passed for stage in self.stages)

    def to_dict(self) -> dict:
        """``{"exercise", "passed", "stages": [{"name", "passed", "message"}], "hints"}``."""
        return {"exercise": self.exercise, "passed": self.passed,
                "stages": [stage.to_dict() for stage in self.stages], "hints": list(self.hints)}

    def __str__(self) -> str:
        lines = [f"exercise {self.exercise}"]
        for number, stage in enumerate(self.stages, start=1):
            mark = "PASS" if stage.passed else "FAIL"
            first, *rest = stage.message.splitlines() or [""]
            lines.append(f"  {number}. {stage.name:<28} {mark}  {first}")
            lines.extend(f"       {line}" for line in rest)
        for offset, name in enumerate(self.skipped, start=len(self.stages) + 1):
            lines.append(f"  {offset}. {name:<28} not run")
        if self.passed:
            lines.append("All stages pass.")
        else:
            lines.extend(f"hint: {hint}" for hint in self.hints)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Report(exercise={self.exercise!r}, passed={self.passed})"
