"""Benchmark jaxcnn against PyTorch where users train, every run in processes of its own.

    python scripts/bench.py --arch classic --pairs 3 --layers --out results/bench   # headline
    python scripts/bench.py --quick --arch classic --out /tmp/bench     # a smoke run
    python scripts/bench.py --no-headline --isolated --variant jax --variant torch \
        --train-images 12800 --repeats 3 --out results/bench-loop       # the isolated loop
    python scripts/bench.py --arch classic --e2e --skip-compile         # plus full recipes

The headline (:mod:`jaxcnn.bench.train_runs`) runs real ``scripts/train.py`` processes,
alternating JAX and PyTorch; ``--layers`` adds the per-layer breakdown
(:mod:`jaxcnn.bench.layers`); ``--isolated`` the isolated-loop diagnostic
(:mod:`jaxcnn.bench.measure`, one benchmark worker process per variant).

Writes ``bench.json`` and ``bench.md`` into ``--out``. Exit codes: 0 done, 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from jaxcnn.bench import machine
from jaxcnn.bench.e2e import ProcessFailed, run_e2e
from jaxcnn.bench.flops import arch_flops
from jaxcnn.bench.layers import run_layers
from jaxcnn.bench.measure import ISOLATE, BenchConfig, run_benchmark
from jaxcnn.bench.report import write_outputs
from jaxcnn.bench.train_runs import DEFAULT_SUBSETS, TINY_SUBSET, TrainRunsConfig, run_train_runs
from jaxcnn.bench.variants import BASELINE, DEFAULT_VARIANTS, VARIANTS
from jaxcnn.cli.args import nonnegative_int, parse_data_dirs, positive_int
from jaxcnn.data import DataError, data_dir_for, load_splits
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.training.recipes import get_recipe

QUICK = {"repeats": 2, "train_images": 320, "test_images": 320, "isolate": "variant",
         "pairs": 1, "subset": TINY_SUBSET}
# Options of the isolated-loop diagnostic only.
ISOLATED_ONLY = ("variant", "isolate", "train_images", "test_images", "repeats")


def _subset(text: str) -> tuple[str | None, int | None]:
    """``[ARCH=]N`` or ``[ARCH=]full`` -> (arch or None for all, N or None for the whole set)."""
    arch, sep, value = text.rpartition("=")
    if sep and arch not in ARCHITECTURES:
        raise argparse.ArgumentTypeError(
            f"--subset {text!r}: {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    return (arch or None), (None if value == "full" else positive_int(value))


def _batch_sizes(text: str) -> list[int | None]:
    """``recipe,128,512`` -> [None, 128, 512] (None: the recipe's own batch size)."""
    return [None if part.strip() == "recipe" else positive_int(part) for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="jaxcnn against PyTorch where users train. Headline: real "
                    "scripts/train.py processes (--epochs 2 --subset N), JAX and PyTorch "
                    "alternating, --pairs pairs per architecture and batch size: training "
                    "img/s of the second epoch (metrics.jsonl), JAX/PyTorch speed-up, share "
                    "of the CPU's float32 peak, start-up to the first training step (empty "
                    "caches and cached), a tiny first run's whole command. --layers: forward, "
                    "input and weight gradient of every conv / linear layer in both frameworks. "
                    "--isolated: the diagnostic isolated loop (the engine, PyTorch eager, the "
                    "notebooks' DataLoader pipeline, torch.compile in benchmark worker "
                    "processes). Every process runs alone, one at a time, the load average "
                    "recorded around it. Writes bench.json and bench.md into --out.",
        epilog="variants: " + ", ".join(VARIANTS) + f" (default: {', '.join(DEFAULT_VARIANTS)})"
               f". {BASELINE}: plan 'auto' (the ratios' numerator); jax-PLAN: that plan forced "
               "(as scripts/train.py --conv PLAN); jax-scan: 'auto', 16 steps per dispatch "
               "(lax.scan).")
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES,
                        help="architecture to measure; repeat for several (default: all five)")
    parser.add_argument("--batch-sizes", type=_batch_sizes, metavar="LIST",
                        help="comma-separated batch sizes, 'recipe' for each recipe's own "
                             "(default: recipe,128,512; --quick: recipe)")
    head = parser.add_argument_group(
        "headline: scripts/train.py processes, JAX and PyTorch alternating")
    head.add_argument("--no-headline", action="store_true",
                      help="leave out the headline (run only --layers / --isolated / --e2e)")
    head.add_argument("--pairs", type=positive_int,
                      help="alternating JAX/PyTorch process pairs per architecture and batch "
                           f"size (default 3; --quick {QUICK['pairs']})")
    head.add_argument("--subset", type=_subset, action="append", default=[],
                      metavar="[ARCH=]N|full",
                      help="training images per epoch (train.py --subset), for every "
                           "architecture or one; 'full': whole epochs (default: "
                           + ", ".join(f"{a} {n}" for a, n in DEFAULT_SUBSETS.items())
                           + f"; --quick {QUICK['subset']})")
    head.add_argument("--tiny-pairs", type=nonnegative_int, metavar="N",
                      help="tiny first runs (--epochs 1 --subset 640, empty caches) per "
                           "architecture and framework, alternating; 0: none (default: as "
                           "--pairs)")
    head.add_argument("--runs-dir", type=Path, metavar="DIR",
                      help="keep the train.py run directories and caches in DIR (default: a "
                           "temporary folder, removed)")
    parser.add_argument("--layers", action="store_true",
                        help="per-layer breakdown (forward, input gradient, weight gradient of "
                             "every conv / linear layer) at each recipe's batch size, each "
                             "framework in its own process")
    parser.add_argument("--isolated", action="store_true",
                        help="the isolated-loop diagnostic: the training engine and PyTorch "
                             "eager on preloaded tensors in benchmark worker processes "
                             "(--variant, --repeats, --isolate, --plan-cache, --train-images, "
                             "--test-images, --skip-compile apply to it)")
    parser.add_argument("--repeats", type=positive_int,
                        help="processes per variant and cell (each one measurement); medians "
                             f"and ranges are reported (default 3; --quick {QUICK['repeats']})")
    parser.add_argument("--isolate", choices=ISOLATE,
                        help="'cell': one process per variant, architecture and batch size; "
                             "'variant': one process per variant measures all its cells in "
                             "turn (fewer process starts; the plan timing of later cells may "
                             f"be shorter) (default: cell; --quick {QUICK['isolate']})")
    parser.add_argument("--plan-cache", choices=("empty", "user"), default="empty",
                        help="convolution plan cache of the JAX processes: 'empty' (a fresh "
                             "one each: start-up includes the plan timing of a first run) or "
                             "'user' (yours, JAXCNN_CACHE_DIR or ~/.cache/jaxcnn: the start-up "
                             "of later runs) (default: empty)")
    parser.add_argument("--train-images", type=positive_int, metavar="N",
                        help="measure training over the first N training images instead of "
                             "whole epochs (labelled 'subset' in the output; default: the "
                             f"whole epoch; --quick {QUICK['train_images']})")
    parser.add_argument("--test-images", type=positive_int, metavar="N",
                        help="measure inference over the first N test images (default: all; "
                             f"--quick {QUICK['test_images']})")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS),
                        help="variant to measure; repeat for several (default: "
                             f"{', '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: recipe batch sizes, one pair on "
                             f"{QUICK['subset']} images, few images and repeats in --isolated, "
                             "no torch.compile (what CI runs; its timings mean little)")
    parser.add_argument("--skip-compile", action="store_true",
                        help="leave out torch.compile (its compilation takes minutes on a "
                             "small CPU)")
    parser.add_argument("--e2e", action="store_true",
                        help="also time each recipe's full training: scripts/train.py "
                             "--framework jax and torch, and the notebook pipeline (expensive; "
                             "with --quick, on the --quick training subset)")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), metavar="DIR",
                        help="output folder for bench.json and bench.md (default results/bench)")
    parser.add_argument("--data-dir", action="append", default=[], metavar="[DATASET=]DIR",
                        help="data folder, for every data set or one (e.g. "
                             "mnist=/data/mnist); repeatable (default: searched as the README "
                             "says)")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` the flags describe (``--quick`` fills what is not given)."""
    quick = QUICK if args.quick else {}
    variants = args.variant or list(DEFAULT_VARIANTS)
    if args.skip_compile or (args.quick and not args.variant):
        variants = [v for v in variants if v != "torch-compile"]
    default_sizes = [None] if args.quick else [None, 128, 512]
    return BenchConfig(
        archs=args.arch or list(ARCHITECTURES),
        batch_sizes=args.batch_sizes or default_sizes,
        repeats=args.repeats or quick.get("repeats", 3),
        train_images=args.train_images or quick.get("train_images"),
        test_images=args.test_images or quick.get("test_images"),
        variants=list(dict.fromkeys(variants)),
        data_dirs=parse_data_dirs(args.data_dir),
        isolate=args.isolate or quick.get("isolate", "cell"),
        plan_cache=args.plan_cache,
    )


def train_runs_config(args: argparse.Namespace) -> TrainRunsConfig:
    """The headline's :class:`TrainRunsConfig` from the flags (``--quick`` fills the rest)."""
    subsets = dict(DEFAULT_SUBSETS)
    if args.quick:
        subsets = dict.fromkeys(ARCHITECTURES, QUICK["subset"])
    for arch, value in args.subset:
        subsets.update({arch: value} if arch else dict.fromkeys(ARCHITECTURES, value))
    pairs = args.pairs or (QUICK["pairs"] if args.quick else 3)
    return TrainRunsConfig(
        archs=args.arch or list(ARCHITECTURES),
        batch_sizes=args.batch_sizes or ([None] if args.quick else [None, 128, 512]),
        pairs=pairs, subsets=subsets,
        tiny_pairs=pairs if args.tiny_pairs is None else args.tiny_pairs,
        data_dirs=parse_data_dirs(args.data_dir))


def check_data(archs: list[str], data_dirs: dict[str, str]) -> None:
    """Read every data set the architectures train on (``DataError`` before any process)."""
    for dataset in dict.fromkeys(get_recipe(arch).dataset for arch in archs):
        load_splits(dataset, data_dir=data_dir_for(dataset, data_dirs))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = [name for name in ISOLATED_ONLY if getattr(args, name) is not None]
    if given and not args.isolated:
        parser.error(f"--{given[0].replace('_', '-')} applies to the isolated-loop diagnostic: "
                     "add --isolated")
    if args.no_headline and not (args.layers or args.isolated or args.e2e):
        parser.error("--no-headline leaves nothing to run: add --layers, --isolated or --e2e")
    config = config_from_args(args)
    info = machine.describe()
    report: dict = {"machine": info}
    try:
        check_data(list(config.archs), config.data_dirs)
        if not args.no_headline:
            head = train_runs_config(args)
            flops = {arch: arch_flops(arch) for arch in head.archs}
            report["headline"] = run_train_runs(head, flops, info.get("peak_flops"),
                                                keep=args.runs_dir)
        if args.layers:
            cells = [(arch, get_recipe(arch).batch_size) for arch in config.archs]
            report["layers"] = run_layers(cells)
        if args.isolated:
            isolated = run_benchmark(config, info=info)
            report["machine"] = isolated.pop("machine")
            report["isolated"] = isolated
        if args.e2e:
            subset = config.train_images if args.quick else None
            report["e2e"] = run_e2e(list(config.archs), config.data_dirs, subset)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ProcessFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    report["command"] = shlex.join(["python", "scripts/bench.py", *sys.argv[1:]])
    json_path, md_path = write_outputs(report, args.out)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
