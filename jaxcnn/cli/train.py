"""Train one of the five course CNNs with its notebook recipe, in JAX or PyTorch.

    python scripts/train.py --arch lenet
    python scripts/train.py --arch lenet --framework torch --epochs 3
    python scripts/train.py --resume runs/lenet-jax-20250101-120000 --epochs 20
    python scripts/train.py --resume runs/lenet-jax-20250101-120000 --resume-from 3

Several processes (``--coordinator HOST:PORT --num-processes N --process-id I``, see
``jaxcnn.runtime.distributed``) train one model data-parallel over the devices of all of them.

Exit codes: 0 done, 2 bad arguments, data (``jaxcnn.data.DataError``), run files (a damaged
config.json, metrics.jsonl or checkpoint, named in the message), a run directory that is not
ours, in use by another process or on a full disk; 3 training diverged (the checkpoints of the
epochs before are kept), 4 another process never joined, died or lost its connection, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM): resume with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import jax

from jaxcnn import conv
from jaxcnn.cli.args import (
    momentum_float,
    nonnegative_int,
    positive_float,
    positive_int,
    rate_float,
)
from jaxcnn.conv import AUTO, PLANS
from jaxcnn.data import OFFLINE_VAR, SPECS, DataError
from jaxcnn.net.options import ARCHITECTURES, POOLS
from jaxcnn.runtime import allocator, cachedir, distributed, interrupts, precision
from jaxcnn.runtime.diskfull import DiskFull, is_disk_full
from jaxcnn.training import rundir, runlock
from jaxcnn.training.checkpoints import CheckpointError, EpochCheckpoints
from jaxcnn.training.engine import TrainingDiverged, check_batch_size, make_mesh
from jaxcnn.training.losses import LOSSES
from jaxcnn.training.optim import OPTIMIZERS
from jaxcnn.training.protocol import Trainer
from jaxcnn.training.recipes import DATASETS, RECIPES, Recipe, get_recipe
from jaxcnn.training.resume import Start, choose_start
from jaxcnn.training.run import (
    FRAMEWORKS,
    environment,
    load_data_building_model,
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
               "exit codes: 0 done, 2 bad arguments, data, run files or run directory (not "
               "ours, in use, disk full), 3 training diverged (earlier checkpoints are kept), "
               "4 another process never joined or died, 130 interrupted, 143 terminated.")
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
    run.add_argument("--no-download", action="store_true",
                     help=f"never download the data set (also {OFFLINE_VAR}=1); by default one "
                          "found nowhere is downloaded into $JAXCNN_DATA_DIR or ~/.cache/jaxcnn")
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
    run.add_argument("--devices", type=positive_int, metavar="N",
                     help="jax: train data-parallel over N devices, each batch split evenly "
                          "(default 1; the batch size must divide by N; on CPU set "
                          "XLA_FLAGS=--xla_force_host_platform_device_count=N); with several "
                          "processes, every device of every process")
    procs = parser.add_argument_group(
        "several processes (jax.distributed; every process runs the same command with its own "
        "--process-id; process 0 writes the run directory)")
    procs.add_argument("--coordinator", metavar="HOST:PORT",
                       help="process 0's address and a free port (also $JAX_COORDINATOR_ADDRESS)")
    procs.add_argument("--num-processes", type=positive_int, metavar="N",
                       help="how many processes train together (also $JAXCNN_NUM_PROCESSES)")
    procs.add_argument("--process-id", type=nonnegative_int, metavar="I",
                       help="this process, 0 ... N-1 (also $JAXCNN_PROCESS_ID)")
    procs.add_argument("--distributed", action="store_true",
                       help="join the other processes, taking what the flags and variables "
                            "leave out from the cluster (SLURM, Open MPI)")
    procs.add_argument("--join-timeout", type=positive_int, default=distributed.JOIN_TIMEOUT,
                       metavar="S", help="seconds to wait for every process to join (default "
                                         "%(default)s); a process that finished also waits "
                                         "this long for the others to finish")
    procs.add_argument("--peer-timeout", type=positive_int, default=distributed.PEER_TIMEOUT,
                       metavar="S", help="seconds without a sign of life before a peer counts "
                                         "as dead and every process stops (default "
                                         "%(default)s)")
    run.add_argument("--conv", choices=(AUTO, *PLANS), default=None,
                     help="jax: convolution plan (default auto: timed on a CPU and cached, "
                          "XLA's on a GPU/TPU; also $JAXCNN_CONV); see docs/performance.md")
    run.add_argument("--precision", choices=precision.POLICIES, default=None,
                     help="float32 convolutions and matmuls: default (each framework's own: "
                          "TF32 on recent NVIDIA GPUs), highest (true float32), tf32 (both); "
                          "also $JAXCNN_PRECISION; a resumed run keeps its own. Recorded in "
                          "config.json; on a CPU all three compute in float32")
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
    interrupts.handle_signals()
    if args.no_download:
        os.environ[OFFLINE_VAR] = "1"  # read by jaxcnn.data.load
    try:
        conv.set_override(args.conv)
        conv.requested()  # a bad $JAXCNN_CONV, before anything loads
    except ValueError as err:
        parser.error(str(err))
    try:
        processes = distributed.settings(
            coordinator=args.coordinator, num_processes=args.num_processes,
            process_id=args.process_id, detect=args.distributed, join_timeout=args.join_timeout,
            peer_timeout=args.peer_timeout)
    except distributed.DistributedError as err:
        parser.error(str(err))
    run = {"run_dir": None, "lock": None}  # set by train and (process 0) prepare
    try:
        if processes is not None:
            if args.framework == "torch":
                parser.error("several processes (--num-processes, --distributed) train with "
                             "--framework jax only")
            try:
                distributed.join(processes)
            except distributed.DistributedError as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
        return train(parser, args, run)
    except TrainingDiverged as err:
        advice = f"; {diverged_advice(run['run_dir'])}" if distributed.is_main() else ""
        print(f"error: {err}{advice}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as err:
        print(f"\ninterrupted; {next_step(run['run_dir'])}", file=sys.stderr)
        return interrupts.exit_status(err)
    except Exception as err:
        if distributed.multi():
            distributed.stop_after(err)  # ends the process without waiting for the others
            raise
        if isinstance(err, (rundir.RunFileError, runlock.RunDirectoryError, CheckpointError,
                            DataError)):
            print(f"error: {err}", file=sys.stderr)
            return 2
        if isinstance(err, OSError) and is_disk_full(err):
            full = err if isinstance(err, DiskFull) else DiskFull(
                Path(err.filename or run["run_dir"]))
            print(f"error: {full}, then {next_step(run['run_dir'])}", file=sys.stderr)
            return 2
        raise
    finally:
        if run["lock"] is not None:
            run["lock"].release(remove_if_unused=True)


def next_step(run_dir: Path | None) -> str:
    """How to go on with a run stopped early."""
    if run_dir is not None and (run_dir / rundir.CONFIG).is_file():
        return f"continue with: python scripts/train.py --resume {run_dir}"
    return "nothing was written; run the same command again"


def diverged_advice(run_dir: Path) -> str:
    """What a diverged run leaves, and how to train with another learning rate."""
    checkpoints = EpochCheckpoints(run_dir)
    epoch = checkpoints.latest_epoch()
    checkpoints.close()
    kept = (f"the checkpoints up to epoch {epoch} are kept in {checkpoints.directory}"
            if epoch else "no epoch completed, so there is no checkpoint to continue from")
    return (f"{kept}. --resume keeps the run's recipe: to try a lower --lr, train in a new "
            "directory (another --out)")


def prepare(parser: argparse.ArgumentParser, args: argparse.Namespace, run: dict) -> dict:
    """The run directory and config (``status`` 0), or the exit status after the error was
    printed; on process 0 only, which alone reads and writes (and locks) the run directory.
    The lock goes into ``run["lock"]``; the caller releases it."""
    try:
        if args.resume:  # one writer per run directory: locked before reading or writing it
            if args.out is None and (args.resume / rundir.CONFIG).is_file():
                run["lock"] = runlock.claim_existing(args.resume)
            run_dir, config = resumed_run(parser, args)
        else:
            run_dir, config = new_run(parser, args)
            run["lock"] = runlock.claim_new(run_dir, rundir.CONFIG)
        if distributed.multi() and args.devices not in (None, jax.device_count()):
            parser.error(f"--devices {args.devices}: several processes train on all their "
                         f"devices ({jax.device_count()} in all); leave --devices out")
        devices = args.devices or (jax.device_count() if distributed.multi() else 1)
        if devices > 1:
            if config["framework"] != "jax":
                parser.error("--devices applies to --framework jax only")
            try:
                check_batch_size(config["recipe"]["batch_size"], make_mesh(devices))
            except ValueError as err:
                parser.error(str(err))
    except SystemExit as stop:  # parser.error has printed the message
        if not distributed.multi():
            raise
        return {"status": stop.code}  # the other processes stop too
    except (rundir.RunFileError, runlock.RunDirectoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return {"status": 2}
    if config["framework"] == "torch" and not torch_available():
        print("error: --framework torch needs PyTorch, an optional extra: "
              "pip install -e '.[torch]'", file=sys.stderr)
        return {"status": 2}
    config["devices"] = devices
    if distributed.multi():
        config["processes"] = jax.process_count()
    return {"status": 0, "run_dir": str(run_dir), "config": config}


def train(parser: argparse.ArgumentParser, args: argparse.Namespace, run: dict) -> int:
    """Everything after the processes joined; every process runs it (see
    jaxcnn.runtime.distributed)."""
    compilation_cache = cachedir.enable_compilation_cache()
    main_process = distributed.is_main()
    if distributed.multi():
        command = {k: str(v) for k, v in vars(args).items() if k != "process_id"}
        other = distributed.differing(json.dumps(command, sort_keys=True))
        if other:
            print(f"error: process(es) {', '.join(map(str, other))} were started with other "
                  "arguments than process 0; start every process with the same command and "
                  "its own --process-id", file=sys.stderr)
            return 2
    status = distributed.share(prepare(parser, args, run) if main_process else None)
    if status["status"]:
        return status["status"]
    run_dir, config = Path(status["run_dir"]), status["config"]
    run["run_dir"] = run_dir
    recipe = Recipe(**config["recipe"])
    try:
        saved = (config.get("precision") or {}).get("policy") if args.precision is None else None
        config["precision"] = precision.apply(precision.check(saved, "config.json precision")
                                              if saved else precision.requested(args.precision),
                                              torch=config["framework"] == "torch")
    except ValueError as err:
        parser.error(str(err))
    try:
        train_set, test, model = load_data_building_model(
            config["framework"], recipe, data_dir=config["data"]["data_dir"],
            subset=config["data"]["subset"])
        failed = distributed.failures(0)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        failed = distributed.failures(2)
    if failed:
        return failed
    config["data"].update(source=train_set.source, train_examples=len(train_set),
                          test_examples=len(test))
    config.update(environment(config["framework"]))

    log = print if main_process else (lambda message: None)
    log(f"run {run_dir}: {recipe.arch} on {recipe.dataset} ({len(train_set)} train, "
        f"{len(test)} test images), {config['framework']} on {config['device']}")
    log(f"recipe: {recipe.loss} loss, {recipe.optimizer} lr {recipe.lr:g}"
        + (f" momentum {recipe.momentum:g}" if recipe.momentum else "")
        + f", batch {recipe.batch_size}, {recipe.epochs} epochs, seed {recipe.seed}"
        + (f", model options {recipe.model_options}" if recipe.model_options else ""))
    if recipe.notes:
        log(f"note: {recipe.notes}")
    trainer = make_trainer(config["framework"], recipe, train_set, test,
                           devices=config["devices"], model=model)
    start = None
    if args.resume:
        start = resume(trainer, run_dir, args.resume_from, config)
        if isinstance(start, int):
            return start
    if config["framework"] == "jax":
        config["conv"] = {"requested": conv.requested(), "choices": conv.choices(),
                          "allocator": allocator.state, "compilation_cache": compilation_cache}
        print("convolution plans: " + "; ".join(map(conv.describe, conv.choices())))
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.write_config(run_dir, config)
    run_training(trainer, recipe, run_dir, train_size=len(train_set), test=test,
                 config=config, progress=main_process and not args.no_progress,
                 start=start if start is not None or main_process else Start(0),
                 writes=main_process)
    return 0


def resume(trainer: Trainer, run_dir: Path, resume_from: int | None,
           config: dict) -> Start | int:
    """The start of ``--resume``, loaded into ``trainer``, or the exit status. Process 0 sets
    damaged checkpoints aside and reads the chosen one; with several processes it checks it
    against the model and sends it to the others."""
    start, status = None, 0
    if distributed.is_main():  # damaged checkpoints are set aside, the chosen one read
        checkpoints = EpochCheckpoints(run_dir)
        try:
            start = choose_start(checkpoints, resume_from=resume_from,
                                 log=lambda message: print(message, file=sys.stderr))
            rundir.check_history(run_dir, rundir.read_metrics(run_dir), start.epoch)
            if start.epoch and not distributed.multi():
                load_start(trainer, start, checkpoints)
            elif start.epoch:
                problem = distributed.same_layout(start.state, trainer.checkpoint_state())
                if problem:
                    raise CheckpointError(f"{checkpoints.path(start.epoch)} does not fit the "
                                          f"run's model and optimizer ({problem})")
            config["resumed"][-1]["after_epoch"] = start.epoch
        except (CheckpointError, rundir.RunFileError) as err:
            print(f"error: {err}", file=sys.stderr)
            status = 2
        finally:
            checkpoints.close()
    if not distributed.multi():
        return status or start
    shared = distributed.share({"status": status} if status else
                               {"status": 0, "epoch": start.epoch, "meta": start.meta}
                               if distributed.is_main() else None)
    if shared["status"]:
        return shared["status"]
    if shared["epoch"]:
        state = distributed.share_arrays(start.state if distributed.is_main()
                                         else trainer.checkpoint_state())
        trainer.load_checkpoint_state(state)
    return Start(shared["epoch"], None, shared["meta"])


if __name__ == "__main__":
    sys.exit(main())
