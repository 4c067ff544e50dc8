"""One training run, whatever the framework: data, trainer, the epoch loop, final outputs.

Epochs are numbered from 1 (as the notebooks print them); epoch ``e`` visits the training set in
the order ``jaxcnn.data.batch_indices(n, batch_size, seed=recipe.seed, epoch=e - 1)`` in both
frameworks (the 0-based epoch index, as :mod:`jaxcnn.parity` uses it). After each epoch the
run appends its metrics row, then saves its checkpoint; resuming restores the latest complete
checkpoint that can be read whole (:mod:`jaxcnn.training.resume`) and drops any metrics row written
after it, so an interrupted run resumed ends exactly where the same run uninterrupted would; the
rows up to that checkpoint must be there, one per epoch
(:func:`jaxcnn.training.rundir.check_history`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from flax import nnx

from jaxcnn import data
from jaxcnn.data import Dataset, batch_indices, preprocess
from jaxcnn.training import rundir
from jaxcnn.training.checkpoints import CheckpointError, EpochCheckpoints
from jaxcnn.training.engine import backend_summary
from jaxcnn.training.protocol import startup_seconds
from jaxcnn.training.recipes import Recipe
from jaxcnn.training.resume import Start, choose_start
from jaxcnn.training.trainer import Evaluation, JaxTrainer, Trainer, build_model

FRAMEWORKS = ("jax", "torch")
_VERSIONED = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "torch")


def load_data(recipe: Recipe, *, data_dir: str | None = None,
              subset: int | None = None) -> tuple[Dataset, Dataset]:
    """The recipe's train and test sets; with ``subset`` N, the first N training images and
    the first N // 6 (at least one) test images. Raises ``jaxcnn.data.DataError``."""
    return data.subset(*data.load_splits(recipe.dataset, data_dir=data_dir), subset)


def load_data_building_model(
        framework: str, recipe: Recipe, *, data_dir: str | None = None,
        subset: int | None = None) -> tuple[Dataset, Dataset, nnx.Module | None]:
    """:func:`load_data`'s data sets and, for ``jax``, the recipe's model
    (:func:`jaxcnn.training.trainer.build_model`; ``None`` for ``torch``), built while the data
    loads in a thread of its own: un-gzipping and XLA's compilation both release the GIL, so a
    run's start-up waits for the longer of the two, not their sum. Raises ``DataError``."""
    with ThreadPoolExecutor(1, thread_name_prefix="jaxcnn-data") as pool:
        loading = pool.submit(load_data, recipe, data_dir=data_dir, subset=subset)
        model = build_model(recipe) if framework == "jax" else None
        return (*loading.result(), model)


def make_trainer(framework: str, recipe: Recipe, train: Dataset, test: Dataset, *,
                 devices: int = 1, model: nnx.Module | None = None) -> Trainer:
    """The ``jax`` or ``torch`` trainer of ``recipe`` on the preprocessed data sets; ``jax``
    trains data-parallel over ``devices`` devices, from ``model`` if given (built from
    ``recipe``)."""
    splits = [(preprocess(ds.images, recipe.normalization), ds.labels) for ds in (train, test)]
    if framework == "jax":
        return JaxTrainer(recipe, *splits, devices=devices, model=model)
    if devices != 1:
        raise ValueError("--devices applies to --framework jax only")
    if framework == "torch":
        from torch_ref.train import TorchTrainer  # torch is an optional extra

        return TorchTrainer(recipe, *splits)
    raise ValueError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")


def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each package (``None`` where it is not installed)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def environment(framework: str) -> dict:
    """Package versions and the device a ``framework`` run computes on."""
    versions = package_versions(_VERSIONED)
    if framework == "torch":
        import torch

        device = f"torch cpu ({torch.get_num_threads()} threads)"
    else:
        device = f"jax {backend_summary()}"
    return {"versions": versions, "device": device}


def format_row(row: dict, epochs: int) -> str:
    """One epoch's metrics as one line of text."""
    return (f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} "
            f"acc {100 * row['train_accuracy']:.2f}%  test loss {row['test_loss']:.4f} "
            f"acc {100 * row['test_accuracy']:.2f}%  {row['seconds']:.1f} s  "
            f"{row['images_per_second']:.0f} img/s")


