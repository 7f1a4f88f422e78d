"""``convnp export``: write a trained model as an ONNX file (runs in onnxruntime, phones, browsers)."""

from __future__ import annotations

from .common import CLIError, open_model


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="write a model as an ONNX file",
        description="Write a run directory's model (or a .npz model) as an ONNX file: float32, a "
                    "dynamic batch dimension, BatchNorm in eval mode, Dropout as identity. Needs "
                    "the onnx extra: pip install 'convnp[onnx]'.")
    parser.add_argument("model", metavar="MODEL_OR_RUN_DIR", help="run directory or model .npz")
    parser.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    parser.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                        help="image shape, when the model does not record it")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..interop import to_onnx

    model, path = open_model(args.model)
    shape = args.input_shape or model.metadata.get("input_shape")
    if not shape:
        raise CLIError(f"{path} does not record its input shape; pass --input-shape C H W")
    out = to_onnx(model, args.out, input_shape=tuple(shape), opset=args.opset)
    print(f"wrote {out} (opset {args.opset}, input (batch, {', '.join(map(str, shape))}); outputs "
          f"equal 'model.predict')")
    return 0
