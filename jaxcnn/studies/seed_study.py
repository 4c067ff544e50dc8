"""The seed study: N seeds of each notebook recipe, trained in both frameworks, epoch by epoch.

A *variant* is an architecture with its notebook recipe, optionally changed by ``+`` parts:
``padded+avg`` (notebook 000's average-pooling run), ``padded+log_nll`` (its corrected loss);
a part is a pooling (:data:`jaxcnn.net.options.POOLS`) or a loss
(:data:`jaxcnn.training.losses.LOSSES`).

Seed *s* means what ``scripts/train.py --seed s`` means in either framework: the initial weights
drawn by that framework from seed *s* (Flax's and PyTorch's draws differ), the batch order
``batch_indices(n, batch, seed=s, epoch=e)`` (the same in both) and the dropout stream. JAX
trains several seeds at once as one compiled program
(:class:`jaxcnn.studies.multiseed.MultiSeedEngine`,
``group_size`` seeds per program), each ending with the weights it has trained alone, to
float32 rounding; PyTorch trains seed by seed (:class:`torch_ref.train.TorchTrainer`).

After every epoch each seed is evaluated on the test set: loss, accuracy, and per class the
number of test images classified correctly, the number predicted as that class and the
output unit's largest value. A finished seed is appended to ``<out>/seeds.jsonl``
(:mod:`jaxcnn.studies.seed_records`) at once; a rerun of the same study trains only the seeds
missing there. The frameworks alternate group by group, so a study stopped early has about as many
seeds of each.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from jaxcnn.data import batch_indices
from jaxcnn.net.options import POOLS
from jaxcnn.net.registry import create_model
from jaxcnn.studies.multiseed import MultiSeedEngine, seed_batches
from jaxcnn.studies.seed_records import FILENAME, SeedRecords
from jaxcnn.studies.study_data import Data
from jaxcnn.training.losses import LOSSES, get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import Recipe, get_recipe
from jaxcnn.training.run import environment

FRAMEWORKS = ("jax", "torch")
DEFAULT_VARIANTS = ("padded", "padded+avg", "padded+log_nll", "dropout", "classic", "lenet3x3",
                    "lenet")


def variant_recipe(variant: str, *, epochs: int | None = None) -> Recipe:
    """The recipe of ``variant`` (``ARCH[+POOL][+LOSS]``), with ``epochs`` if given;
    ``ValueError`` naming a part it does not know."""
    arch, *parts = variant.split("+")
    recipe = get_recipe(arch)
    changes: dict = {}
    for part in parts:
        if part in POOLS:
            changes["model_options"] = {**recipe.model_options, "pool": part}
        elif part in LOSSES:
            changes["loss"] = part
        else:
            raise ValueError(f"unknown part {part!r} in variant {variant!r}; after ARCH+ give a "
                             f"pooling ({', '.join(POOLS)}) or a loss ({', '.join(LOSSES)})")
    if epochs is not None:
        changes["epochs"] = epochs
    return recipe.replace(**changes)


def settings(recipe: Recipe, train_subset: int | None, test_subset: int | None) -> dict:
    """What every seed of a variant must share: the recipe but its seed, and the data subsets."""
    shared = {k: v for k, v in recipe.to_dict().items() if k not in ("seed", "notes")}
    return {**shared, "train_subset": train_subset, "test_subset": test_subset}


def class_counts(outputs: np.ndarray, labels: np.ndarray) -> dict[str, list]:
    """Per class: test images classified correctly, images predicted as it, and the output
    unit's largest value over the test set."""
    classes = outputs.shape[-1]
    predicted = outputs.argmax(-1)
    return {"class_correct": np.bincount(labels[predicted == labels],
                                         minlength=classes).tolist(),
            "class_predicted": np.bincount(predicted, minlength=classes).tolist(),
            "class_max_output": [float(v) for v in outputs.max(axis=0)]}


def epoch_row(epoch: int, train_loss: float, train_accuracy: float, test_loss: float,
              test_accuracy: float, outputs: np.ndarray, labels: np.ndarray) -> dict:
    """One seed's metrics after ``epoch``."""
    return {"epoch": epoch, "train_loss": float(train_loss),
            "train_accuracy": float(train_accuracy), "test_loss": float(test_loss),
            "test_accuracy": float(test_accuracy), **class_counts(outputs, labels)}


def train_jax(recipe: Recipe, seeds: Sequence[int], data: Data, *,
              engine: MultiSeedEngine | None = None, mapping: str | None = None,
              progress: bool = True) -> tuple[list[list[dict]], MultiSeedEngine]:
    """Train ``seeds`` of ``recipe`` as one program; every seed's epoch rows, and the engine
    (pass it back for the next group of the same recipe to reuse its compiled steps)."""
    train_x, train_y, test_x, test_y = data.get(recipe.dataset, recipe.normalization)
    models = [create_model(recipe.arch, seed=s, **recipe.model_options) for s in seeds]
    if engine is None:
        engine = MultiSeedEngine(models[0], make_optimizer(recipe),
                                 get_loss(recipe.loss), mapping=mapping)
    state = engine.stack_states(models)
    labels = np.asarray(test_y)
    rows: list[list[dict]] = [[] for _ in seeds]
    for epoch in range(1, recipe.epochs + 1):
        batches = seed_batches(int(train_x.shape[0]), recipe.batch_size, seeds, epoch=epoch - 1)
        state, metrics = engine.train_epoch(state, train_x, train_y, batches, epoch=epoch,
                                            progress=progress)
        evaluation = engine.evaluate(state, test_x, test_y)
        for i, m in enumerate(metrics):
            rows[i].append(epoch_row(epoch, m.loss, m.accuracy, evaluation["loss"][i],
                                     evaluation["accuracy"][i], evaluation["outputs"][i],
                                     labels))
    return rows, engine


