"""Datasets: arrays (N, C, H, W) float32 in [0, 1] and int64 labels."""

from .synthetic import BAR_CLASSES, make_bars

__all__ = ["make_bars", "BAR_CLASSES"]
