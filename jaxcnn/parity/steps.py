"""Optimiser-step parity: the same weights and batches through optax and torch.optim.

Every architecture runs its recipe's loss and batch size, with dropout off (``dropout`` is built
with ``dropout=0.0``), under three optimisers (:data:`OPTIMIZER_SETTINGS`). The JAX side is the
training engine's ``train_step``, jitted; the PyTorch side is :func:`torch_side.torch_step` with
``torch_ref.train``'s optimiser and loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

import torch_ref.train as torch_train
from jaxcnn.data import batch_indices
from jaxcnn.parity.pair import make_pair, max_param_diff
from jaxcnn.parity.torch_side import to_labels, to_nchw, torch_dtype, torch_step
from jaxcnn.training.engine import Engine, _zero_metrics
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import Recipe, get_recipe

# name -> (optimizer, learning rate or None for the recipe's, momentum)
OPTIMIZER_SETTINGS: dict[str, tuple[str, float | None, float]] = {
    "sgd": ("sgd", None, 0.0),
    "sgd_momentum": ("sgd", None, 0.9),
    "adam": ("adam", 1e-3, 0.0),
}


def recipe_setting(arch: str) -> str:
    """The :data:`OPTIMIZER_SETTINGS` entry that is ``arch``'s own recipe optimiser."""
    recipe = get_recipe(arch)
    if recipe.optimizer == "adam":
        return "adam"
    return "sgd_momentum" if recipe.momentum else "sgd"


def no_dropout_options(arch: str) -> dict:
    """Model options that switch dropout off (only the ``dropout`` architecture has it on)."""
    return {"dropout": 0.0} if arch == "dropout" else {}


def setting_recipe(arch: str, setting: str, *, dropout_off: bool = True) -> Recipe:
    """``arch``'s recipe with the optimiser of :data:`OPTIMIZER_SETTINGS` entry ``setting``."""
    recipe = get_recipe(arch)
    name, lr, momentum = OPTIMIZER_SETTINGS[setting]
    options = no_dropout_options(arch) if dropout_off else {}
    return recipe.replace(optimizer=name, lr=recipe.lr if lr is None else lr, momentum=momentum,
                          model_options={**recipe.model_options, **options})


def step_diffs(arch: str, setting: str, images: np.ndarray, labels: np.ndarray, *,
               checkpoints: Sequence[int] = (1, 10, 100),
               float64: bool = False) -> dict[int, float]:
    """Max abs parameter difference after each of ``checkpoints`` steps on the recipe's batches.

    ``images``/``labels``: the preprocessed training set; batches are the recipe's epoch-0
    batches (:func:`jaxcnn.data.batch_indices`).
    """
    recipe = setting_recipe(arch, setting)
    pair = make_pair(arch, seed=recipe.seed, options=recipe.model_options, float64=float64)
    engine = Engine(pair.jax_model, make_optimizer(recipe),
                    get_loss(recipe.loss))
    state = engine.create_train_state(pair.jax_model)
    jax_step = jax.jit(lambda s, x, y: engine.train_step(s, x, y, _zero_metrics())[0])
    optimizer = torch_train.make_optimizer(recipe, pair.torch_model.parameters())
    loss_fn = torch_train.LOSSES[recipe.loss]
    dtype = np.float64 if float64 else np.float32
    batches = batch_indices(len(labels), recipe.batch_size, seed=recipe.seed, epoch=0)
    diffs = {}
    for step in range(1, max(checkpoints) + 1):
        idx = batches[step - 1]
        x, y = images[idx].astype(dtype), labels[idx]
        state = jax_step(state, jnp.asarray(x), jnp.asarray(y))
        torch_step(pair.torch_model, optimizer, loss_fn, to_nchw(x, torch_dtype(float64)),
                   to_labels(y))
        if step in checkpoints:
            diffs[step] = max_param_diff(engine.to_model(state), pair.torch_model)
    return diffs
