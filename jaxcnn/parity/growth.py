"""Measure how the largest parameter difference grows with the number of optimiser steps.

``python -m jaxcnn.parity.growth [--float64] [--steps 1,10,100] [--arch A ...] [--setting S ...]
[--data-dir D]``
prints one JSON object: ``{"float64": bool, "diffs": {arch: {setting: {steps: max_abs_diff}}}}``.
``--float64`` turns on ``jax_enable_x64`` first, which is why this runs as its own process.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from jaxcnn.cli.args import parse_data_dirs
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.parity.pair import DataDirs, load_inputs
from jaxcnn.parity.steps import OPTIMIZER_SETTINGS, recipe_setting, step_diffs
from jaxcnn.training.recipes import get_recipe


def measure(archs: Sequence[str], checkpoints: Sequence[int], *, float64: bool = False,
            settings: Sequence[str] = tuple(OPTIMIZER_SETTINGS),
            data_dirs: DataDirs | None = None) -> dict[str, dict[str, dict[int, float]]]:
    """``{arch: {setting: {steps: max abs param diff}}}``; setting ``recipe`` is the arch's own."""
    inputs: dict[tuple[str, str], tuple] = {}
    table: dict[str, dict[str, dict[int, float]]] = {}
    for arch in archs:
        recipe = get_recipe(arch)
        key = (recipe.dataset, recipe.normalization)
        if key not in inputs:
            inputs[key] = load_inputs(recipe.dataset, "train", recipe.normalization,
                                      data_dirs=data_dirs)
        images, labels = inputs[key]
        table[arch] = {setting: step_diffs(arch, setting, images, labels,
                                           checkpoints=checkpoints, float64=float64)
                       for setting in dict.fromkeys(
                           recipe_setting(arch) if s == "recipe" else s for s in settings)}
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float64", action="store_true", help="run both frameworks in float64")
    parser.add_argument("--steps", default="1,10,100", help="comma-separated step counts")
    parser.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--setting", nargs="+", default=list(OPTIMIZER_SETTINGS),
                        choices=[*OPTIMIZER_SETTINGS, "recipe"],
                        help="optimiser settings; 'recipe' is each architecture's own")
    parser.add_argument("--data-dir", action="append",
                        help="data folder, PATH or DATASET=PATH (repeatable)")
    args = parser.parse_args(argv)
    if args.float64:
        import jax

        jax.config.update("jax_enable_x64", True)
    checkpoints = sorted(int(s) for s in args.steps.split(","))
    table = measure(args.arch, checkpoints, float64=args.float64, settings=args.setting,
                    data_dirs=parse_data_dirs(args.data_dir))
    print(json.dumps({"float64": args.float64, "diffs": table}))


if __name__ == "__main__":
    main()
