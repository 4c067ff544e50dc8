"""One benchmark process: one variant measured on one or more (architecture, batch size) cells,
written as JSON. ``scripts/bench.py`` starts a fresh one per variant, cell and repeat
(:mod:`jaxcnn.bench.measure`), so that no other framework's threads run beside it; it can be run
by hand too:

    python -m jaxcnn.bench.worker --variant jax --cell lenet:64 --train-images 6400 --out r.json

Per cell: the variant is set up (model, optimiser, data on the device and, for ``jax``, the
convolution plan's start-up timing), trained over one warm-up pass (compilation) and one measured
pass over the same number of images, then run in inference once to warm up and
``--infer-passes`` times measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jaxcnn import conv
from jaxcnn.bench import machine, processes
from jaxcnn.bench.cases import make_case
from jaxcnn.bench.variants import VARIANTS, Case, Unavailable, framework
from jaxcnn.cli.args import parse_data_dirs, positive_int
from jaxcnn.conv.choice import CACHE_ENV_VAR
from jaxcnn.conv.choice import ENV_VAR as CONV_ENV_VAR
from jaxcnn.data import DataError, batch_indices, data_dir_for, load_splits
from jaxcnn.training.recipes import get_recipe

AUTO_VARIANTS = ("jax", "jax-scan")  # the plan chosen by measurement, whatever $JAXCNN_CONV says



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.bench.worker",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", required=True, choices=list(VARIANTS))
    parser.add_argument("--cell", action="append", type=processes.cell_arg, required=True,
                        metavar="ARCH:BATCH", help="architecture and batch size; repeatable")
    parser.add_argument("--train-images", type=positive_int, metavar="N",
                        help="the first N training images (default: the whole split)")
    parser.add_argument("--test-images", type=positive_int, metavar="N",
                        help="the first N test images (default: the whole split)")
    parser.add_argument("--infer-passes", type=positive_int, default=3, metavar="K",
                        help="measured inference passes, median reported (default 3)")
    parser.add_argument("--data-dir", action="append", default=[], metavar="[DATASET=]DIR")
    parser.add_argument("--plan-cache", choices=("empty", "user"), default="empty",
                        help="'empty': a fresh convolution plan cache (a first run: the plan "
                             "timing is measured); 'user': the usual cache (default: empty)")
    parser.add_argument("--e2e", action="store_true",
                        help="torch-notebook only: time each cell's whole recipe as its "
                             "notebook trained it (epochs and test passes)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    return parser


def measure_cell(variant_key: str, case: Case, infer_passes: int) -> dict:
    """Set up, warm up and measure one variant on one case (see the module docstring)."""
    variant = VARIANTS[variant_key]()
    recipe, n, n_test = case.recipe, len(case.train[1]), len(case.test[1])
    result = {"arch": recipe.arch, "batch_size": recipe.batch_size, "train_images": n,
              "test_images": n_test, "infer_batch": min(case.infer_batch, n_test)}
    known = len(conv.choices())
    start = time.perf_counter()
    try:
        variant.setup(case)
    except Unavailable as err:
        return {**result, "status": f"not available: {err}"}
    setup_s = time.perf_counter() - start
    # The warm-up pass has the measured pass's shapes (full batches and the last partial one),
    # so it carries all the compilation.
    warm_s = variant.train(batch_indices(n, recipe.batch_size, seed=recipe.seed, epoch=0))
    train_s = variant.train(batch_indices(n, recipe.batch_size, seed=recipe.seed, epoch=1))
    warm_infer_s = variant.infer()
    infer_s = statistics.median(variant.infer() for _ in range(infer_passes))
    result.update(
        status="ok", setup_s=setup_s, warmup_train_s=warm_s, train_s=train_s,
        train_images_per_s=n / train_s, warmup_infer_s=warm_infer_s, infer_s=infer_s,
        infer_images_per_s=n_test / infer_s,
        compile_s=max(0.0, warm_s - train_s), infer_compile_s=max(0.0, warm_infer_s - infer_s))
    result["startup_s"] = setup_s + result["compile_s"] + result["infer_compile_s"]
    if framework(variant_key) == "jax":
        timed = [r for r in conv.choices()[known:] if r["source"] == "measured"]
        result.update(plans={kind: {k: v for k, v in record.items() if k != "model"}
                             for kind, record in variant.plans.items()},
                      plan_timing_s=sum(r.get("timing_s", 0.0) for r in timed))
    return result


def notebook_cell(arch: str, splits, train_images: int | None, root: Path) -> dict:
    """The whole recipe of ``arch`` through the notebook pipeline, timed (``--e2e``)."""
    from jaxcnn.bench.e2e import notebook_seconds

    recipe = get_recipe(arch)
    return {"arch": arch, "batch_size": recipe.batch_size, "status": "ok",
            "seconds": notebook_seconds(arch, splits, root, train_images)}


def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    args = build_parser().parse_args(argv)
    if args.e2e and args.variant != "torch-notebook":
        print("error: --e2e times the notebook pipeline: use it with --variant torch-notebook",
              file=sys.stderr)
        return 2
    if args.variant in AUTO_VARIANTS:
        os.environ.pop(CONV_ENV_VAR, None)
    dirs = parse_data_dirs(args.data_dir)
    cells = []
    with contextlib.ExitStack() as stack:
        if args.plan_cache == "empty":
            os.environ[CACHE_ENV_VAR] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="jaxcnn-bench-plans-"))
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jaxcnn-bench-tv-")))
        info = machine.process_info(framework(args.variant))
        splits = {}
        try:
            for arch, batch in args.cell:
                dataset = get_recipe(arch).dataset
                if dataset not in splits:
                    splits[dataset] = load_splits(dataset, data_dir=data_dir_for(dataset, dirs))
                if args.e2e:
                    cells.append(notebook_cell(arch, splits[dataset], args.train_images, root))
                    continue
                case = make_case(arch, batch, splits[dataset], args.train_images,
                                 args.test_images, root)
                cells.append(measure_cell(args.variant, case, args.infer_passes))
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    report = {"variant": args.variant, "name": VARIANTS[args.variant]().name, "process": info,
              "cells": cells, "in_process_s": time.perf_counter() - start}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
