"""Train N seeds of notebook recipes in JAX and PyTorch and report their distributions.

    python scripts/seeds.py --arch lenet --arch classic --seeds 20
    python scripts/seeds.py --arch padded --arch padded+log_nll --seed-range 0:10
    python scripts/seeds.py --arch lenet --seeds 3 --epochs 2 --train-subset 3000 --out /tmp/s
    python scripts/seeds.py --report-only --out runs/seeds
    python scripts/seeds.py --arch lenet --seeds 20 --shard 0/4    # ... to --shard 3/4, anywhere
    python scripts/seeds.py --merge runs/seeds --out runs/seeds     # the report of all 4 shards

Each seed is the full recipe (all epochs, all data) unless --epochs / --train-subset shorten it;
test accuracy and loss, train accuracy and per-class counts are recorded after every epoch. JAX
trains --group-size seeds as one compiled program; PyTorch one seed after the other. Every
finished seed is appended to OUT/seeds.jsonl at once: rerun the same command after an
interruption and only the missing seeds are trained. At the end (and with --report-only) the
report covers every seed in the file: OUT/seeds.md, OUT/seeds.json, OUT/seeds-<variant>.png.

--shard K/N (or a SLURM job array's task) trains seeds K, K + N, K + 2N, ... into
OUT/shard-K-of-N/ (resumable the same way) and writes no report; --merge DIR... checks that the
folders hold all N shards of one command, each finished, and writes OUT/seeds.jsonl and the
report from them (see jaxcnn.studies.shards).

Exit codes: 0 done, 2 bad arguments, data or a results file with other settings, 3 training
diverged, 130 interrupted (the finished seeds are kept; rerun to continue).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import jax

from jaxcnn.cli.args import named_data_dirs, positive_int
from jaxcnn.data import DataError
from jaxcnn.runtime import cachedir
from jaxcnn.studies import shards
from jaxcnn.studies.multiseed import MAPPINGS
from jaxcnn.studies.seed_records import FILENAME, RecordsError, SeedRecords
from jaxcnn.studies.seed_report import write_report
from jaxcnn.studies.seed_study import DEFAULT_VARIANTS, FRAMEWORKS, run_study, variant_recipe
from jaxcnn.studies.study_data import DATASETS
from jaxcnn.training.engine import TrainingDiverged

CPU_GROUP_SIZE = 4  # seeds per compiled JAX program on the CPU


def seed_range(text: str) -> range:
    """``START:STOP`` as ``range(START, STOP)``."""
    start, sep, stop = text.partition(":")
    try:
        seeds = range(int(start), int(stop))
    except ValueError:
        seeds = range(0)
    if not sep or not seeds or seeds.start < 0:
        raise argparse.ArgumentTypeError(f"expected START:STOP with 0 <= START < STOP (seeds "
                                         f"START to STOP - 1), got {text!r}")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seeds.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--arch", action="append", metavar="VARIANT",
                        help="ARCH[+POOL][+LOSS], repeatable (default: "
                             f"{' '.join(DEFAULT_VARIANTS)})")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=positive_int, default=20,
                       help="seeds 0 to N - 1 (default 20)")
    seeds.add_argument("--seed-range", type=seed_range, metavar="START:STOP",
                       help="seeds START to STOP - 1")
    parser.add_argument("--framework", choices=(*FRAMEWORKS, "both"), default="both")
    parser.add_argument("--epochs", type=positive_int,
                        help="epochs per seed, replacing the recipes' (for quick runs)")
    parser.add_argument("--train-subset", type=positive_int, metavar="N",
                        help="train on the first N training images (for quick runs)")
    parser.add_argument("--test-subset", type=positive_int, metavar="N",
                        help="evaluate on the first N test images (for quick runs)")
    parser.add_argument("--group-size", type=positive_int,
                        help=f"JAX seeds per compiled program (default {CPU_GROUP_SIZE} on the "
                             "CPU, 32 on an accelerator)")
    parser.add_argument("--mapping", choices=MAPPINGS,
                        help="how a JAX program maps its seeds (default: unroll on CPU, vmap "
                             "elsewhere; see jaxcnn.studies.multiseed)")
    parser.add_argument("--torch-threads", type=positive_int, metavar="N",
                        help="PyTorch's CPU threads (default: torch's own choice). On a loaded "
                             "machine 1 avoids the collapse of oversubscribed OpenMP threads")
    parser.add_argument("--data-dir", action="append", default=[], metavar="NAME=DIR",
                        help="where data set NAME is (repeatable; default: searched)")
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"), metavar="DIR",
                        help="results file, report and plots (default runs/seeds)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the report from OUT/seeds.jsonl")
    shards.add_arguments(parser, "into OUT/seeds.jsonl and the report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def merge(folders: list[Path], out: Path, command: str) -> int:
    """``--merge``: the shards' records into ``out``/seeds.jsonl and the report; exit status 2
    with the reason if the shards are not the finished shards of one command."""
    try:
        found = shards.read_all(folders)
        records = []
        for folder, manifest in found:
            records += finished_records(folder, manifest)
        merged = SeedRecords(out / FILENAME)
        if merged.records and sorted(map(json.dumps, merged.records)) != sorted(
                map(json.dumps, records)):
            raise shards.ShardError(f"{merged.path} already holds other records; merge into "
                                    "another --out")
    except (shards.ShardError, RecordsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not merged.records:
        for record in records:
            merged.append(record)
    print(f"merged {len(found)} shards: {len(records)} seeds in {merged.path}")
    print(f"report: {write_report(records, out, command=command)}")
    return 0


def finished_records(folder: Path, manifest: dict) -> list[dict]:
    """The records of the shard in ``folder``: every (variant, framework) of its seeds once;
    :class:`shards.ShardError` naming what is missing or extra."""
    configuration = manifest["configuration"]
    records = SeedRecords(folder / FILENAME).records
    expected = {(v, f, s) for v in configuration["variants"]
                for f in configuration["frameworks"] for s in manifest["seeds"]}
    keys = [(r["variant"], r["framework"], r["seed"]) for r in records]
    name = f"shard {manifest['shard']}/{manifest['count']} ({folder})"
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    extra = sorted(set(keys) - expected)
    missing = sorted(expected - set(keys))
    if repeated or extra:
        raise shards.ShardError(f"{name} holds {'seeds twice' if repeated else 'seeds not its own'}"
                                f": {' '.join(map(str, (repeated or extra)[0]))}")
    if missing:
        raise shards.ShardError(f"{name} is not finished: {len(missing)} of {len(expected)} "
                                f"seeds missing (first: {' '.join(map(str, missing[0]))}); run "
                                "it again with the same command to finish it")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cachedir.enable_compilation_cache()
    data_dirs = named_data_dirs(parser, args.data_dir, DATASETS)
    variants = list(dict.fromkeys(args.arch or DEFAULT_VARIANTS))
    try:
        for variant in variants:
            variant_recipe(variant, epochs=args.epochs)
    except ValueError as err:
        parser.error(f"--arch: {err}")
    command = shlex.join(["python", "scripts/seeds.py", *(sys.argv[1:] if argv is None
                                                           else argv)])
    if args.merge:
        return merge(args.merge, args.out, command)
    try:
        shard = args.shard or shards.from_environment()
    except shards.ShardError as err:
        parser.error(str(err))
    if args.report_only:
        try:
            records = SeedRecords(args.out / FILENAME).records
        except RecordsError as err:
            parser.error(str(err))
        if not records:
            parser.error(f"--report-only: no seeds in {args.out / FILENAME}")
        print(f"report: {write_report(records, args.out, command=command)}")
        return 0
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    seeds = args.seed_range or range(args.seeds)
    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    group_size = args.group_size or (CPU_GROUP_SIZE if jax.default_backend() == "cpu" else 32)
    out = args.out
    if shard:
        out = args.out / shard.name
        configuration = {"variants": variants, "seeds": list(seeds),
                         "frameworks": list(frameworks), "epochs": args.epochs,
                         "train_subset": args.train_subset, "test_subset": args.test_subset}
        try:
            shards.start(out, shard, configuration, shard.take(seeds))
        except shards.ShardError as err:
            parser.error(str(err))
        seeds = shard.take(seeds)
    start = time.perf_counter()
    try:
        records = run_study(variants, list(seeds), frameworks, out, epochs=args.epochs,
                            train_subset=args.train_subset, test_subset=args.test_subset,
                            group_size=group_size, mapping=args.mapping, data_dirs=data_dirs,
                            progress=not args.no_progress)
    except RecordsError as err:  # a broken results file, or one with other settings
        parser.error(str(err))
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err} The seeds finished before are kept in {args.out / FILENAME}.",
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished seeds are kept in {args.out / FILENAME}; run the "
              "same command again to train the rest", file=sys.stderr)
        return 130
    print(f"trained in {(time.perf_counter() - start) / 60:.1f} min; "
          f"{len(records.records)} seeds in {records.path}")
    if shard:
        print(f"shard {shard} done; once all {shard.count} are: python scripts/seeds.py "
              f"--merge {args.out} --out {args.out}")
        return 0
    print(f"report: {write_report(records.records, args.out, command=command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
