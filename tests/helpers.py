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


CONV_ROUTES = ["windows", "band-narrow", "band-wide", "shifted"]
DX_ROUTES = ["columns", "offsets", "rows", "full-correlation"]


def use_conv_route(routes, route, dx=None, chunk_bytes=None):
    """Force the route of every fast convolution until the test ends, through the engine's
    documented hook :func:`convnp.fast.force_conv_route` (``routes`` is the conftest fixture
    that undoes it): ``'windows'`` (window matrices, never bands), ``'band-narrow'`` /
    ``'band-wide'`` (the band route with the smallest block > 1 / the largest block <= 16 that
    divides the output width), ``'shifted'`` (no bands; the shifted-rows forward for every
    stride-1 convolution, in bands of up to 3 outputs), or ``'auto'`` (the cost model and the
    rules); ``dx`` forces the input-gradient route of window-matrix convolutions,
    ``chunk_bytes`` the size of window-matrix chunks."""
    from convnp.fast import force_conv_route

    band = {"windows": "off", "band-narrow": "narrow", "band-wide": "wide", "shifted": "off",
            "auto": None}[route]
    shift = {"auto": None, "shifted": 3}.get(route, "off")
    routes.enter_context(force_conv_route(band=band, dx=dx, chunk_bytes=chunk_bytes, shift=shift))
