"""Time N seeds trained stacked against one by one: ``python -m jaxcnn.cli.multiseed --arch lenet
--seeds 8`` (:func:`jaxcnn.bench.stacked.benchmark`)."""

from __future__ import annotations

import argparse

from jaxcnn.bench.stacked import benchmark
from jaxcnn.studies.multiseed import MAPPINGS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time N seeds trained stacked vs one by one.")
    parser.add_argument("--arch", nargs="+", default=["lenet", "classic"])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200, help="steps per model")
    parser.add_argument("--data-dir", action="append", default=[], metavar="NAME=DIR",
                        help="where data set NAME is (repeatable; default: searched)")
    args = parser.parse_args(argv)
    data_dirs = dict(item.split("=", 1) for item in args.data_dir)
    for arch in args.arch:
        r = benchmark(arch, args.seeds, args.steps, data_dirs=data_dirs)
        print(f"{arch}: {r['seeds']} seeds x {r['steps']} steps of batch {r['batch_size']}: "
              f"sequential {r['sequential_s']:.2f} s; "
              + "; ".join(f"{m} {r[f'{m}_s']:.2f} s (speed-up {r[f'{m}_speedup']:.2f}x)"
                          for m in MAPPINGS), flush=True)


if __name__ == "__main__":
    main()
