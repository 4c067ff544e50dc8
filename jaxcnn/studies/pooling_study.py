"""The pooling study: architectures × pooling × data set × seeds, trained.

Every cell trains its seeds as one program (:class:`jaxcnn.studies.multiseed.MultiSeedEngine`)
with the architecture's notebook recipe (optimizer, learning rate, batch size, loss,
normalisation), on the cell's data set, for ``epochs`` epochs (the recipes' own with
``epochs=None``). Seed *s* gives the same initial weights, batch order and dropout stream
whatever the pooling (pools have no parameters), so the max and avg results of one seed are
*paired* (:mod:`jaxcnn.studies.pooling_stats` tests them; :mod:`jaxcnn.studies.pooling_report`
writes them out).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from jax.sharding import Mesh

from jaxcnn.net.registry import create_model
from jaxcnn.studies.multiseed import MultiSeedEngine, seed_batches
from jaxcnn.studies.pooling_stats import describe
from jaxcnn.studies.study_data import Data
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import Recipe, get_recipe

# Study rows: an architecture with its notebook loss, and padded with the corrected loss too.
VARIANTS: dict[str, tuple[str, str | None]] = {
    "padded": ("padded", None),
    "padded+log_nll": ("padded", "log_nll"),
    "dropout": ("dropout", None),
    "classic": ("classic", None),
    "lenet3x3": ("lenet3x3", None),
    "lenet": ("lenet", None),
}


@dataclasses.dataclass(frozen=True)
class Training:
    """How long a row trains: ``epochs`` epochs over the first ``train_subset`` training images;
    ``None`` keeps the recipe's epochs or the whole training set."""

    epochs: int | None = None
    train_subset: int | None = None


# The default grid (scripts/compare_pooling.py): seeds per cell and each row's training. The
# Adam recipes (batch 10) learn in a few thousand images; the SGD recipes need whole epochs, and
# lenet (lr 1e-3, no momentum) several, to leave the chance plateau. Measured to keep the
# default run under 30 minutes on the 2-core development machine (docs/pooling.md).
DEFAULT_SEEDS = 5
DEFAULT_TRAINING: dict[str, Training] = {
    "padded": Training(1, 6000),
    "padded+log_nll": Training(1, 6000),
    "dropout": Training(1, None),
    "classic": Training(1, None),
    "lenet3x3": Training(1, 6000),
    "lenet": Training(10, None),
}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell: a variant (architecture and loss), a pooling and a data set."""

    variant: str
    pool: str
    dataset: str

    def recipe(self, epochs: int | None) -> Recipe:
        arch, loss = VARIANTS[self.variant]
        base = get_recipe(arch)
        return base.replace(dataset=self.dataset, epochs=epochs or base.epochs,
                            loss=loss or base.loss, model_options={"pool": self.pool})


def grid(variants: Sequence[str], pools: Sequence[str], datasets: Sequence[str]) -> list[Cell]:
    """Every cell, data set outermost; ``ValueError`` naming an unknown variant."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown --archs {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return [Cell(v, p, d) for d in datasets for v in variants for p in pools]


def train_cell(cell: Cell, seeds: Sequence[int], data: Data, training: Training, *,
               mesh: Mesh | None = None, progress: bool = True) -> dict:
    """Train ``cell``'s seeds together for ``training``; per-seed test accuracies and the wall
    time."""
    recipe = cell.recipe(training.epochs)
    train_x, train_y, test_x, test_y = data.get(recipe.dataset, recipe.normalization)
    if training.train_subset is not None:
        train_x, train_y = train_x[:training.train_subset], train_y[:training.train_subset]
    models = [create_model(recipe.arch, seed=s, **recipe.model_options) for s in seeds]
    engine = MultiSeedEngine(models[0], make_optimizer(recipe),
                             get_loss(recipe.loss), mesh=mesh)
    state = engine.stack_states(models)
    train_x, train_y, test_x, test_y = engine.put((train_x, train_y, test_x, test_y))
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        batches = seed_batches(int(train_x.shape[0]), recipe.batch_size, seeds, epoch=epoch)
        state, _ = engine.train_epoch(state, train_x, train_y, batches, epoch=epoch + 1,
                                      progress=progress)
    accuracy = engine.evaluate(state, test_x, test_y)["accuracy"]
    return {**dataclasses.asdict(cell), "epochs": recipe.epochs,
            "batch_size": recipe.batch_size, "train_examples": int(train_x.shape[0]),
            "seeds": list(seeds), "accuracy": [float(a) for a in accuracy],
            "seconds": time.perf_counter() - start}


def run_study(cells: Sequence[Cell], seeds: Sequence[int], data: Data,
              training: Mapping[str, Training], *, mesh: Mesh | None = None,
              progress: bool = True, log: Callable[[str], None] = print,
              on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Train every cell for its row's ``training[cell.variant]``; one result dict per cell,
    each also given to ``on_result`` as soon as it is known."""
    results = []
    for index, cell in enumerate(cells, 1):
        result = train_cell(cell, seeds, data, training[cell.variant], mesh=mesh,
                            progress=progress)
        acc = describe(result["accuracy"])
        log(f"[{index}/{len(cells)}] {cell.dataset} {cell.variant} {cell.pool}: "
            f"{100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f} over {len(seeds)} seeds "
            f"({result['seconds']:.0f} s)")
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def merge_shards(configuration: dict, shard_results: Sequence[tuple[str, list[int], list[dict]]]
                 ) -> list[dict]:
    """One result per cell of ``configuration``'s grid from each shard's (name, seeds, results),
    the seeds in order; ``ValueError`` naming a shard that lacks a cell or holds another's."""
    cells = grid(configuration["archs"], configuration["pools"], configuration["datasets"])
    keys = [(c.dataset, c.variant, c.pool) for c in cells]
    merged: dict[tuple, dict] = {}
    for name, seeds, results in shard_results:
        found = [(r["dataset"], r["variant"], r["pool"]) for r in results]
        extra = [k for k in found if k not in keys or found.count(k) > 1]
        missing = [k for k in keys if k not in found]
        if extra:
            raise ValueError(f"{name} holds cell {' '.join(extra[0])} twice or not in its grid")
        if missing:
            raise ValueError(f"{name} is not finished: {len(missing)} of {len(keys)} cells "
                             f"missing (first: {' '.join(missing[0])}); run it again with the "
                             "same command to finish it")
        for key, result in zip(found, results, strict=True):
            if result["seeds"] != seeds:
                raise ValueError(f"{name}: cell {' '.join(key)} has seeds {result['seeds']}, "
                                 f"the shard's are {seeds}")
            if key in merged:
                total = merged[key]
                total.update(seeds=total["seeds"] + result["seeds"],
                             accuracy=total["accuracy"] + result["accuracy"],
                             seconds=total["seconds"] + result["seconds"])
            else:
                merged[key] = dict(result)
    out = []
    for key in keys:
        result = merged[key]
        order = np.argsort(result["seeds"], kind="stable")
        out.append({**result, "seeds": [result["seeds"][i] for i in order],
                    "accuracy": [result["accuracy"][i] for i in order]})
    return out