def _train_epoch(trainer: Trainer, recipe: Recipe, epoch: int, train_size: int,
                 progress: bool) -> tuple[dict, Evaluation]:
    """Train epoch ``epoch`` and evaluate: its metrics row and the test-set evaluation."""
    batches = batch_indices(train_size, recipe.batch_size, seed=recipe.seed, epoch=epoch - 1)
    start = time.perf_counter()
    metrics = trainer.train_epoch(batches, epoch=epoch, progress=progress)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = trainer.evaluate()
    eval_seconds = time.perf_counter() - start
    row = {"epoch": epoch, "train_loss": metrics.loss, "train_accuracy": metrics.accuracy,
           "test_loss": evaluation.loss, "test_accuracy": evaluation.accuracy,
           "seconds": seconds, "images_per_second": metrics.examples / seconds,
           "eval_seconds": eval_seconds,
           "eval_images_per_second": len(evaluation.outputs) / eval_seconds,
           "global_step": trainer.global_step}
    return row, evaluation


def load_start(trainer: Trainer, start: Start, checkpoints: EpochCheckpoints) -> None:
    """Load ``start``'s checkpoint into ``trainer``; :class:`CheckpointError` naming it if it
    does not fit the trainer's model and optimizer."""
    try:
        trainer.load_checkpoint_state(start.state)
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(
            f"{checkpoints.path(start.epoch)} does not fit the run's model and optimizer "
            f"({err}); was config.json edited since it was written?") from err


def run_training(trainer: Trainer, recipe: Recipe, run_dir: Path, *, train_size: int,
                 test: Dataset, config: dict, progress: bool = True,
                 log: Callable[[str], None] = print, start: Start | None = None,
                 writes: bool = True) -> list[dict]:
    """Train ``recipe`` to ``recipe.epochs`` in ``run_dir``, continuing after ``start`` (whose
    state ``trainer`` already holds; by default the newest intact checkpoint, loaded here), then
    write ``model.safetensors`` and the report. Returns the metrics rows of every epoch.

    ``writes=False`` (the processes but process 0 of a multi-process run, given ``start``)
    computes the same and writes nothing.

    Raises :class:`jaxcnn.training.engine.TrainingDiverged` on a NaN/inf loss; the diverged epoch
    writes neither metrics nor checkpoint. Raises
    :class:`jaxcnn.training.checkpoints.CheckpointError` and
    :class:`jaxcnn.training.rundir.RunFileError` for run files it cannot use.
    """
    if not writes:
        return _compute_only(trainer, recipe, train_size, start, progress)
    checkpoints = EpochCheckpoints(run_dir)
    if start is None:
        start = choose_start(checkpoints, log=log)
        if start.epoch:
            load_start(trainer, start, checkpoints)
    done = start.epoch
    history = rundir.check_history(run_dir, rundir.read_metrics(run_dir), done)
    rundir.write_metrics(run_dir, history)
    if done:
        log(f"resumed from {checkpoints.path(done)} "
            f"(epoch {done}, global step {start.meta.get('global_step')})")
    evaluation: Evaluation | None = None
    try:
        for epoch in range(done + 1, recipe.epochs + 1):
            row, evaluation = _train_epoch(trainer, recipe, epoch, train_size, progress)
            if epoch == done + 1:  # this process's start-up: its start to its first step
                row["startup_seconds"] = startup_seconds()
            log(format_row(row, recipe.epochs))
            rundir.write_metrics(run_dir, [*history, row])
            checkpoints.save(epoch, trainer.checkpoint_state(),
                             {"global_step": trainer.global_step, "framework": trainer.framework})
            history.append(row)
    finally:
        checkpoints.close()
    if evaluation is None:
        evaluation = trainer.evaluate()
    state_dict = trainer.state_dict()
    rundir.write_weights(run_dir, state_dict)

    from jaxcnn.training.report import (
        write_report,  # imports matplotlib: only once training is done
    )

    report = write_report(run_dir, config=config, history=history, test_images=test.images,
                          test_labels=test.labels, outputs=evaluation.outputs,
                          class_names=test.class_names, state_dict=state_dict)
    log(f"test accuracy {100 * evaluation.accuracy:.2f}%; weights {run_dir / rundir.WEIGHTS}, "
        f"report {report}")
    return history


def _compute_only(trainer: Trainer, recipe: Recipe, train_size: int, start: Start,
                  progress: bool) -> list[dict]:
    """:func:`run_training`'s computations, in the same order, writing nothing."""
    rows = []
    for epoch in range(start.epoch + 1, recipe.epochs + 1):
        rows.append(_train_epoch(trainer, recipe, epoch, train_size, progress)[0])
    if not rows:
        trainer.evaluate()
    return rows
