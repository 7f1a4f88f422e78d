"""Which route a fast convolution or max-pool takes, and the documented test hooks that force one.

The engine picks a convolution's routes from its shape (:func:`.conv_band.band_block`'s cost
model and :func:`.conv_shift.shift_block`'s rule for the forward, :func:`.conv_backward.dx_route`'s
rule for the input gradient). Every
route computes the same numbers; tests prove it by forcing each one on the same layers::

    from convnp.fast import force_conv_route
    with force_conv_route(band="wide", dx=None):
        ...  # every fast convolution in here takes the widest band route

A forced ``dx`` route that cannot serve a layer (``"rows"`` and ``"full-correlation"`` need
stride 1; a band forward always takes the band ``dx``) leaves that layer on its usual route.
"""

from __future__ import annotations

from contextlib import contextmanager

BAND_CHOICES = (None, "off", "narrow", "wide")
DX_CHOICES = (None, "columns", "offsets", "rows", "full-correlation")
_forced = {"band": None, "dx": None, "gather": None, "chunk_bytes": None, "shift": None, "stacked": None}


@contextmanager
def force_conv_route(band=None, dx=None, chunk_bytes=None, shift=None, stacked=None):
    """Force the routes of every fast convolution run inside the ``with`` block (a test hook).

    Parameters
    ----------
    band : None, 'off', 'narrow' or 'wide'
        None: the cost model decides. 'off': never the band route (window matrices).
        'narrow' / 'wide': the band route with the smallest block > 1 / the largest block
        <= 16 that divides the output width (1 where none does).
    dx : None, 'columns', 'offsets', 'rows' or 'full-correlation'
        The input-gradient route of window-matrix convolutions (see :mod:`.conv_backward`).
    chunk_bytes : None or int
        None: window (and band) matrices up to ``windows.KEEP_COLUMNS_BYTES`` are built whole
        and kept for backward, larger ones in chunks of ``windows.COLUMN_CHUNK_BYTES``. An int:
        never whole, always in chunks of at most this many bytes (at least one image each); the
        shifted-rows forward's partial outputs too (else ``conv_shift.STAGE_BYTES``).
    shift : None, 'off' or a positive int
        None: the rule decides (:func:`.conv_shift.shift_block`). 'off': never the shifted-rows
        forward. An int B: the shifted-rows forward for every stride-1 convolution that takes
        no band route (a forward pass alone takes it over the rule's band too), in bands of the
        largest divisor of the output width up to B.
    stacked : None, True or False
        None: the rule decides (:func:`.products.stacking`). True / False: the convolutions'
        products always / never go in blocks of rows for OpenBLAS's small-matrix kernels
        (:mod:`.products`; the same numbers either way, on any machine).
    """
    if band not in BAND_CHOICES:
        raise ValueError(f"force_conv_route: band must be one of {BAND_CHOICES}, got {band!r}")
    if dx not in DX_CHOICES:
        raise ValueError(f"force_conv_route: dx must be one of {DX_CHOICES}, got {dx!r}")
    if chunk_bytes is not None and not (isinstance(chunk_bytes, int) and chunk_bytes > 0):
        raise ValueError(f"force_conv_route: chunk_bytes must be None or a positive int, got {chunk_bytes!r}")
    if not (shift is None or shift == "off" or (isinstance(shift, int) and not isinstance(shift, bool)
                                                and shift > 0)):
        raise ValueError(f"force_conv_route: shift must be None, 'off' or a positive int, got {shift!r}")
    if stacked is not None and not isinstance(stacked, bool):
        raise ValueError(f"force_conv_route: stacked must be None, True or False, got {stacked!r}")
    with _forcing(band=band, dx=dx, chunk_bytes=chunk_bytes, shift=shift, stacked=stacked):
        yield


@contextmanager
def force_pool_route(gather=None):
    """Force the max-pool route inside the ``with`` block (a test hook).

    Parameters
    ----------
    gather : None, True or False
        None: by channel count (see :mod:`.pooling`). True: copy the window elements into one
        contiguous (KH*KW, N, OH, OW, C) array first. False: work on strided views of the image.
    """
    if gather not in (None, True, False):
        raise ValueError(f"force_pool_route: gather must be None, True or False, got {gather!r}")
    with _forcing(gather=gather):
        yield


@contextmanager
def _forcing(**choices):
    saved = dict(_forced)
    _forced.update(choices)
    try:
        yield
    finally:
        _forced.update(saved)


def gathers_windows(channels: int, threshold: int) -> bool:
    """Whether max-pool gathers its window elements: as forced, else below ``threshold`` channels."""
    forced = _forced["gather"]
    return channels < threshold if forced is None else forced


def forced(choice: str):
    """The value forced for ``choice`` ('band', 'dx', 'gather', 'chunk_bytes', 'shift' or
    'stacked'), or None."""
    return _forced[choice]

