"""Max against average pooling (and LP pooling), over seeds, architectures and data sets.

    python scripts/compare_pooling.py --data-dir mnist=../shared/data/mnist
    python scripts/compare_pooling.py --seeds 10 --pools max avg lp2 --full

Defaults: ``--seeds`` seeds × all architectures (padded with its notebook loss and with the
corrected ``log_nll``) × max/avg × MNIST and Fashion-MNIST, each row's recipe trained for that
row's default epochs on its default number of training images (jaxcnn.studies.pooling_study's
DEFAULT_TRAINING; ``--help`` shows them), every test image. ``--epochs`` and ``--train-subset``
set one value for every row; ``--full`` runs the recipes' own epochs on the whole training set.
Writes results.json, results.csv, table.md, summary.md and pooling.png to ``--out``; the
summary names the rows still at chance level.
``--shard K/N`` (or a SLURM job array's task) trains seeds K, K + N, ... of every cell into
``OUT/shard-K-of-N/`` (cells.jsonl, one line per finished cell: rerun the same command to
continue); ``--merge DIR...`` checks that the folders hold all N shards of one command, each
finished, and writes the outputs above from them (see jaxcnn.studies.shards).
Exit codes: 0 done, 2 bad arguments, data, or shards that cannot be merged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from jaxcnn import conv
from jaxcnn.cli.args import named_data_dirs, positive_int
from jaxcnn.conv import AUTO, PLANS
from jaxcnn.data import DataError
from jaxcnn.net.options import POOLS
from jaxcnn.runtime import cachedir
from jaxcnn.studies import shards
from jaxcnn.studies.pooling_report import write_outputs
from jaxcnn.studies.pooling_stats import near_chance, partly_at_chance
from jaxcnn.studies.pooling_study import (
    DEFAULT_SEEDS,
    DEFAULT_TRAINING,
    VARIANTS,
    Training,
    grid,
    merge_shards,
    run_study,
)
from jaxcnn.studies.seed_records import RecordsError, SeedRecords
from jaxcnn.studies.study_data import DATASETS, Data
from jaxcnn.training.engine import batch_divides, make_mesh

CELLS = "cells.jsonl"  # a shard's results, one line per finished cell


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compare_pooling.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=default_training_help() + "\n\nThe max − avg difference per architecture is "
               "tested with a paired t-test over seeds (same seed = same initial weights, batch "
               "order and dropout stream).")
    parser.add_argument("--archs", nargs="+", default=list(VARIANTS), metavar="ARCH",
                        help=f"rows of the grid (default all: {' '.join(VARIANTS)})")
    parser.add_argument("--pools", nargs="+", default=["max", "avg"], choices=POOLS,
                        help="poolings (default max avg; lp2 is LP pooling with p = 2)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS,
                        help=f"seeds per cell (default {DEFAULT_SEEDS})")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per run for every row (default: each row's own, below)")
    parser.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                        help="train every row on the first N training images (default: each "
                             "row's own, below)")
    parser.add_argument("--full", action="store_true",
                        help="the recipes' own epochs on the whole training set (overrides "
                             "--epochs and --train-subset)")
    parser.add_argument("--devices", type=positive_int, default=1,
                        help="data-parallel over N devices (each batch split evenly)")
    parser.add_argument("--data-dir", action="append", default=[], metavar="NAME=DIR",
                        help="where data set NAME is (repeatable; default: searched)")
    parser.add_argument("--out", type=Path, default=Path("runs/pooling"), metavar="DIR")
    parser.add_argument("--conv", choices=(AUTO, *PLANS), default=None,
                        help="convolution plan (default auto: timed on a CPU and cached; "
                             "also $JAXCNN_CONV)")
    shards.add_arguments(parser, "and write the outputs to OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def merge(folders: list[Path], out: Path, command: str) -> list[dict] | None:
    """``--merge``: every cell's results from all shards (``None`` after printing why not)."""
    try:
        found = shards.read_all(folders)
        results = merge_shards(found[0][1]["configuration"], [
            (f"shard {m['shard']}/{m['count']} ({folder})", m["seeds"],
             SeedRecords(folder / CELLS).records) for folder, m in found])
        before = out / "results.json"
        if before.exists() and json.loads(before.read_text()).get("runs") != results:
            raise shards.ShardError(f"{before} holds other results; merge into another --out")
    except (shards.ShardError, RecordsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    print(f"merged {len(found)} shards")
    return results


def training(args: argparse.Namespace) -> dict[str, Training]:
    """Each row's training: the recipe's with ``--full``, else its default with ``--epochs`` and
    ``--train-subset`` replacing the default's values where given."""
    if args.full:
        return {variant: Training() for variant in VARIANTS}
    return {variant: Training(args.epochs or default.epochs,
                              args.train_subset or default.train_subset)
            for variant, default in DEFAULT_TRAINING.items()}


def default_training_help() -> str:
    """The defaults as the epilog lists them: one row per variant."""
    return "default training per row (epochs × training images):\n" + "\n".join(
        f"  {variant:15} {t.epochs or 'recipe'} × {t.train_subset or 'all'}"
        for variant, t in DEFAULT_TRAINING.items())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cachedir.enable_compilation_cache()
    conv.set_override(args.conv)
    data_dirs = named_data_dirs(parser, args.data_dir, DATASETS)
    try:
        cells = grid(args.archs, args.pools, args.datasets)
        mesh = make_mesh(args.devices) if args.devices > 1 else None
    except ValueError as err:
        parser.error(str(err))
    undivided = sorted({f"{c.variant} ({c.recipe(None).batch_size})" for c in cells
                        if not batch_divides(c.recipe(None).batch_size, args.devices)})
    if undivided:
        parser.error(f"--devices {args.devices} does not divide the recipe batch size of "
                     f"{', '.join(undivided)}; data-parallel training splits each batch evenly, "
                     "so choose --devices dividing every batch size or leave those out of "
                     "--archs")
    if args.seeds < 2:
        print("note: --seeds 1 gives no confidence interval and no test (2 or more seeds are "
              "needed); the table shows each cell's single accuracy", file=sys.stderr)
    data = Data(data_dirs, None)
    command = shlex.join(["python", "scripts/compare_pooling.py",
                          *(sys.argv[1:] if argv is None else argv)])
    if args.merge:
        results = merge(args.merge, args.out, command)
        if results is None:
            return 2
        return report(results, args.out, command, sum(r["seconds"] for r in results))
    try:
        shard = args.shard or shards.from_environment()
    except shards.ShardError as err:
        parser.error(str(err))
    seeds = list(range(args.seeds))
    out, on_result = args.out, None
    if shard:
        if not shard.take(seeds):
            parser.error(f"shard {shard} has no seeds: --seeds {args.seeds} gives fewer seeds "
                         "than shards")
        out = args.out / shard.name
        configuration = {"archs": args.archs, "pools": args.pools, "datasets": args.datasets,
                         "seeds": args.seeds, "devices": args.devices,
                         "training": {v: dataclasses.asdict(t)
                                      for v, t in training(args).items()}}
        try:
            shards.start(out, shard, configuration, shard.take(seeds))
            done = SeedRecords(out / CELLS)
        except (shards.ShardError, RecordsError) as err:
            parser.error(str(err))
        finished = {(r["dataset"], r["variant"], r["pool"]) for r in done.records}
        cells = [c for c in cells if (c.dataset, c.variant, c.pool) not in finished]
        seeds, on_result = shard.take(seeds), done.append
    start = time.perf_counter()
    try:
        results = run_study(cells, seeds, data, training(args), mesh=mesh,
                            progress=not args.no_progress, on_result=on_result)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - start
    if shard:
        print(f"shard {shard}: {len(results)} cells trained ({len(finished)} kept) in "
              f"{wall / 60:.1f} min, in {out / CELLS}; once all {shard.count} are done: python "
              f"scripts/compare_pooling.py --merge {args.out} --out {args.out}")
        return 0
    return report(results, args.out, command, wall)


def report(results: list[dict], out: Path, command: str, wall: float) -> int:
    """Write the outputs of ``results`` to ``out`` and print the table and the notes."""
    cells = write_outputs(results, out, command=command, wall_seconds=wall)["cells"]
    print((out / "table.md").read_text())
    for dataset, variant in near_chance(cells):
        print(f"at chance: {variant} on {dataset} (every pooling's mean below 20 %)")
    for dataset, variant, counts in partly_at_chance(cells):
        print(f"partly at chance: {variant} on {dataset}, seeds below 20 %: {counts}")
    print(f"{len(cells)} cells × {len(results[0]['seeds'])} seeds in {wall / 60:.1f} min; "
          f"outputs in {out}/ (summary.md, results.csv, results.json, pooling.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
