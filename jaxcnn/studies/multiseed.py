"""Many seeds of one architecture trained as one compiled program.

:class:`MultiSeedEngine` is an :class:`~jaxcnn.training.engine.Engine` whose train state holds N
models stacked on a leading axis (parameters, batch statistics, dropout RNG keys and counters,
optimizer state). Each step maps the single-model step over that axis: model *i* reads its own batch
(row *i* of the step's ``(N, batch)`` index matrix), draws dropout masks from its own RNG stream and
updates its own optimizer state, so it ends with the weights it would have had trained alone (tested
to float32 rounding). The data set is shared, on the device once.

How the seed axis is mapped is a per-backend choice, as ``steps_per_call`` is for the engine:
``"vmap"`` batches the N models into wider operations (the default on GPU/TPU, where one small
CNN leaves the device idle); ``"unroll"`` writes N copies of the step side by side into the one
compiled program (the default on XLA:CPU, which is compute-bound for these models);
``"map"`` (``jax.lax.map``) loops over the seeds inside the program. How fast each mapping runs
is measured in docs/pooling.md (``python -m jaxcnn.cli.multiseed``, :mod:`jaxcnn.bench.stacked`).
"""

from __future__ import annotations

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
