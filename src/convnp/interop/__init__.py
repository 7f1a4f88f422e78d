"""Interchange: PyTorch modules and ONNX files in and out (DESIGN.md §6).

- :func:`to_torch` / :func:`from_torch`: a ``torch.nn`` twin of a convnp model with the same weights,
  and a convnp model from an ``nn.Sequential`` (residual blocks included).
- :func:`to_onnx` / :func:`from_onnx`: write a model as an ONNX file that onnxruntime runs, and read
  what ``torch.onnx.export`` writes for sequential and residual CNNs.

The optional packages (torch; onnx and onnxruntime: ``pip install 'convnp[onnx]'``) are imported
only when these functions are called, so ``import convnp`` needs NumPy alone. ONNX files are parsed
as protocol buffers by the ``onnx`` package: nothing in them is unpickled or executed.
"""

from .onnx_export import to_onnx
from .onnx_import import from_onnx
from .torch_export import to_torch
from .torch_import import from_torch

__all__ = ["to_torch", "from_torch", "to_onnx", "from_onnx"]
