"""The stages every exercise runs, easy to hard, built from an exercise's :class:`Spec`.

A spec says how to run the learner's definitions on a :class:`Case` (``run``: a dict of named
outputs such as ``out``, ``dx``, ``dW``) and which clues fit a wrong output. The same ``run``
on the reference solution gives the expected values, so every stage is a comparison:

1. import and shapes   -- the definitions exist, run, and give arrays of the right shapes;
2. small readable case -- the skeleton's own first case (arange-like inputs);
3. random cases        -- every geometry the exercise covers; a failure names the case, and a
                          pattern over cases (all stride-1 cases pass...) names the cause;
4. numerical gradient  -- the learner's backward against central differences of their forward;
5. training            -- the learner's code inside a convnp model, step for step with the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .diagnosis import close, compare
from .learner import LearnerError


class StageFailure(Exception):
    """A stage found a wrong answer; the message locates it."""


@dataclass
class Case:
    """One set of inputs: ``label`` describes it to the learner, ``tags`` feed pattern diagnoses."""

    label: str
    inputs: dict
    tags: dict = field(default_factory=dict)


class Spec:
    """How an exercise's stages run. Subclasses override what applies to them."""

    outputs: tuple = ()  # names ``run`` returns, in the order they are compared
    gradient_inputs: dict = {}  # input name -> output holding its gradient (numerical check)

    def first_case(self) -> Case:
        raise NotImplementedError

    def random_cases(self, rng) -> list[Case]:
        raise NotImplementedError

    def run(self, namespace, case: Case) -> dict:
        """The named outputs of the definitions in ``namespace`` on ``case`` (float64 arrays)."""
        raise NotImplementedError

    def gradient_case(self, rng) -> Case:
        """The case of the numerical-gradient stage (its inputs include ``dout``)."""
        raise NotImplementedError

    def forward_value(self, namespace, case: Case):
        """The raw forward result (for the numerical gradient); only with ``gradient_inputs``."""
        raise NotImplementedError

    def clues(self, case: Case, name: str, reference) -> dict:
        """Keyword arguments for :func:`compare`: factors, alternatives, regions."""
        return {}

    def accepted(self, case: Case, name: str) -> list:
        """Other answers that are right too (e.g. the book's loss with its 1e-7 inside the log)."""
        return []

    def train(self, namespace, reference) -> str:
        """Train inside a convnp model; return a summary or raise StageFailure."""
        raise NotImplementedError


def compare_case(spec: Spec, namespace, reference, case: Case, shapes_only=False) -> str | None:
    """None when every output of ``case`` matches the reference, else the first difference."""
    got = spec.run(namespace, case)
    expected = spec.run(reference, case)
    for name in spec.outputs:
        if shapes_only:
            message = compare(name, np.zeros(got[name].shape), np.zeros(expected[name].shape))
        elif any(close(got[name], other) for other in spec.accepted(case, name)):
            message = None
        else:
            message = compare(name, got[name], expected[name], **spec.clues(case, name, reference))
        if message:
            return f"{case.label}\n{message}"
    return None


def shapes_stage(spec: Spec, namespace, reference) -> str:
    case = spec.first_case()
    failure = compare_case(spec, namespace, reference, case, shapes_only=True)
    if failure:
        raise StageFailure(failure)
    got = spec.run(namespace, case)
    return "shapes: " + ", ".join(f"{name} {tuple(got[name].shape)}" for name in spec.outputs)


def first_case_stage(spec: Spec, namespace, reference) -> str:
    case = spec.first_case()
    failure = compare_case(spec, namespace, reference, case)
    if failure:
        raise StageFailure(failure)
    return f"{case.label}: all outputs match"


def random_cases_stage(spec: Spec, namespace, reference) -> str:
    cases = spec.random_cases(np.random.default_rng(0))
    failures = []
    for case in cases:
        try:
            failure = compare_case(spec, namespace, reference, case)
        except LearnerError as error:
            failure = f"{case.label}\n{error}"
        if failure:
            failures.append((case, failure))
    if not failures:
        return f"{len(cases)} cases match ({_covered(cases)})"
    pattern = "" if "diagnosis:" in failures[0][1] else _pattern([case for case, _ in failures], cases)
    raise StageFailure(f"{len(failures)} of {len(cases)} cases fail. First: {failures[0][1]}"
                       + (f"\n{pattern}" if pattern else ""))


def _covered(cases) -> str:
    parts = []
    for tag in ("stride", "pad"):
        values = sorted({case.tags[tag] for case in cases if tag in case.tags})
        if values:
            parts.append(f"{tag} {values[0]}-{values[-1]}")
    names = sorted({name for case in cases for name, on in case.tags.items() if on is True})
    return ", ".join(parts + names) or "shapes and values"


