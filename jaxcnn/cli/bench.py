"""Benchmark jaxcnn's training engine against PyTorch, every variant in processes of its own.

    python scripts/bench.py --variant jax --variant torch --train-images 12800 --repeats 3 \
        --out results/bench                                          # all five, recipe/128/512
    python scripts/bench.py --quick --arch classic --out /tmp/bench     # a smoke run
    python scripts/bench.py --arch classic --e2e --skip-compile         # plus full recipes

Writes ``bench.json`` and ``bench.md`` into ``--out``. Exit codes: 0 done, 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from jaxcnn.bench.e2e import ProcessFailed, run_e2e
from jaxcnn.bench.measure import ISOLATE, BenchConfig, run_benchmark
from jaxcnn.bench.report import write_outputs
from jaxcnn.bench.variants import BASELINE, DEFAULT_VARIANTS, VARIANTS
from jaxcnn.cli.args import parse_data_dirs, positive_int
from jaxcnn.data import DataError
from jaxcnn.net.options import ARCHITECTURES

QUICK = {"repeats": 2, "train_images": 320, "test_images": 320, "isolate": "variant"}


def _batch_sizes(text: str) -> list[int | None]:
    """``recipe,128,512`` -> [None, 128, 512] (None: the recipe's own batch size)."""
    return [None if part.strip() == "recipe" else positive_int(part) for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training and inference (batch 1000) throughput of jaxcnn's engine (the "
                    "one scripts/train.py uses: convolution plan 'auto', or a forced plan), "
                    "PyTorch eager on preloaded tensors, the notebooks' torchvision DataLoader "
                    "pipeline and torch.compile. Every variant runs in fresh processes of its "
                    "own, one process at a time, one per repeat; medians and min-max over the "
                    "processes, the load average before and after each, jaxcnn's speedup over "
                    "each variant, the fraction of the float32 peak, start-up times (plan "
                    "timing and compilation). Writes bench.json and bench.md into --out.",
        epilog="variants: " + ", ".join(VARIANTS) + f" (default: {', '.join(DEFAULT_VARIANTS)})"
               f". {BASELINE}: plan 'auto' (the ratios' numerator); jax-PLAN: that plan forced "
               "(as scripts/train.py --conv PLAN); jax-scan: 'auto', 16 steps per dispatch "
               "(lax.scan).")
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES,
                        help="architecture to measure; repeat for several (default: all five)")
    parser.add_argument("--batch-sizes", type=_batch_sizes, metavar="LIST",
                        help="comma-separated batch sizes, 'recipe' for each recipe's own "
                             "(default: recipe,128,512; --quick: recipe)")
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
                        help="a short smoke run: recipe batch sizes, few images and repeats, no "
                             "torch.compile (what CI runs; its timings mean little)")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        report = run_benchmark(config)
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
