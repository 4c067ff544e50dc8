"""Train one of the five course CNNs with its notebook recipe, in JAX or PyTorch.

    python scripts/train.py --arch lenet
    python scripts/train.py --arch lenet --framework torch --epochs 3
    python scripts/train.py --resume runs/lenet-jax-20250101-120000 --epochs 20
    python scripts/train.py --resume runs/lenet-jax-20250101-120000 --resume-from 3

Exit codes: 0 done, 2 bad arguments, data (``jaxcnn.data.DataError``) or run files (a damaged
config.json, metrics.jsonl or checkpoint, named in the message), 3 training diverged (the last
good checkpoint is kept), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from jaxcnn import conv
from jaxcnn.cli.args import (
    momentum_float,
    nonnegative_int,
    positive_float,
    positive_int,
    rate_float,
)
from jaxcnn.conv import AUTO, PLANS
from jaxcnn.data import SPECS, DataError
from jaxcnn.net.options import ARCHITECTURES, POOLS
from jaxcnn.runtime import allocator, cachedir
from jaxcnn.training import rundir
from jaxcnn.training.checkpoints import CheckpointError, EpochCheckpoints
from jaxcnn.training.engine import TrainingDiverged, check_batch_size, make_mesh
from jaxcnn.training.losses import LOSSES
from jaxcnn.training.optim import OPTIMIZERS
from jaxcnn.training.recipes import DATASETS, RECIPES, Recipe, get_recipe
from jaxcnn.training.resume import choose_start
from jaxcnn.training.run import (
    FRAMEWORKS,
    environment,
    load_data,
    load_start,
    make_trainer,
    run_training,
)

# Flags that set a Recipe field of the same name.
RECIPE_FLAGS = ("dataset", "epochs", "batch_size", "lr", "optimizer", "momentum", "loss", "seed")
MODEL_FLAGS = ("pool", "dropout", "batchnorm")


def recipe_table() -> str:
    """The notebook recipes, one line per architecture (the defaults of each flag)."""
    header = ("arch", "dataset", "normalization", "loss", "optimizer", "lr", "momentum",
              "batch", "epochs", "seed")
    rows = [header] + [(r.arch, r.dataset, r.normalization, r.loss, r.optimizer, f"{r.lr:g}",
                        f"{r.momentum:g}", str(r.batch_size), str(r.epochs), str(r.seed))
                       for r in RECIPES.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a course CNN with its notebook recipe. Every recipe flag defaults to "
                    "the architecture's notebook value (table below); outputs go to a run "
                    "directory: config.json, metrics.jsonl, checkpoints/<epoch>/, "
                    "model.safetensors (PyTorch names and layouts), report.md and its PNGs.",
        epilog="notebook recipes (the defaults per --arch):\n" + recipe_table() + "\n\n"
               "padded's recipe keeps notebook 000's quirk (nll_loss on softmax probabilities);"
               " --loss log_nll is the corrected loss.\n"
               "exit codes: 0 done, 2 bad arguments, data or run files, 3 training diverged "
               "(the last good checkpoint is kept), 130 interrupted.")
    parser.add_argument("--arch", choices=ARCHITECTURES,
                        help="architecture (required unless --resume)")
    recipe = parser.add_argument_group("recipe (defaults: the architecture's notebook recipe)")
    recipe.add_argument("--dataset", choices=DATASETS, help="training and test data set")
    recipe.add_argument("--epochs", type=positive_int,
                        help="number of epochs (with --resume: may extend the run)")
    recipe.add_argument("--batch-size", type=positive_int, help="training batch size")
    recipe.add_argument("--lr", type=positive_float, help="learning rate (finite, > 0)")
    recipe.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    recipe.add_argument("--momentum", type=momentum_float, help="SGD momentum, in [0, 1)")
    recipe.add_argument("--loss", choices=LOSSES,
                        help="loss applied to the model output (log_nll: -log of a probability "
                             "output, padded's corrected loss)")
    recipe.add_argument("--seed", type=nonnegative_int,
                        help="seed of the initial weights, dropout and batch order")
    model = parser.add_argument_group("model options")
    model.add_argument("--pool", choices=POOLS, help="pooling (default max)")
    model.add_argument("--dropout", type=rate_float,
                       help="dropout rate: lenet's Dropout after fc1/fc2 (default off), "
                            "dropout's Dropout2d (default 0.25)")
    model.add_argument("--batchnorm", action="store_true", default=None,
                       help="lenet: BatchNorm1d after fc1 and fc2")
    run = parser.add_argument_group("run")
    run.add_argument("--framework", choices=FRAMEWORKS,
                     help="jax (default) or torch: the same recipe, data and outputs through "
                          "torch_ref")
    run.add_argument("--data-dir", help="folder holding the data set (default: searched as "
                                        "the README says)")
    run.add_argument("--subset", type=positive_int, metavar="N",
                     help="train on the first N training images and test on the first N//6 "
                          "test images (tests, smoke runs)")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="run directory (default runs/<arch>-<framework>-<timestamp>)")
    run.add_argument("--resume", type=Path, metavar="DIR",
                     help="continue the run in DIR from its newest checkpoint that can be read "
                          "whole (damaged ones are reported and moved to "
                          "DIR/checkpoints.damaged/)")
    run.add_argument("--resume-from", type=nonnegative_int, metavar="EPOCH",
                     help="with --resume: continue from epoch EPOCH's checkpoint instead (0: "
                          "from the initial weights); later ones move to "
                          "DIR/checkpoints.superseded/")
    run.add_argument("--devices", type=positive_int, default=1, metavar="N",
                     help="jax: train data-parallel over N devices, each batch split evenly "
                          "(the batch size must divide by N; on CPU set "
                          "XLA_FLAGS=--xla_force_host_platform_device_count=N)")
    run.add_argument("--distributed", action="store_true",
                     help="multi-host: call jax.distributed.initialize() first (settings "
                          "detected from the cluster: SLURM, Open MPI, Cloud TPU, ...; see "
                          "docs/pooling.md); --devices then counts the devices of all hosts")
    run.add_argument("--conv", choices=(AUTO, *PLANS), default=None,
                     help="jax: convolution plan (default auto: timed on a CPU and cached, "
                          "XLA's on a GPU/TPU; also $JAXCNN_CONV); see docs/performance.md")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def resolve_recipe(base: Recipe, args: argparse.Namespace) -> Recipe:
    """``base`` with the flags given applied; ``ValueError`` if the result is invalid."""
    changes = {name: getattr(args, name) for name in RECIPE_FLAGS
               if getattr(args, name) is not None}
    options = dict(base.model_options)
    options.update({name: getattr(args, name) for name in MODEL_FLAGS
                    if getattr(args, name) is not None})
    height, _, channels = SPECS[changes.get("dataset", base.dataset)].image_shape
    if (height, channels) != (28, 1):  # the models default to 28x28 grey images
        options.update(in_channels=channels, image_size=height)
    if changes.get("optimizer", "sgd") != "sgd" and "momentum" not in changes:
        changes["momentum"] = 0.0  # e.g. classic's SGD momentum does not carry over to adam
    if changes.get("loss", base.loss) != base.loss:
        changes["notes"] = ""  # the notes describe the notebook's loss
    return base.replace(**changes, model_options=options)


def new_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Path, dict]:
    """The run directory and config of a fresh run."""
    if args.arch is None:
        parser.error("--arch is required (or --resume DIR)")
    if args.resume_from is not None:
        parser.error("--resume-from applies with --resume DIR")
    framework = args.framework or "jax"
    try:
        recipe = resolve_recipe(get_recipe(args.arch), args)
    except ValueError as err:
        parser.error(str(err))
    run_dir = args.out or Path("runs") / f"{args.arch}-{framework}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (run_dir / rundir.CONFIG).exists():
        parser.error(f"{run_dir} already holds a run; continue it with --resume {run_dir} or "
                     "choose another --out")
    config = {"recipe": recipe.to_dict(), "framework": framework,
              "data": {"data_dir": args.data_dir, "subset": args.subset},
              "command": shlex.join(sys.argv)}
    return run_dir, config


def resumed_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Path, dict]:
    """The run directory and config of ``--resume DIR``, with ``--epochs`` applied."""
    run_dir = args.resume
    if args.out is not None:
        parser.error("--out and --resume exclude each other (the run stays in its directory)")
    if not (run_dir / rundir.CONFIG).is_file():
        parser.error(f"--resume {run_dir}: no run there ({rundir.CONFIG} missing)")
    config = rundir.read_config(run_dir)  # RunFileError if damaged
    if not ({"recipe", "framework", "data"} <= config.keys() and isinstance(config["data"], dict)):
        raise rundir.RunFileError(run_dir / rundir.CONFIG, "is not a train.py run config (it "
                                                           "lacks recipe, framework or data)")
    saved = rundir.read_recipe(run_dir, config)
    rundir.read_metrics(run_dir)  # checked before anything is written
    try:
        recipe = resolve_recipe(saved, args)
    except ValueError as err:
        parser.error(str(err))
    changed = [f"{name}: {getattr(saved, name)!r} -> {getattr(recipe, name)!r}"
               for name in (*RECIPE_FLAGS, "model_options")
               if name != "epochs" and getattr(recipe, name) != getattr(saved, name)]
    if args.arch is not None and args.arch != saved.arch:
        changed.insert(0, f"arch: {saved.arch!r} -> {args.arch!r}")
    for name, given in (("framework", args.framework), ("subset", args.subset)):
        before = config["framework"] if name == "framework" else config["data"]["subset"]
        if given is not None and given != before:
            changed.append(f"{name}: {before!r} -> {given!r}")
    if changed:
        parser.error(f"--resume keeps the run's recipe and data (only --epochs may change): "
                     f"{'; '.join(changed)}")
    done = EpochCheckpoints(run_dir).latest_epoch() or 0
    if args.resume_from is not None:
        done = min(done, args.resume_from)
    if recipe.epochs < done:
        parser.error(f"--epochs {recipe.epochs}: the run already completed {done} epochs")
    config["recipe"]["epochs"] = recipe.epochs
    config.setdefault("resumed", []).append({"after_epoch": done,
                                             "command": shlex.join(sys.argv)})
    if args.data_dir is not None:
        config["data"]["data_dir"] = args.data_dir
    return run_dir, config


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    compilation_cache = cachedir.enable_compilation_cache()
    if args.distributed:
        import jax

        jax.distributed.initialize()
    conv.set_override(args.conv)
    try:
        run_dir, config = resumed_run(parser, args) if args.resume else new_run(parser, args)
    except rundir.RunFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    recipe = Recipe(**config["recipe"])
    if args.devices > 1:
        if config["framework"] != "jax":
            parser.error("--devices applies to --framework jax only")
        try:
            check_batch_size(recipe.batch_size, make_mesh(args.devices))
        except ValueError as err:
            parser.error(str(err))
    if config["framework"] == "torch" and not torch_available():
        print("error: --framework torch needs PyTorch, an optional extra: "
              "pip install -e '.[torch]'", file=sys.stderr)
        return 2
    config["devices"] = args.devices
    try:
        train, test = load_data(recipe, data_dir=config["data"]["data_dir"],
                                subset=config["data"]["subset"])
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config["data"].update(source=train.source, train_examples=len(train),
                          test_examples=len(test))
    config.update(environment(config["framework"]))

    print(f"run {run_dir}: {recipe.arch} on {recipe.dataset} ({len(train)} train, {len(test)} "
          f"test images), {config['framework']} on {config['device']}")
    print(f"recipe: {recipe.loss} loss, {recipe.optimizer} lr {recipe.lr:g}"
          + (f" momentum {recipe.momentum:g}" if recipe.momentum else "")
          + f", batch {recipe.batch_size}, {recipe.epochs} epochs, seed {recipe.seed}"
          + (f", model options {recipe.model_options}" if recipe.model_options else ""))
    if recipe.notes:
        print(f"note: {recipe.notes}")
    trainer = make_trainer(config["framework"], recipe, train, test, devices=args.devices)
    start = None
    if args.resume:  # damaged checkpoints are set aside, the chosen one loaded, before writing
        checkpoints = EpochCheckpoints(run_dir)
        try:
            start = choose_start(checkpoints, resume_from=args.resume_from,
                                 log=lambda message: print(message, file=sys.stderr))
            if start.epoch:
                load_start(trainer, start, checkpoints)
            config["resumed"][-1]["after_epoch"] = start.epoch
        except CheckpointError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        finally:
            checkpoints.close()
    if config["framework"] == "jax":
        config["conv"] = {"requested": conv.requested(), "choices": conv.choices(),
                          "allocator": allocator.state, "compilation_cache": compilation_cache}
        print("convolution plans: " + "; ".join(map(conv.describe, conv.choices())))
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.write_config(run_dir, config)
    try:
        run_training(trainer, recipe, run_dir, train_size=len(train), test=test, config=config,
                     progress=not args.no_progress, start=start)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python scripts/train.py --resume {run_dir}",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
