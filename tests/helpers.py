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


CONV_ROUTES = ["windows", "band-narrow", "band-wide"]


def use_conv_route(monkeypatch, route):
    """Force the route of every convolution: ``'windows'`` (window matrices, never bands),
    ``'band-narrow'`` / ``'band-wide'`` (the band route with the smallest block > 1 / the largest
    block <= 16 that divides the output width; 1 where none does), or ``'auto'`` (the rule)."""
    from convnp.functional import conv

    def block(weight_shape, stride, out_hw):
        if route == "windows":
            return None
        divisors = [b for b in range(1, min(out_hw[1], 16) + 1) if out_hw[1] % b == 0]
        return divisors[min(1, len(divisors) - 1)] if route == "band-narrow" else divisors[-1]

    if route != "auto":
        monkeypatch.setattr(conv, "band_block", block)
