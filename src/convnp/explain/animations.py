"""One entry point per animation: build the frame states from simple options, then render.

``make(name, **options)`` returns the states (pure numbers, no drawing);
``animate(name, out_dir, **options)`` also writes ``out_dir/<name>.gif`` and its last frame as
``out_dir/<name>.png``. Options: ``kernel``, ``stride``, ``padding``, ``channels``, ``size``,
``seed``, ``random``, ``max_frames``; ``None`` means the animation's own default (:data:`DEFAULTS`).
"""

from __future__ import annotations

import os

from .conv_backward import conv_backward_frame_count, conv_backward_frames
from .conv_backward_render import render_conv_backward
from .conv_forward import (
    conv_forward_frame_count,
    conv_forward_frames,
    first_ink_step,
    render_conv_forward,
)
from .geometry import check_int, output_side
from .im2col import im2col_frame_count, im2col_frames
from .im2col_render import render_im2col
from .inputs import example_gradient, example_input, example_kernel
from .pool import pool_frame_count, pool_frames
from .pool_render import render_pool
from .training import record_training, training_frame_count
from .training_render import render_training

NAMES = ("conv-forward", "conv-backward", "pool", "im2col", "training")
DEFAULTS = {
    "conv-forward": {"kernel": 3, "stride": 1, "padding": 0, "size": 6, "max_frames": 36},
    "conv-backward": {"kernel": 3, "stride": 1, "padding": 0, "size": 5, "max_frames": 36},
    "pool": {"kernel": 2, "stride": None, "padding": 0, "size": 6, "max_frames": 24},
    "im2col": {"kernel": 3, "stride": 1, "padding": 0, "size": 5, "max_frames": 36},
    "training": {"kernel": 3, "stride": 1, "padding": 0, "every": 10, "images": 4000, "epochs": 2},
}
RENDERERS = {"conv-forward": render_conv_forward, "conv-backward": render_conv_backward,
             "pool": render_pool, "im2col": render_im2col}


def resolve(name: str, options: dict) -> dict:
    """The animation's defaults overridden by the options that are not None; validated."""
    if name not in NAMES:
        raise ValueError(f"unknown animation {name!r}; choose one of: {', '.join(NAMES)}")
    merged = {**DEFAULTS[name], **{key: value for key, value in options.items() if value is not None}}
    merged.setdefault("seed", 0)
    merged.setdefault("channels", 1)
    merged.setdefault("random", False)
    for key, minimum in (("kernel", 1), ("padding", 0), ("channels", 1), ("size", 1), ("max_frames", 1)):
        if key in merged:
            merged[key] = check_int(merged[key], key, minimum)
    if merged.get("stride") is not None:
        merged["stride"] = check_int(merged["stride"], "stride", 1)
    if name != "training":
        stride = merged["stride"] or merged["kernel"]
        output_side(merged["size"], merged["kernel"], stride, merged["padding"])  # ValueError if empty
    return merged


def make(name: str, **options):
    """The frame states of animation ``name`` (see the module docstring for the options)."""
    o = resolve(name, options)
    if name == "training":
        return record_training(o["kernel"], o["stride"], o["padding"], o["seed"], o["images"], o["epochs"],
                               every=o["every"])[1]
    x = example_input(o["size"], o["channels"], o["seed"], o["random"])
    if name == "pool":
        out = output_side(o["size"], o["kernel"], o["stride"] or o["kernel"], o["padding"])
        dy = example_gradient((1, o["channels"], out, out), o["seed"])
        return pool_frames(x, dy, o["kernel"], o["stride"], o["padding"], o["max_frames"])
    weight = example_kernel(2 if name == "im2col" else 1, o["channels"], o["kernel"], o["seed"])
    if name == "conv-forward":
        return conv_forward_frames(x, weight, o["stride"], o["padding"], o["max_frames"])
    if name == "im2col":
        return im2col_frames(x, weight, o["stride"], o["padding"], o["max_frames"])
    out = output_side(o["size"], o["kernel"], o["stride"], o["padding"])
    dy = example_gradient((1, 1, out, out), o["seed"])
    return conv_backward_frames(x, weight, dy, o["stride"], o["padding"], o["max_frames"])


def frame_count(name: str, **options) -> int:
    """How many frames ``make(name, **options)`` produces (the rule each animation documents)."""
    o = resolve(name, options)
    if name == "training":
        return training_frame_count(o["images"], 32, o["epochs"], o["every"])
    geometry = (o["size"], o["kernel"], o["stride"], o["padding"])
    if name == "conv-forward":  # frames start where the kernel first meets ink (nonzero input)
        x = example_input(o["size"], o["channels"], o["seed"], o["random"])
        weight = example_kernel(1, o["channels"], o["kernel"], o["seed"])
        skip = first_ink_step(x, weight, o["stride"], o["padding"])
        return conv_forward_frame_count(*geometry, o["max_frames"], skip)
    if name == "conv-backward":
        return conv_backward_frame_count(*geometry, o["channels"], o["max_frames"])
    if name == "pool":
        return pool_frame_count(*geometry, o["max_frames"])
    return im2col_frame_count(*geometry, o["max_frames"])


def animate(name: str, out_dir=".", fps=4, dpi=80, **options) -> tuple[str, str]:
    """Build animation ``name`` and write ``out_dir/<name>.gif`` and ``out_dir/<name>.png``."""
    states = make(name, **options)
    path = os.path.join(os.fspath(out_dir), f"{name}.gif")
    render = render_training if name == "training" else RENDERERS[name]
    return render(states, path, fps=fps, dpi=dpi)
