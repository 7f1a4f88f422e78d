"""Small helpers shared by several test modules (pytest puts tests/ on sys.path)."""

from convnp.cli import main


def run_cli(capsys, *argv):
    """Run ``convnp argv…`` in-process; return (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def maybe_pair(rng, low, high):
    """An int or, half of the time, an (h, w) tuple of ints in [low, high]."""
    if rng.random() < 0.5:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def as_pair(value):
    """``(v, v)`` for an int, the tuple itself otherwise."""
    return value if isinstance(value, tuple) else (value, value)
