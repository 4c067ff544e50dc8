"""Max against average pooling (and LP pooling), over seeds, architectures and data sets.

    python scripts/compare_pooling.py --data-dir mnist=../shared/data/mnist
    python scripts/compare_pooling.py --seeds 10 --pools max avg lp2 --full

Defaults: 5 seeds × all architectures (padded with its notebook loss and with the corrected
``log_nll``) × max/avg × MNIST and Fashion-MNIST, each recipe shortened to ``--epochs 1`` on the
first ``--train-subset 3000`` training images, every test image. ``--full`` runs the recipes'
own epochs on the whole training set. Writes results.json, results.csv, table.md, summary.md
and pooling.png to ``--out``. Exit codes: 0 done, 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from jaxcnn.cli import positive_int
from jaxcnn.data import DataError
from jaxcnn.engine import make_mesh
from jaxcnn.options import POOLS
from jaxcnn.pooling_study import DATASETS, VARIANTS, Data, grid, run_study, write_outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compare_pooling.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The max − avg difference per architecture is tested with a paired t-test over "
               "seeds (same seed = same initial weights, batch order and dropout stream).")
    parser.add_argument("--archs", nargs="+", default=list(VARIANTS), metavar="ARCH",
                        help=f"rows of the grid (default all: {' '.join(VARIANTS)})")
    parser.add_argument("--pools", nargs="+", default=["max", "avg"], choices=POOLS,
                        help="poolings (default max avg; lp2 is LP pooling with p = 2)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds per cell (default 5)")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="epochs per run, replacing the recipes' (default 1)")
    parser.add_argument("--train-subset", type=positive_int, default=3000, metavar="N",
                        help="train on the first N training images (default 3000)")
    parser.add_argument("--full", action="store_true",
                        help="the recipes' own epochs on the whole training set (overrides "
                             "--epochs and --train-subset)")
    parser.add_argument("--devices", type=positive_int, default=1,
                        help="data-parallel over N devices (each batch split evenly)")
    parser.add_argument("--data-dir", action="append", default=[], metavar="NAME=DIR",
                        help="where data set NAME is (repeatable; default: searched)")
    parser.add_argument("--out", type=Path, default=Path("runs/pooling"), metavar="DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dirs = {}
    for item in args.data_dir:
        name, sep, folder = item.partition("=")
        if not sep or name not in DATASETS:
            parser.error(f"--data-dir {item!r}: expected NAME=DIR with NAME one of "
                         f"{', '.join(DATASETS)}")
        data_dirs[name] = folder
    try:
        cells = grid(args.archs, args.pools, args.datasets)
        mesh = make_mesh(args.devices) if args.devices > 1 else None
    except ValueError as err:
        parser.error(str(err))
    undivided = sorted({f"{c.variant} ({c.recipe(None).batch_size})" for c in cells
                        if c.recipe(None).batch_size % args.devices})
    if undivided:
        parser.error(f"--devices {args.devices} does not divide the recipe batch size of "
                     f"{', '.join(undivided)}; data-parallel training splits each batch evenly, "
                     "so choose --devices dividing every batch size or leave those out of "
                     "--archs")
    epochs = None if args.full else args.epochs
    data = Data(data_dirs, None if args.full else args.train_subset)
    command = shlex.join(["python", "scripts/compare_pooling.py", *sys.argv[1:]])
    start = time.perf_counter()
    try:
        results = run_study(cells, list(range(args.seeds)), data, epochs=epochs, mesh=mesh,
                            progress=not args.no_progress)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - start
    write_outputs(results, args.out, command=command, wall_seconds=wall)
    print((args.out / "table.md").read_text())
    print(f"{len(cells)} cells × {args.seeds} seeds in {wall / 60:.1f} min; "
          f"outputs in {args.out}/ (summary.md, results.csv, results.json, pooling.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
