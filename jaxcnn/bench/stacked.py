"""Time N seeds trained stacked in one program (:mod:`jaxcnn.studies.multiseed`, every mapping)
against the same N seeds trained one after the other."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxcnn.data import batch_indices, preprocess
from jaxcnn.net.registry import create_model
from jaxcnn.studies.multiseed import MAPPINGS, MultiSeedEngine, seed_batches
from jaxcnn.training.engine import Engine
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import get_recipe
from jaxcnn.training.run import load_data


def _time_epochs(engine: Engine, state, images, labels, batches) -> float:
    """Seconds for one warm-up pass (compiling) excluded: the time of a second pass."""
    state, _ = engine.train_epoch(state, images, labels, batches, epoch=1, progress=False)
    jax.block_until_ready(state)
    start = time.perf_counter()
    state, _ = engine.train_epoch(state, images, labels, batches, epoch=1, progress=False)
    jax.block_until_ready(state)
    return time.perf_counter() - start


def benchmark(arch: str, seeds: int, steps: int, *, data_dirs: dict[str, str] | None = None,
              mappings: Sequence[str] = MAPPINGS, sequential: bool = True) -> dict:
    """Seconds for ``steps`` steps of ``seeds`` models: stacked in one program (each of
    ``mappings``), and (if ``sequential``) one model after the other with :class:`Engine`, with
    ``arch``'s recipe (optimizer, loss, batch size) on its real training data."""
    recipe = get_recipe(arch)
    train, _ = load_data(recipe, data_dir=(data_dirs or {}).get(recipe.dataset),
                         subset=steps * recipe.batch_size)
    images = jnp.asarray(preprocess(train.images, recipe.normalization))
    labels = jnp.asarray(train.labels)
    tx, loss = make_optimizer(recipe), get_loss(recipe.loss)
    models = [create_model(arch, seed=s) for s in range(seeds)]
    batches = seed_batches(len(train), recipe.batch_size, range(seeds), epoch=0)
    stacked = {}
    for mapping in mappings:
        multi = MultiSeedEngine(models[0], tx, loss, mapping=mapping)
        stacked[mapping] = _time_epochs(multi, multi.stack_states(models), images, labels,
                                        batches)
    result = {"arch": arch, "seeds": seeds, "steps": steps, "batch_size": recipe.batch_size,
              **{f"{m}_s": t for m, t in stacked.items()}}
    if sequential:
        single = Engine(models[0], tx, loss)
        result["sequential_s"] = sum(
            _time_epochs(single, single.create_train_state(m), images, labels,
                         batch_indices(len(train), recipe.batch_size, seed=s, epoch=0))
            for s, m in enumerate(models))
        result.update({f"{m}_speedup": result["sequential_s"] / t for m, t in stacked.items()})
    return result
