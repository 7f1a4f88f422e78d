"""Compare the learner's array with the expected one; when they differ, say where and why.

:func:`compare` returns ``None`` when the arrays agree to :data:`TOLERANCE` (relative to the
largest expected magnitude), else a message with the worst element (index, got, expected), how
many elements are wrong, a small text heatmap of where, and a *named* diagnosis when the evidence
fits one: a sign flip, a constant factor (sum vs mean), the same numbers in another order (layout),
a known alternative such as the kernel rotated by 180°, or differences confined to a region
(the padding border, tied maxima, overlapping windows).
"""

from __future__ import annotations

import itertools

import numpy as np

TOLERANCE = 1e-5  # relative, as the seed exercise's grader
HEATMAP_ROWS, HEATMAP_COLS = 12, 40


def scale_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| / max |expected| (the denominator floored at 1e-8)."""
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-8)
    return float(np.max(np.abs(got - expected), initial=0.0)) / scale


def close(got, expected, tolerance: float = TOLERANCE) -> bool:
    """Same shape and within ``tolerance`` relative to the expected scale."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.all(np.isfinite(got) == np.isfinite(expected))) \
        and scale_error(np.nan_to_num(got), np.nan_to_num(expected)) <= tolerance


def compare(what: str, got, expected, *, factors=(), alternatives=(), regions=(),
            tolerance: float = TOLERANCE) -> str | None:
    """None when ``got`` matches ``expected``, else a message locating the difference.

    Parameters
    ----------
    what : str
        The output's name, e.g. ``"dx"``.
    got, expected : ndarray
    factors : sequence of (float, str)
        Known constants, e.g. ``(N, "the batch size N")``: got == expected * f or / f is named.
    alternatives : sequence of (ndarray, str)
        Known wrong answers and their diagnosis, e.g. the output of a flipped kernel.
    regions : sequence of (bool ndarray of expected's shape, str)
        A diagnosis that fits when every wrong element lies inside the region.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return _shape_message(what, got, expected, alternatives)
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{what}: {int(bad.sum())} of {got.size} elements are inf or NaN, first at index "
                f"{index} (expected {expected[index]:.6g}) -- diagnosis: numerical stability. "
                f"Large inputs overflow exp(); compute it on shifted values (x - max) or pick the "
                f"form of the formula that stays finite.")
    if scale_error(got, expected) <= tolerance:
        return None
    return _located(what, got, expected) + _diagnosis(got, expected, factors, alternatives, regions,
                                                      tolerance)


def _located(what, got, expected) -> str:
    error = np.abs(got - expected)
    scale = max(float(np.max(np.abs(expected))), 1e-8)
    wrong = error > TOLERANCE * scale
    index = tuple(int(i) for i in np.unravel_index(np.argmax(error), error.shape))
    text = (f"{what} differs from the expected values in {int(wrong.sum())} of {got.size} elements.\n"
            f"  worst at index {index}: got {got[index]:.6g}, expected {expected[index]:.6g}\n")
    return text + heatmap(wrong, index)


def heatmap(wrong: np.ndarray, index: tuple) -> str:
    """Rows of '.' (right) and '#' (wrong) for the 2-D slice holding ``index`` (shrunk to fit)."""
    if wrong.ndim == 0:
        return ""
    if wrong.ndim == 1:
        grid, label = wrong[None, :], ""
    else:
        grid = wrong[index[:-2]] if wrong.ndim > 2 else wrong
        label = f" [{', '.join(map(str, index[:-2]))}, :, :]" if wrong.ndim > 2 else ""
    rows, cols = grid.shape
    step_r, step_c = -(-rows // HEATMAP_ROWS), -(-cols // HEATMAP_COLS)
    if step_r > 1 or step_c > 1:  # one character per block: '#' if anything in it is wrong
        padded = np.zeros((-(-rows // step_r) * step_r, -(-cols // step_c) * step_c), dtype=bool)
        padded[:rows, :cols] = grid
        grid = padded.reshape(padded.shape[0] // step_r, step_r, -1, step_c).any(axis=(1, 3))
        label += f" (each character: {step_r}x{step_c} elements)"
    lines = ["    " + "".join("#" if cell else "." for cell in row) for row in grid]
    return f"  where ('#' wrong, '.' right), slice{label}:\n" + "\n".join(lines) + "\n"


def _diagnosis(got, expected, factors, alternatives, regions, tolerance) -> str:
    for alternative, cause in alternatives:
        if close(got, alternative, tolerance):
            return f"  diagnosis: {cause}"
    if close(got, -expected, tolerance):
        return "  diagnosis: sign -- every value is the expected one negated."
    ratio = float(np.sum(got * expected) / max(float(np.sum(expected * expected)), 1e-300))
    if abs(ratio) > 1e-12 and close(got, ratio * expected, tolerance):
        return _factor_cause(ratio, factors)
    if close(np.sort(got, axis=None), np.sort(expected, axis=None), tolerance):
        return ("  diagnosis: layout -- the right numbers in the wrong places (axes in another "
                "order, a transpose, or a reshape without the transpose before it).")
    scale = max(float(np.max(np.abs(expected))), 1e-8)
    wrong = np.abs(got - expected) > tolerance * scale
    for region, cause in regions:
        if region is not None and region.any() and (~region).any() and not np.any(wrong & ~region):
            return f"  diagnosis: {cause}"
    return ""


def _factor_cause(ratio: float, factors) -> str:
    for factor, name, *cause in factors:
        for value, how in ((factor, "times"), (1 / factor, "divided by")):
            if factor != 1 and abs(ratio - value) <= 1e-6 * abs(value):
                label = cause[0] if cause else "sum vs mean"
                return (f"  diagnosis: {label} -- every value is the expected one {how} {name} "
                        f"({factor:g}).")
    return f"  diagnosis: off by a constant factor -- every value is {ratio:.6g} times the expected one."


def _shape_message(what, got, expected, alternatives=()) -> str:
    text = f"{what} has shape {got.shape}, expected {expected.shape}."
    for alternative, cause in alternatives:
        if np.shape(alternative) == got.shape and close(got, alternative):
            return f"{text}\n  diagnosis: {cause}"
    if got.size == expected.size and close(got, expected.reshape(got.shape)):
        return (text + f" The values are right, in the wrong shape -- diagnosis: layout (reshape "
                f"the result to {expected.shape}, e.g. the input's original shape).")
    if got.size == expected.size and expected.ndim <= 6:
        for order in itertools.permutations(range(expected.ndim)):
            if order != tuple(range(expected.ndim)) and close(got, expected.transpose(order)):
                return (text + f" It equals the expected array with its axes in the order {order} "
                        f"-- diagnosis: layout (a transpose too many, or one missing).")
        return text + " Same number of elements -- diagnosis: layout (check the reshape/transpose)."
    return text
