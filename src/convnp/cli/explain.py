"""``convnp explain``: animations of convolution, pooling, im2col and training, with real numbers."""

from __future__ import annotations

import math
from pathlib import Path

from .. import explain, viz
from .common import CLIError

MAX_CHANNELS, MAX_SIZE = 16, 64  # larger inputs make animations no one can read (and huge arrays)
GEOMETRY_ONLY = ("size", "channels", "random", "max_frames")  # options training does not take


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "explain", help="animate how a convolution, pooling, im2col or training works",
        description="Write OUT/NAME.gif and a still OUT/NAME.png of its last frame. Every number "
                    "shown is computed by convnp's own functions, on a crop of a real MNIST digit "
                    "(or random values with --random). Needs the viz extra.")
    parser.add_argument("name", choices=explain.NAMES, help="which animation")
    parser.add_argument("--kernel", type=int, help="kernel (window) size (default 3; pool: 2)")
    parser.add_argument("--stride", type=int, help="stride (default 1; pool: the kernel size)")
    parser.add_argument("--padding", type=int, help="zero padding on every side (default 0)")
    parser.add_argument("--channels", type=int, help="input channels (default 1)")
    parser.add_argument("--size", type=int,
                        help="input height and width (default 6; conv-backward, im2col: 5)")
    parser.add_argument("--seed", type=int, default=0,
                        help="picks the digit, kernel and gradient (default 0)")
    parser.add_argument("--random", action="store_true", help="random input values instead of an MNIST crop")
    parser.add_argument("--max-frames", type=int, help="cap on frames per phase; larger inputs are "
                        "subsampled evenly (default 36; pool: 24)")
    parser.add_argument("--out", default=".", help="output directory (default: current directory)")
    parser.add_argument("--fps", type=float, default=4, help="frames per second (default 4)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if not viz.available():
        raise CLIError(viz.VIZ_HINT)
    if not math.isfinite(args.fps) or args.fps <= 0:
        raise CLIError(f"--fps must be a positive number, got {args.fps}")
    if args.seed < 0:
        raise CLIError(f"--seed must be a non-negative integer, got {args.seed}")
    for flag, value, most in (("--channels", args.channels, MAX_CHANNELS), ("--size", args.size, MAX_SIZE)):
        if value is not None and value > most:
            raise CLIError(f"{flag} must be at most {most} for an animation a reader can follow, "
                           f"got {value}")
    options = {key: getattr(args, key) for key in ("kernel", "stride", "padding", "channels", "size",
                                                    "max_frames")}
    options["random"] = args.random or None
    if args.name == "training":
        given = [f"--{key.replace('_', '-')}" for key in GEOMETRY_ONLY if options.pop(key) is not None]
        if given:
            raise CLIError(f"{', '.join(given)} do(es) not apply to 'training' (it trains on 28×28 MNIST)")
    try:
        explain.resolve(args.name, options)  # geometry errors before any work
    except ValueError as error:
        raise CLIError(str(error)) from None
    gif, png = explain.animate(args.name, Path(args.out), fps=args.fps, seed=args.seed, **options)
    print(gif)
    print(png)
    return 0
