"""``convnp datasets``: which datasets exist, where each is found, whether it verifies."""

from __future__ import annotations

from .. import datasets


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "datasets", help="list datasets, where they are found and whether they verify",
        description="List the datasets convnp can load, the directory each is looked for in "
                    "(--root, else $CONVNP_DATA, else the user cache) and its SHA-256 check.")
    parser.add_argument("--root", help="data directory to inspect")
    parser.set_defaults(run=run)


def run(args) -> int:
    rows = [("dataset", "status", "location", "description")]
    for name in datasets.names():
        status = datasets.status(name, root=args.root)
        rows.append((name, status.verified, str(status.directory), datasets.info(name).description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [f"{cell:<{width}}" for cell, width in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]))
    print(f"\ndata root: {datasets.resolve_root(args.root)}  (set --root or $CONVNP_DATA to change it)")
    return 0
