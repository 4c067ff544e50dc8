"""``scripts/parity.py``: train JAX and PyTorch side by side and report how far they drift.

For ``dropout`` with a dropout rate above zero the two frameworks draw different masks, so the
run is not like for like; ``--all`` (and ``--arch dropout`` without ``--dropout``) therefore also
runs it with ``dropout=0``, which is.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from jaxcnn.cli.args import parse_data_dirs
from jaxcnn.net.options import ARCHITECTURES, OPTIONS
from jaxcnn.parity.epochs import ParityRun, run_parity
from jaxcnn.parity.pair import DataDirs, load_inputs
from jaxcnn.parity.report import markdown_table, write_report
from jaxcnn.runtime import gpu_memory, precision
from jaxcnn.training.optim import OPTIMIZERS
from jaxcnn.training.recipes import DATASETS, Recipe, get_recipe

MASKS_DIFFER = ("dropout on: each framework draws its own dropout masks, so the runs are not "
                "like for like (see the dropout=0 run)")
NO_DROPOUT = "dropout=0: like-for-like comparison of the dropout architecture"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", choices=ARCHITECTURES)
    which.add_argument("--all", action="store_true", help="every architecture with its recipe")
    parser.add_argument("--dataset", choices=DATASETS, help="default: the recipe's")
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the recipe's")
    parser.add_argument("--lr", type=float, help="default: the recipe's")
    parser.add_argument("--momentum", type=float, help="sgd momentum; default: the recipe's")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's")
    parser.add_argument("--dropout", type=float,
                        help="dropout rate (applies to the dropout and lenet architectures)")
    parser.add_argument("--subset", type=int, help="train on the first N training images")
    parser.add_argument("--float64", action="store_true", help="both frameworks in float64")
    parser.add_argument("--data-dir", action="append",
                        help="data folder, PATH or DATASET=PATH (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/parity"))
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[str, Recipe, str]]:
    """(label, recipe, note) of every run the arguments ask for."""
    overrides = {name: value for name, value in (
        ("dataset", args.dataset), ("epochs", args.epochs), ("optimizer", args.optimizer),
        ("lr", args.lr), ("momentum", args.momentum), ("batch_size", args.batch_size),
    ) if value is not None}
    runs = []
    for arch in ARCHITECTURES if args.all else [args.arch]:
        recipe = get_recipe(arch).replace(**overrides)
        if args.dropout is not None and "dropout" in OPTIONS[arch]:
            recipe = recipe.replace(model_options={**recipe.model_options, "dropout": args.dropout})
        rate = recipe.model_options.get("dropout", 0.25 if arch == "dropout" else 0.0)
        runs.append((arch, recipe, MASKS_DIFFER if rate > 0 else ""))
        if arch == "dropout" and args.dropout is None:
            no_drop = recipe.replace(model_options={**recipe.model_options, "dropout": 0.0})
            runs.append(("dropout p=0", no_drop, NO_DROPOUT))
    return runs


def run_all(args: argparse.Namespace) -> list[ParityRun]:
    """Run every planned comparison, loading each data set once."""
    data_dirs: DataDirs = parse_data_dirs(args.data_dir)
    cache: dict[tuple, tuple] = {}
    results = []
    for label, recipe, note in plan(args):
        key = (recipe.dataset, recipe.normalization)
        if key not in cache:
            cache[key] = (
                load_inputs(recipe.dataset, "train", recipe.normalization, data_dirs=data_dirs,
                            subset=args.subset),
                load_inputs(recipe.dataset, "test", recipe.normalization, data_dirs=data_dirs),
            )
        train, test = cache[key]
        results.append(run_parity(recipe, train, test, epochs=recipe.epochs, label=label,
                                  float64=args.float64, note=note, progress=not args.no_progress))
        print(markdown_table(results[-1:]), flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> list[ParityRun]:
    args = parse_args(argv)
    gpu_memory.share_with_torch()
    if args.float64:
        import jax

        jax.config.update("jax_enable_x64", True)
    with precision.parity() as setting:  # true float32 in both frameworks, on a GPU too
        print(f"precision: {setting}", flush=True)
        runs = run_all(args)
    paths = write_report(runs, args.out)
    print(markdown_table(runs))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return runs
