"""``convnp studio``: serve the local page that shows a model's activations and gradients, live."""

from __future__ import annotations

import sys
import warnings
import webbrowser

from .common import CLIError, open_model

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "studio", help="a local web page: watch a CNN think (activations, gradients) and learn",
        description="Serve a page where you draw a digit or pick a test image and see every layer's "
                    "feature maps, the class probabilities and the gradients, and train the model "
                    "live. Without MODEL, a fresh seed002 trains on mnist-sample.")
    parser.add_argument("model", metavar="MODEL_OR_RUN_DIR", nargs="?",
                        help="run directory from 'convnp train' or a model .npz (default: a fresh seed002)")
    parser.add_argument("--dataset", help="data to train on and pick test images from (default: the "
                        "model's dataset, else mnist-sample)")
    parser.add_argument("--root", help="data directory (default: $CONVNP_DATA, else the user cache)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: only "
                        "this computer can connect)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..studio import StudioServer, open_studio

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0…65535, got {args.port}")
    model, path = open_model(args.model) if args.model else (None, None)
    if args.dataset is not None:
        from .. import datasets
        if args.dataset not in datasets.names():
            raise CLIError(f"unknown dataset {args.dataset!r}; choose one of: {', '.join(datasets.names())}")
    name = None if path is None else (path.parent.name if path.name == "model.npz" else path.stem)
    try:
        studio = open_studio(model, args.dataset, root=args.root, name=name)
    except ValueError as error:
        raise CLIError(str(error)) from None
    if args.host not in LOOPBACK:
        warnings.warn(f"binding {args.host}: anyone who can reach this address can use the studio "
                      f"(it has no login); use --host 127.0.0.1 to keep it local", stacklevel=1)
    try:
        server = StudioServer(studio, args.host, args.port, verbose=args.verbose)
    except OSError as error:
        raise CLIError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})") from None
    print(f"convnp studio: {server.url}", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("convnp studio: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
