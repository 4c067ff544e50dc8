"""Measure the convolution plan choices of this machine and write them into a plan table
(:mod:`jaxcnn.conv.table`; by default the one shipped with jaxcnn, ``jaxcnn/conv/choices.json``).

    python scripts/conv_table.py --note "idle machine"
    python scripts/conv_table.py --arch lenet dropout --train-batches 64 128 --out /tmp/t.json

Every case (architecture with its recipe's data set, pooling, mode, batch size) is timed as
``auto`` times it at a first run (:func:`jaxcnn.conv.choice.time_plans`), for longer. Entries of
other machines in the file are kept; this machine's entries for the cases measured are replaced.
Run it on an idle machine: the choice is only as good as the timing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import jax
from tqdm.auto import tqdm

from jaxcnn.cli.args import positive_float, positive_int
from jaxcnn.conv import choice, table
from jaxcnn.data import SPECS
from jaxcnn.net.options import ARCHITECTURES, POOLS
from jaxcnn.net.registry import create_model
from jaxcnn.training.recipes import get_recipe

# With the nearest-batch rule (table.NEAREST_RATIO = 2), these cover batches 5 to 2,000.
TRAIN_BATCHES = (10, 20, 40, 64, 128, 256, 512, 1000)
EVAL_BATCHES = (25, 100, 250, 1000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conv_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=table.SHIPPED,
                        help="table file to update (default: the shipped %(default)s)")
    parser.add_argument("--arch", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--pools", nargs="+", choices=POOLS, default=["max"])
    parser.add_argument("--train-batches", nargs="*", type=positive_int,
                        help=f"training batch sizes (default {' '.join(map(str, TRAIN_BATCHES))}"
                             " and each recipe's own)")
    parser.add_argument("--eval-batches", nargs="*", type=positive_int,
                        default=list(EVAL_BATCHES), help="evaluation batch sizes")
    parser.add_argument("--seconds", type=positive_float, default=1.0,
                        help="timing budget per plan and case (default %(default)s; a first "
                             "run's own timing uses 0.15)")
    parser.add_argument("--note", default="", help="how the machine was (load, other work)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def cases(args: argparse.Namespace) -> list[tuple[str, str, bool, int]]:
    """(architecture, pool, train, batch) for every case to time."""
    out = []
    for arch in args.arch:
        train_batches = sorted({*TRAIN_BATCHES, get_recipe(arch).batch_size}
                               if args.train_batches is None else set(args.train_batches))
        for pool in args.pools:
            out += [(arch, pool, True, b) for b in train_batches]
            out += [(arch, pool, False, b) for b in sorted(set(args.eval_batches))]
    return out


def model_for(arch: str, pool: str, train: bool):
    """The architecture as its recipe trains it (data set's image shape), and that shape."""
    recipe = get_recipe(arch)
    height, width, channels = SPECS[recipe.dataset].image_shape
    options = {**recipe.model_options, "pool": pool}
    if (height, channels) != (28, 1):
        options.update(in_channels=channels, image_size=height)
    model = create_model(arch, seed=0, **options)
    if not train:
        model.eval()
    return model, (height, width, channels)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if jax.default_backend() != "cpu":
        print(f"error: the plan table is for CPUs; JAX runs on {jax.default_backend()}",
              file=sys.stderr)
        return 2
    try:
        data = table.read(args.out)
    except table.TableError as error:
        print(f"error: {error}; fix or delete it", file=sys.stderr)
        return 2
    machine = table.fingerprint()
    entries = data["machines"].setdefault(machine, {"made": {}, "choices": {}})
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    todo = cases(args)
    for arch, pool, train, batch in tqdm(todo, desc="timing plans", unit="case",
                                         disable=args.no_progress):
        model, shape = model_for(arch, pool, train)
        seconds = choice.time_plans(model, batch, shape, choice.CPU_CANDIDATES, train=train,
                                    seconds=args.seconds)
        best = min(seconds, key=seconds.get)
        key = table.entry_key(choice.model_key(model), batch, train)
        entries["choices"][key] = {"plan": best, "seconds_per_call": seconds}
        tqdm.write(f"{arch} pool={pool} {'train' if train else 'eval'} batch {batch}: {best} ("
                   + ", ".join(f"{n} {1e3 * s:.2f} ms" for n, s in seconds.items()) + ")")
        entries["made"] = {  # written after every case: an interrupted run keeps what it timed
            "command": "python scripts/conv_table.py " + shlex.join(
                argv if argv is not None else sys.argv[1:]),
            "started": started, "until": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "note": args.note, "jax": jax.__version__, "cpu": choice.cpu_name(),
            "seconds_per_plan": args.seconds}
        table.write(args.out, data)
    print(f"{len(todo)} choices for {machine} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
