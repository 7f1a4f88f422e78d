"""``convnp export``: write a trained model as an ONNX file (runs in onnxruntime, phones, browsers)."""

from __future__ import annotations

import numpy as np

from .common import CLIError, open_model


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="write a model as an ONNX file",
        description="Write a run directory's model (or a .npz model) as an ONNX file: float32, a "
                    "dynamic batch dimension, BatchNorm in eval mode, Dropout as identity. When "
                    "onnxruntime is installed, the file is run once and compared with convnp. Needs "
                    "the onnx extra: pip install 'convnp[onnx]'.")
    parser.add_argument("model", metavar="MODEL_OR_RUN_DIR", help="run directory or model .npz")
    parser.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    parser.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                        help="image shape, when the model does not record it")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.set_defaults(run=run)


def compare_with_onnxruntime(model, path, shape) -> str:
    """Run the file in onnxruntime on 4 random images; describe how far it is from ``model.predict``."""
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed: not checked"
    x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = model.predict(x)
    difference = np.max(np.abs(session.run(None, {"input": x})[0] - expected))
    relative = difference / max(np.max(np.abs(expected)), 1e-30)
    return f"onnxruntime agrees with convnp to {relative:.1e} relative"


def run(args) -> int:
    from ..interop import to_onnx

    model, path = open_model(args.model)
    shape = args.input_shape or model.metadata.get("input_shape")
    if not shape:
        raise CLIError(f"{path} does not record its input shape; pass --input-shape C H W")
    out = to_onnx(model, args.out, input_shape=tuple(shape), opset=args.opset)
    print(f"wrote {out}: input 'input' (batch, {', '.join(map(str, shape))}) float32, opset "
          f"{args.opset}; {compare_with_onnxruntime(model, out, tuple(shape))}")
    return 0
