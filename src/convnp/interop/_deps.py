"""Optional dependencies, imported only when a function that needs them is called.

The core of convnp imports with NumPy alone; ``import convnp`` never imports torch or onnx.
"""

from __future__ import annotations

ONNX_HINT = "install them with: pip install 'convnp[onnx]' (onnx and onnxruntime)"


def require_onnx():
    """Return the ``onnx`` module, or raise an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"ONNX interchange needs the onnx package; {ONNX_HINT}") from None
    return onnx


def require_torch(who: str):
    """Return the ``torch`` module, or raise an ImportError naming ``who`` needs it."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"{who} needs PyTorch: pip install torch (convnp's dev extra pins "
                          f"torch==2.13.0)") from None
    return torch
