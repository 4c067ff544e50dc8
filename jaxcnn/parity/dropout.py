"""Dropout2d in both frameworks: its channel semantics, and forwards with an explicit mask.

The two frameworks draw dropout masks from different random streams, so a training run with
dropout on cannot match step for step. What must match is the law (whole channels zeroed with
probability ``rate``, survivors scaled by ``1/(1-rate)``) and, given one mask, the arithmetic.
The masked forwards below run the ``dropout`` architecture's own layers and replace only its
dropout by the mask, with each framework's arithmetic (Flax divides by ``1-rate``; PyTorch
multiplies by the noise ``mask/(1-rate)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx
from torch import nn

from jaxcnn.conv.choice import plan_for
from jaxcnn.conv.plans import to_layout, to_nhwc, using
from jaxcnn.net import models
from jaxcnn.net.layers import flatten


class ChannelStats(NamedTuple):
    """What a channel dropout did to an all-ones NHWC input."""

    dropped: int  # channels (over the batch) set to zero
    channels: int  # channels seen: batch size times channel count
    whole_channels: bool  # every channel is constant over its spatial positions
    kept_values: np.ndarray  # the distinct values of the kept entries


def channel_stats(output: np.ndarray) -> ChannelStats:
    """Summarise the output (N, H, W, C) of a channel dropout applied to ones."""
    flat = output.reshape(output.shape[0], -1, output.shape[-1])
    whole = bool(np.all(flat == flat[:, :1, :]))
    per_channel = flat[:, 0, :]
    dropped = int(np.sum(per_channel == 0))
    return ChannelStats(dropped, per_channel.size, whole, np.unique(per_channel[per_channel != 0]))


def jax_dropout_on_ones(model: models.Dropout, batch: int) -> np.ndarray:
    """The Flax model's ``drop`` layer (train mode) applied to ones of its input shape, NHWC."""
    side, _, channels = model.flat_shape
    model.train()
    return np.asarray(model.drop(jnp.ones((batch, side, side, channels), jnp.float32)))


def torch_dropout_on_ones(model: nn.Module, batch: int, side: int, channels: int) -> np.ndarray:
    """The PyTorch model's ``drop`` layer (train mode) applied to ones, returned NHWC."""
    model.train()
    with torch.no_grad():
        out = model.drop(torch.ones(batch, channels, side, side))
    return out.permute(0, 2, 3, 1).numpy()


def jax_forward_masked(model: models.Dropout, x: jax.Array, keep: jax.Array) -> jax.Array:
    """The Flax ``dropout`` net's forward with the channel mask ``keep`` (N, C) for its dropout,
    its convolutions and pooling under the plan the model itself runs at this batch size."""
    plan = plan_for(model, x.shape[0])
    with using(plan):
        x = nnx.relu(model.conv2(nnx.relu(model.conv1(to_layout(x, plan.layout)))))
        x = to_nhwc(model.pool(x), plan.layout)
    mask = jnp.broadcast_to(keep[:, None, None, :], x.shape)
    x = jax.lax.select(mask, x / (1.0 - model.drop.rate), jnp.zeros_like(x))
    x = nnx.relu(model.fc3(flatten(x)))
    return nnx.relu(model.fc4(x))


def torch_forward_masked(model: nn.Module, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The PyTorch ``dropout`` net's forward with the channel mask ``keep`` (N, C)."""
    x = model.maxpool(model.conv2(model.conv1(x)))
    noise = keep[:, :, None, None].to(x.dtype).div_(1.0 - model.drop.p)
    x = (x * noise).reshape(-1, model.flat_features)
    return model.fc4(model.fc3(x))


def jax_masked_step(model: models.Dropout, tx: optax.GradientTransformation,
                    opt_state: optax.OptState, loss_fn: Callable, x: jax.Array, y: jax.Array,
                    keep: jax.Array) -> optax.OptState:
    """One optimiser step of the Flax model, in place, with the given dropout mask."""

    def loss_of(m):
        return loss_fn(jax_forward_masked(m, x, keep), y).mean()

    grads = nnx.grad(loss_of)(model)
    params = nnx.state(model, nnx.Param)
    updates, opt_state = tx.update(grads, opt_state, params)
    nnx.update(model, optax.apply_updates(params, updates))
    return opt_state


def torch_masked_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                      x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor) -> None:
    """One optimiser step of the PyTorch model with the given dropout mask."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_fn(torch_forward_masked(model, x, keep), y).backward()
    optimizer.step()
