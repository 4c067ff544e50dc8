"""Benchmark jaxcnn's training engine against PyTorch, side by side in one process.

    python scripts/bench.py --train-images 12800 --repeats 3 --out results/bench
    python scripts/bench.py --quick --arch classic --out /tmp/bench     # a smoke run
    python scripts/bench.py --arch classic --e2e --skip-compile         # plus full recipes

Writes ``bench.json`` and ``bench.md`` into ``--out``. Exit codes: 0 done, 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from jaxcnn.bench import BenchConfig, run_benchmark, write_outputs
from jaxcnn.bench.e2e import run_e2e
from jaxcnn.bench.measure import parse_data_dirs
from jaxcnn.bench.variants import DEFAULT_VARIANTS, VARIANTS
from jaxcnn.cli import positive_int
from jaxcnn.data import DataError
from jaxcnn.options import ARCHITECTURES

QUICK = {"repeats": 2, "train_images": 320, "test_images": 320}


def _batch_sizes(text: str) -> list[int | None]:
    """``recipe,128,512`` -> [None, 128, 512] (None: the recipe's own batch size)."""
    return [None if part.strip() == "recipe" else positive_int(part) for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training and inference throughput of jaxcnn's engine (the one "
                    "scripts/train.py uses, with XLA's and the slices convolution), PyTorch "
                    "eager on preloaded tensors, the notebooks' torchvision DataLoader pipeline "
                    "and torch.compile, interleaved in one process with the same thread count; "
                    "jaxcnn's speedup over each, the fraction of the float32 peak, compile "
                    "times. Writes bench.json and bench.md into --out.",
        epilog="variants: " + ", ".join(VARIANTS) + f" (default: {', '.join(DEFAULT_VARIANTS)})"
               ". jax-scan runs 16 steps per dispatch (lax.scan).")
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES,
                        help="architecture to measure; repeat for several (default: all five)")
    parser.add_argument("--batch-sizes", type=_batch_sizes, metavar="LIST",
                        help="comma-separated batch sizes, 'recipe' for each recipe's own "
                             "(default: recipe,128,512; --quick: recipe)")
    parser.add_argument("--repeats", type=positive_int,
                        help="interleaved measurements per variant; medians are reported "
                             f"(default 5; --quick {QUICK['repeats']})")
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
        repeats=args.repeats or quick.get("repeats", 5),
        train_images=args.train_images or quick.get("train_images"),
        test_images=args.test_images or quick.get("test_images"),
        variants=list(dict.fromkeys(variants)),
        data_dirs=parse_data_dirs(args.data_dir),
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
    report["command"] = shlex.join(["python", "scripts/bench.py", *sys.argv[1:]])
    json_path, md_path = write_outputs(report, args.out)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