def _pattern(failed, cases) -> str:
    """A diagnosis from which cases fail: stride, padding, or one special kind of case."""
    def only_others_fail(tag, good):  # some cases are "good" for this tag, and none of them failed
        has_good = any(good(case.tags[tag]) for case in cases if tag in case.tags)
        return has_good and all(tag in case.tags and not good(case.tags[tag]) for case in failed)
    if only_others_fail("stride", lambda stride: stride == 1):
        return ("diagnosis: stride -- every case with stride 1 passes, cases with stride 2 or 3 "
                "fail: the window of output (i, j) starts at row i*stride, column j*stride, and "
                "OH = (H + 2*pad - FH) // stride + 1.")
    if only_others_fail("pad", lambda pad: pad == 0):
        return ("diagnosis: padding -- every case without padding passes, padded cases fail: pad "
                "both sides of H and W, then cut the same border off (col2im), and OH counts 2*pad.")
    for tag, cause in (("ties", "which maximum gets the gradient -- only cases with tied maxima "
                                "fail: give each window's gradient to its first maximum (row-major,"
                                " np.argmax), not to every tied element."),
                       ("large", "numerical stability -- only the large-input cases fail."),
                       ("one_hot", "labels -- only the one-hot label case fails: t may be labels "
                                   "(N,) or one-hot (N, K).")):
        if all(case.tags.get(tag) for case in failed) and any(not c.tags.get(tag) for c in cases):
            return f"diagnosis: {cause}"
    return ""


# (eps, tolerance) tried in turn: float64 code passes the first; code that computes in float32
# (whatever dtype it returns) needs a larger step, where rounding noise no longer dominates.
GRADIENT_SETTINGS = ((1e-6, 1e-5), (1e-3, 1e-3), (1e-2, 1e-2))


def gradient_stage(spec: Spec, namespace, reference, elements: int = 30) -> str:
    """Central differences of ``sum(forward * dout)`` against the learner's own backward."""
    case = spec.gradient_case(np.random.default_rng(1))
    analytic = spec.run(namespace, case)
    checked = []
    for input_name, output_name in spec.gradient_inputs.items():
        array = case.inputs[input_name]
        picks = np.random.default_rng(2).choice(array.size, size=min(elements, array.size), replace=False)
        for eps, tolerance in GRADIENT_SETTINGS:
            numeric = np.full(array.shape, np.nan)
            for flat in picks:
                index = np.unravel_index(flat, array.shape)
                numeric[index] = _central_difference(spec, namespace, case, input_name, index, eps)
            mask = ~np.isnan(numeric)
            message = compare(f"{output_name} (at {mask.sum()} sampled elements)",
                              np.where(mask, analytic[output_name], 0.0), np.where(mask, numeric, 0.0),
                              tolerance=tolerance)
            if message is None:
                break
        if message:
            steps = ", ".join(f"{eps:g}" for eps, _ in GRADIENT_SETTINGS)
            raise StageFailure(f"{case.label}: your backward disagrees with central differences "
                               f"of your own forward (eps {steps}).\n{message}")
        checked.append(f"{output_name} ({mask.sum()} elements)")
    return f"{case.label}: {', '.join(checked)} match central differences"


def _central_difference(spec, namespace, case, input_name, index, eps) -> float:
    values = []
    for sign in (1, -1):
        inputs = {key: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                  for key, value in case.inputs.items()}
        inputs[input_name][index] += sign * eps
        shifted = Case(case.label, inputs, case.tags)
        out = np.asarray(spec.forward_value(namespace, shifted), dtype=np.float64)
        values.append(float(np.sum(out * np.asarray(case.inputs["dout"], dtype=np.float64))))
    return (values[0] - values[1]) / (2 * eps)


def training_stage(spec: Spec, namespace, reference) -> str:
    return spec.train(namespace, reference)


def same_trajectory(got_losses, expected_losses, what: str, tolerance: float = 1e-5) -> str:
    """Compare two training runs' per-step losses; return a summary or raise StageFailure."""
    for step, (got, expected) in enumerate(zip(got_losses, expected_losses, strict=False), start=1):
        if not np.isfinite(got) or abs(got - expected) > tolerance * max(abs(expected), 1.0):
            raise StageFailure(f"{what}: step {step} loss {got:.6g}, the reference's {expected:.6g}. "
                               f"Every earlier step matched." if step > 1 else
                               f"{what}: the first step's loss is {got:.6g}, the reference's "
                               f"{expected:.6g}.")
    if not got_losses[-1] < got_losses[0]:
        raise StageFailure(f"{what}: the loss did not go down ({got_losses[0]:.4g} -> {got_losses[-1]:.4g})")
    return (f"{what}: loss {got_losses[0]:.4f} -> {got_losses[-1]:.4f} over {len(got_losses)} steps, "
            f"step for step the reference's")
