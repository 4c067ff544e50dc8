"""Losses named for gradient comparisons: the same formula in both frameworks."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

LossPair = tuple[Callable, Callable]  # (torch_loss(out, y), jax_loss(out, y))

LOSSES: dict[str, LossPair] = {
    "ce": (F.cross_entropy,
           lambda out, y: optax.softmax_cross_entropy_with_integer_labels(out, y).mean()),
    "nll": (F.nll_loss, lambda out, y: -jnp.mean(jnp.take_along_axis(out, y[:, None], axis=1))),
    "mse": (F.mse_loss, lambda out, y: jnp.mean(jnp.square(out - y))),
}


def loss_pair(loss: str | LossPair) -> LossPair:
    """A named loss of :data:`LOSSES` or a (torch, jax) pair given as is."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss {loss!r}: choose one of {', '.join(LOSSES)} or pass "
                             "(torch_loss, jax_loss)")
        return LOSSES[loss]
    return loss


def torch_labels(y) -> torch.Tensor:
    """Targets as a tensor: integer labels as int64 (what the losses take)."""
    y = torch.from_numpy(np.array(y))
    return y.long() if not y.is_floating_point() else y
