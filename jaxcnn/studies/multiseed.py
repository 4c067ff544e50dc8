"""Many seeds of one architecture trained as one compiled program.

:class:`MultiSeedEngine` is an :class:`~jaxcnn.training.engine.Engine` whose train state holds N
models
stacked on a leading axis (parameters, batch statistics, dropout RNG keys and counters, optimizer
state). Each step maps the single-model step over that axis: model *i* reads
its own batch (row *i* of the step's ``(N, batch)`` index matrix), draws dropout masks from its
own RNG stream and updates its own optimizer state, so it ends with the weights it would have
had trained alone (tested to float32 rounding). The data set is shared, on the device once.

How the seed axis is mapped is a per-backend choice, as ``steps_per_call`` is for the engine:
``"vmap"`` batches the N models into wider operations (the default on GPU/TPU, where one small
CNN leaves the device idle); ``"unroll"`` writes N copies of the step side by side into the one
compiled program (the default on XLA:CPU, which is compute-bound for these models);
``"map"`` (``jax.lax.map``) loops over the seeds inside the program. On this 2-core CPU, 8 seeds
of ``padded`` ran at 0.72× the speed of 8 runs one by one with ``unroll``, 0.21× with ``vmap``
and 0.12× with ``map`` (XLA:CPU's convolutions inside a loop body are far slower); see
docs/pooling.md.

``python -m jaxcnn.studies.multiseed --arch lenet --seeds 8`` times N seeds stacked (every mapping)
against the same N trained one after the other.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.data import batch_indices
from jaxcnn.training.engine import Engine, EpochMetrics, TrainState

MAPPINGS = ("vmap", "map", "unroll")


def stack(trees: Sequence) -> object:
    """Pytrees of one structure stacked leaf by leaf on a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def seed_batches(n: int, batch_size: int, seeds: Sequence[int], *, epoch: int) -> list[np.ndarray]:
    """Epoch ``epoch``'s batches for every seed: one ``(len(seeds), batch)`` index array per step,
    row *i* being ``batch_indices(n, batch_size, seed=seeds[i], epoch=epoch)``'s batch."""
    orders = [batch_indices(n, batch_size, seed=s, epoch=epoch) for s in seeds]
    return [np.stack(step) for step in zip(*orders, strict=True)]


class MultiSeedEngine(Engine):
    """An :class:`Engine` over N stacked models of one graph, trained side by side.

    ``mapping``: ``"vmap"``, ``"unroll"`` or ``"map"`` (see the module docstring); default
    ``"unroll"`` on the CPU backend, ``"vmap"`` elsewhere. Other arguments are :class:`Engine`'s.
    :meth:`predict` gives every model's outputs, a host array (N, examples, num_classes).
    """

    examples_axis = 1

    def __init__(self, model: nnx.Module, *args, mapping: str | None = None, **kwargs):
        super().__init__(model, *args, **kwargs)
        if mapping is None:
            mapping = "unroll" if jax.default_backend() == "cpu" else "vmap"
        if mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
        self.mapping = mapping

    def _map(self, fn, *args):
        """``fn`` applied to each model's slice of ``args`` (stacked pytrees)."""
        if self.mapping == "vmap":
            return jax.vmap(fn)(*args)
        if self.mapping == "map":
            return jax.lax.map(lambda sliced: fn(*sliced), args)
        n = jax.tree.leaves(args)[0].shape[0]
        outs = [fn(*jax.tree.map(lambda a, i=i: a[i], args)) for i in range(n)]
        return jax.tree.map(lambda *slices: jnp.stack(slices), *outs)

    def stack_states(self, models: Sequence[nnx.Module]) -> TrainState:
        """The stacked, optimizer-initialised state of ``models`` (one per seed, same graph)."""
        if not models:
            raise ValueError("models must hold at least one model")
        return self.put(stack([Engine.create_train_state(self, m) for m in models]))

    def create_train_state(self, model: nnx.Module) -> TrainState:
        raise TypeError("MultiSeedEngine trains stacked models: use stack_states(models)")

    @staticmethod
    def seed_state(state: TrainState, index: int) -> TrainState:
        """Model ``index``'s own state, as :class:`Engine` would hold it."""
        return jax.tree.map(lambda leaf: leaf[index], state)

    def _batch_step(self, state, metrics, images, labels, idx, shard):
        def one(seed_state, seed_metrics, seed_idx):
            x, y = self._gather(images, labels, seed_idx, shard)
            return self.train_step(seed_state, x, y, seed_metrics)

        return self._map(one, state, metrics, idx)

    def _summarize(self, metrics: dict[str, jax.Array]) -> list[EpochMetrics]:
        host = {k: np.asarray(v) for k, v in metrics.items()}
        return [EpochMetrics(float(loss) / int(count), int(correct) / int(count), int(count))
                for loss, correct, count in zip(host["loss_sum"], host["correct"], host["count"],
                                                strict=True)]

    def _eval_batch(self, params, rest, images):
        return self._map(lambda p, r: super(MultiSeedEngine, self)._eval_batch(p, r, images),
                         params, rest)

    def evaluate(self, state: TrainState, images: jax.Array, labels: jax.Array,
                 batch_size: int = 1000) -> dict[str, np.ndarray]:
        """Per-model mean loss (N,), accuracy (N,) and outputs (N, examples, classes)."""
        outputs = self.predict(state, images, batch_size)
        host_labels = np.asarray(labels)
        losses = np.asarray(jax.vmap(self.loss_fn, in_axes=(0, None))(
            jnp.asarray(outputs), jnp.asarray(host_labels)))
        return {"loss": losses.mean(axis=1),
                "accuracy": np.mean(outputs.argmax(-1) == host_labels, axis=1),
                "outputs": outputs}


