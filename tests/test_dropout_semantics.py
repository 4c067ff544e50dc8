"""Dropout2d semantics in both frameworks, and one training step with a shared channel mask.

The frameworks' random streams differ, so masks cannot be compared draw for draw. Instead:
whole channels are zeroed, survivors are scaled by exactly ``1/(1-p)``, the zeroed share is
within 5 binomial sigmas of ``p``; the explicit-mask forwards reproduce each framework's own
train-mode forward bit for bit; and with one mask given to both, one step agrees.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from data_helpers import mnist_dir, require_idx
from flax import nnx

import torch_ref.registry
import torch_ref.train as torch_train
from jaxcnn.data import batch_indices
from jaxcnn.net import registry
from jaxcnn.parity.dropout import (
    channel_stats,
    jax_dropout_on_ones,
    jax_forward_masked,
    jax_masked_step,
    torch_dropout_on_ones,
    torch_forward_masked,
    torch_masked_step,
)
from jaxcnn.parity.pair import load_inputs, make_pair, max_param_diff
from jaxcnn.parity.steps import OPTIMIZER_SETTINGS, setting_recipe
from jaxcnn.parity.torch_side import to_labels, to_nchw
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer

SIDE, CHANNELS = 10, 20  # the dropout net's feature maps at its Dropout2d (28x28 input)
BATCH, DRAWS = 500, 4  # 40,000 channel draws per framework and rate


def _draws(framework: str, rate: float) -> list[np.ndarray]:
    if framework == "jax":
        model = registry.create_model("dropout", seed=1, dropout=rate)
        return [jax_dropout_on_ones(model, BATCH) for _ in range(DRAWS)]
    model = torch_ref.registry.create_model("dropout", dropout=rate)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return [torch_dropout_on_ones(model, BATCH, SIDE, CHANNELS) for _ in range(DRAWS)]


@pytest.mark.parametrize("rate", [0.25, 0.5])
@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_dropout2d_zeroes_whole_channels_at_rate(framework: str, rate: float) -> None:
    outputs = _draws(framework, rate)
    stats = [channel_stats(out) for out in outputs]
    assert all(s.whole_channels for s in stats)
    scale = np.float32(1.0) / np.float32(1.0 - rate)
    for s in stats:
        np.testing.assert_array_equal(s.kept_values, [scale])
    dropped = sum(s.dropped for s in stats)
    n = sum(s.channels for s in stats)
    sigma = math.sqrt(rate * (1 - rate) / n)
    assert abs(dropped / n - rate) <= 5 * sigma, (dropped / n, rate, sigma)
    masks = [out[:, 0, 0, :] != 0 for out in outputs]
    assert not np.array_equal(masks[0], masks[1]), "each call must draw a fresh mask"


def test_jax_masked_forward_is_the_modules_train_forward() -> None:
    model = registry.create_model("dropout", seed=3)
    model.train()
    twin = nnx.clone(model)  # same RNG counters: its next mask is the model's next mask
    x = jnp.asarray(np.random.default_rng(0).random((8, 28, 28, 1), np.float32))
    expected = np.asarray(model(x))
    keep = jnp.asarray(jax_dropout_on_ones(twin, 8)[:, 0, 0, :] != 0)
    np.testing.assert_array_equal(np.asarray(jax_forward_masked(model, x, keep)), expected)


def test_torch_masked_forward_is_the_modules_train_forward() -> None:
    model = torch_ref.registry.create_model("dropout", seed=3)
    model.train()
    x = torch.from_numpy(np.random.default_rng(0).random((8, 1, 28, 28), np.float32))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(5)
        expected = model(x)
        torch.manual_seed(5)
        keep = torch.from_numpy(torch_dropout_on_ones(model, 8, SIDE, CHANNELS)[:, 0, 0, :] != 0)
        torch.testing.assert_close(torch_forward_masked(model, x, keep), expected, rtol=0, atol=0)


@pytest.fixture(scope="module")
def mnist_half() -> tuple[np.ndarray, np.ndarray]:
    """The dropout recipe's training inputs (MNIST, normalised to [-1, 1])."""
    return load_inputs("mnist", "train", "half",
                       data_dirs={"mnist": require_idx(mnist_dir(), "MNIST")})


# One step of the dropout net (rate 0.25, recipe loss and batch size) with one shared mask.
# Measured max abs parameter differences (printed below; pytest -s): sgd 7.5e-09,
# sgd_momentum 7.5e-09, adam 8.8e-06. Bounds: 5x those.
MASKED_STEP_TOLERANCE = {"sgd": 4e-8, "sgd_momentum": 4e-8, "adam": 4.4e-5}


@pytest.mark.parametrize("setting", list(OPTIMIZER_SETTINGS))
def test_one_step_with_a_shared_mask_agrees(mnist_half, setting: str) -> None:
    recipe = setting_recipe("dropout", setting, dropout_off=False)
    images, labels = mnist_half
    idx = batch_indices(len(labels), recipe.batch_size, seed=recipe.seed, epoch=0)[0]
    x, y = images[idx], labels[idx]
    keep = np.random.default_rng(7).random((len(idx), CHANNELS)) >= 0.25
    pair = make_pair("dropout", seed=recipe.seed, options=recipe.model_options)
    tx = make_optimizer(recipe)
    jax_masked_step(pair.jax_model, tx, tx.init(nnx.state(pair.jax_model, nnx.Param)),
                    get_loss(recipe.loss), jnp.asarray(x), jnp.asarray(y), jnp.asarray(keep))
    torch_masked_step(pair.torch_model,
                      torch_train.make_optimizer(recipe, pair.torch_model.parameters()),
                      torch_train.LOSSES[recipe.loss], to_nchw(x), to_labels(y),
                      torch.from_numpy(keep))
    diff = max_param_diff(pair.jax_model, pair.torch_model)
    print(f"dropout {setting}: max abs param diff after 1 masked step = {diff:.3e}")
    assert diff <= MASKED_STEP_TOLERANCE[setting]
