"""The JAX trainer: one recipe's model, optimiser and data on the device, behind the interface
that :mod:`jaxcnn.training.run` drives (``torch_ref.train.TorchTrainer`` is its PyTorch twin).

A trainer trains one epoch over given batches, evaluates on the test set, exports and imports
its whole training state as nested numpy arrays (for :mod:`jaxcnn.training.checkpoints`), and gives
its weights in PyTorch's names and layouts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.net.convert import to_torch
from jaxcnn.net.registry import create_model
from jaxcnn.training.engine import Engine, check_batch_size, make_mesh
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.protocol import (  # noqa: F401  (re-exported)
    EVAL_BATCH,
    EpochMetrics,
    Evaluation,
    NestedArrays,
    Split,
    Trainer,
)
from jaxcnn.training.recipes import Recipe


def build_model(recipe: Recipe) -> nnx.Module:
    """``recipe``'s model with its initial weights (seed ``recipe.seed``)."""
    return create_model(recipe.arch, seed=recipe.seed, **recipe.model_options)


class JaxTrainer:
    """A recipe trained by :class:`jaxcnn.training.engine.Engine` on device-resident data,
    data-parallel over ``devices`` devices (each batch split evenly; ``ValueError`` if it does not
    divide)."""

    framework = "jax"

    def __init__(self, recipe: Recipe, train: Split, test: Split, *, devices: int = 1,
                 model: nnx.Module | None = None):
        mesh = make_mesh(devices) if devices > 1 else None
        check_batch_size(recipe.batch_size, mesh)
        if model is None:  # else built by the caller from this recipe (build_model)
            model = build_model(recipe)
        self.engine = Engine(model, make_optimizer(recipe),
                             get_loss(recipe.loss), mesh=mesh)
        self.state = self.engine.create_train_state(model)
        image_shape = np.shape(train[0])[1:]
        # batches never hold more than the data set, whatever --batch-size says
        self.engine.prepare(min(recipe.batch_size, len(train[0])), image_shape, train=True)
        self.engine.prepare(min(EVAL_BATCH, len(test[0])), image_shape, train=False)
        self.train_x, self.train_y, self.test_x, self.test_y = self.engine.put(
            (np.asarray(train[0]), np.asarray(train[1]), np.asarray(test[0]),
             np.asarray(test[1])))

    @property
    def global_step(self) -> int:
        return int(self.state.step)

    def train_epoch(self, batches: list[np.ndarray], *, epoch: int,
                    progress: bool) -> EpochMetrics:
        self.state, metrics = self.engine.train_epoch(self.state, self.train_x, self.train_y,
                                                      batches, epoch=epoch, progress=progress)
        return metrics

    def evaluate(self) -> Evaluation:
        result = self.engine.evaluate(self.state, self.test_x, self.test_y, EVAL_BATCH)
        return Evaluation(result["loss"], result["accuracy"], result["outputs"])

    def checkpoint_state(self) -> NestedArrays:
        """The TrainState (params, batch stats, dropout RNG, optimizer state, step) as arrays
        named by their pytree paths; RNG keys are stored as their raw key data."""
        tree: NestedArrays = {}
        for path, leaf in jax.tree_util.tree_flatten_with_path(self.state)[0]:
            if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
            *parents, name = _path_names(path)
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[name] = np.asarray(leaf)
        return tree

    def load_checkpoint_state(self, state: NestedArrays) -> None:
        """Replace the TrainState with ``state`` (from :meth:`checkpoint_state`), exactly."""
        leaves, treedef = jax.tree_util.tree_flatten_with_path(self.state)
        restored = []
        for path, template in leaves:
            names = _path_names(path)
            value = state
            for part in names:
                if not isinstance(value, dict) or part not in value:
                    raise ValueError(f"checkpoint lacks {'/'.join(names)}")
                value = value[part]
            if jnp.issubdtype(template.dtype, jax.dtypes.prng_key):
                value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(template))
            elif value.shape != template.shape or value.dtype != template.dtype:
                raise ValueError(f"checkpoint {'/'.join(names)}: {value.dtype}{value.shape}, "
                                 f"expected {template.dtype}{template.shape}")
            restored.append(jnp.asarray(value))
        self.state = self.engine.put(jax.tree_util.tree_unflatten(treedef, restored))

    def state_dict(self) -> dict[str, np.ndarray]:
        return to_torch(self.engine.to_model(self.state))


def _path_names(path: tuple) -> list[str]:
    """A pytree key path as strings: dict keys, attribute names and sequence indices."""
    names = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                names.append(str(getattr(key, attr)))
                break
        else:
            raise TypeError(f"unsupported pytree key {key!r}")
    return names