# -- the speed-up measurement -------------------------------------------------------------------
def _time_epochs(engine: Engine, state, images, labels, batches) -> float:
    """Seconds for one warm-up pass (compiling) excluded: the time of a second pass."""
    state, _ = engine.train_epoch(state, images, labels, batches, epoch=1, progress=False)
    jax.block_until_ready(state)
    start = time.perf_counter()
    state, _ = engine.train_epoch(state, images, labels, batches, epoch=1, progress=False)
    jax.block_until_ready(state)
    return time.perf_counter() - start


def benchmark(arch: str, seeds: int, steps: int, *, data_dirs: dict[str, str] | None = None
              ) -> dict:
    """Seconds for ``steps`` steps of ``seeds`` models: stacked in one program (each mapping),
    and one model after the other with :class:`Engine`, with ``arch``'s recipe (optimizer,
    loss, batch size) on its real training data."""
    from jaxcnn.data import preprocess
    from jaxcnn.net.registry import create_model
    from jaxcnn.training.losses import get_loss
    from jaxcnn.training.optim import make_optimizer
    from jaxcnn.training.recipes import get_recipe
    from jaxcnn.training.run import load_data

    recipe = get_recipe(arch)
    train, _ = load_data(recipe, data_dir=(data_dirs or {}).get(recipe.dataset),
                         subset=steps * recipe.batch_size)
    images = jnp.asarray(preprocess(train.images, recipe.normalization))
    labels = jnp.asarray(train.labels)
    tx, loss = make_optimizer(recipe), get_loss(recipe.loss)
    models = [create_model(arch, seed=s) for s in range(seeds)]
    batches = seed_batches(len(train), recipe.batch_size, range(seeds), epoch=0)
    stacked = {}
    for mapping in MAPPINGS:
        multi = MultiSeedEngine(models[0], tx, loss, mapping=mapping)
        stacked[mapping] = _time_epochs(multi, multi.stack_states(models), images, labels,
                                        batches)
    single = Engine(models[0], tx, loss)
    sequential = sum(
        _time_epochs(single, single.create_train_state(m), images, labels,
                     batch_indices(len(train), recipe.batch_size, seed=s, epoch=0))
        for s, m in enumerate(models))
    return {"arch": arch, "seeds": seeds, "steps": steps, "batch_size": recipe.batch_size,
            "sequential_s": sequential,
            **{f"{m}_s": t for m, t in stacked.items()},
            **{f"{m}_speedup": sequential / t for m, t in stacked.items()}}


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