def train_torch(recipe: Recipe, seed: int, data: Data, *, progress: bool = True) -> list[dict]:
    """Train one seed of ``recipe`` in PyTorch; its epoch rows."""
    from torch_ref.train import TorchTrainer  # torch is an optional extra

    # Host copies (writable, as torch wants them); JAX keeps labels as int32, torch's are int64.
    train_x, train_y, test_x, test_y = (
        np.array(a, dtype=np.int64 if i % 2 else np.float32)
        for i, a in enumerate(data.get(recipe.dataset, recipe.normalization)))
    trainer = TorchTrainer(recipe.replace(seed=seed), (train_x, train_y), (test_x, test_y))
    rows = []
    for epoch in range(1, recipe.epochs + 1):
        batches = batch_indices(len(train_x), recipe.batch_size, seed=seed, epoch=epoch - 1)
        metrics = trainer.train_epoch(batches, epoch=epoch, progress=progress)
        evaluation = trainer.evaluate()
        rows.append(epoch_row(epoch, metrics.loss, metrics.accuracy, evaluation.loss,
                              evaluation.accuracy, evaluation.outputs, test_y))
    return rows


def plan(variants: Sequence[str], seeds: Sequence[int], frameworks: Sequence[str],
         records: SeedRecords, group_size: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """(variant, framework, seeds) tasks for the seeds not yet in ``records``: per variant, the
    frameworks alternate in chunks of ``group_size`` seeds (a JAX chunk is one program)."""
    tasks = []
    for variant in variants:
        chunks = []
        for framework in frameworks:
            done = records.done(variant, framework)
            todo = [s for s in seeds if s not in done]
            chunks.append([(variant, framework, tuple(todo[i:i + group_size]))
                           for i in range(0, len(todo), group_size)])
        for row in itertools.zip_longest(*chunks):
            tasks.extend(task for task in row if task is not None)
    return tasks


def _runs(task: tuple[str, str, tuple[int, ...]]) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """A task as its trainings: a JAX group at once, PyTorch seed by seed."""
    variant, framework, seeds = task
    if framework == "jax":
        yield task
    else:
        for seed in seeds:
            yield variant, framework, (seed,)


def run_study(variants: Sequence[str], seeds: Sequence[int], frameworks: Sequence[str],
              out: Path, *, epochs: int | None = None, train_subset: int | None = None,
              test_subset: int | None = None, group_size: int = 4, mapping: str | None = None,
              data_dirs: dict[str, str] | None = None, progress: bool = True,
              log: Callable[[str], None] = tqdm.write) -> SeedRecords:
    """Train every (variant, framework, seed) missing from ``<out>/seeds.jsonl``, appending each
    seed as it finishes; returns all records. ``ValueError`` (before any training) for an
    unknown variant or framework, or settings that conflict with the file's."""
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown framework {unknown[0]!r}; choose from {', '.join(FRAMEWORKS)}")
    records = SeedRecords(Path(out) / FILENAME)
    recipes = {v: variant_recipe(v, epochs=epochs) for v in variants}
    for variant, recipe in recipes.items():
        records.check_settings(variant, settings(recipe, train_subset, test_subset))
    tasks = plan(variants, seeds, frameworks, records, group_size)
    total = sum(len(t[2]) for t in tasks)
    skipped = len(variants) * len(frameworks) * len(seeds) - total
    if skipped:
        log(f"{skipped} seed(s) already in {records.path}: kept, not retrained")
    data = Data(data_dirs or {}, train_subset, test_subset)
    engines: dict[str, MultiSeedEngine] = {}
    envs = {f: environment(f) for f in frameworks}
    bar = tqdm(total=total, desc="seeds", unit="seed", disable=not progress)
    for task in tasks:
        for variant, framework, group in _runs(task):
            recipe = recipes[variant]
            bar.set_postfix_str(f"{variant} {framework} seed {'-'.join(map(str, group))}")
            start = time.perf_counter()
            if framework == "jax":
                rows, engines[variant] = train_jax(recipe, group, data,
                                                   engine=engines.get(variant),
                                                   mapping=mapping, progress=progress)
            else:
                rows = [train_torch(recipe, group[0], data, progress=progress)]
            seconds = time.perf_counter() - start
            train_x, _, _, test_y = data.get(recipe.dataset, recipe.normalization)
            for seed, seed_rows in zip(group, rows, strict=True):
                records.append({
                    "variant": variant, "framework": framework, "seed": seed,
                    "settings": settings(recipe, train_subset, test_subset),
                    "train_examples": int(train_x.shape[0]),
                    "class_total": np.bincount(np.asarray(test_y), minlength=len(
                        seed_rows[0]["class_correct"])).tolist(),
                    "epochs": seed_rows, "seconds": seconds / len(group),
                    "group": list(group), "group_seconds": seconds,
                    "mapping": engines[variant].mapping if framework == "jax" else None,
                    **envs[framework],
                    "finished": datetime.datetime.now().isoformat(timespec="seconds")})
                log(f"{variant} {framework} seed {seed}: test accuracy "
                    f"{100 * seed_rows[-1]['test_accuracy']:.2f}% after {recipe.epochs} "
                    f"epoch(s) ({seconds / len(group):.0f} s per seed)")
                bar.update(1)
    bar.close()
    return records
