"""The notebooks' loss functions, applied to a model's output as the notebooks applied them.

The five heads differ (softmax, ReLU'd scores, log_softmax, logits), so a loss name says what is
computed *from the output*, exactly as the PyTorch call of the same name would:

* ``nll``: ``F.nll_loss(output, y)`` = ``-mean(output[y])``. On log-probabilities (``classic``)
  this is the usual negative log-likelihood; on ``padded``'s softmax probabilities it is
  notebook 000's quirk: it minimises ``-p_y``, not ``-log p_y`` (hence its printed losses of -1.0).
* ``cross_entropy``: ``F.cross_entropy(output, y)`` = ``nll(log_softmax(output))``.
* ``log_nll``: ``F.nll_loss(torch.log(output), y)``, the corrected loss for ``padded``'s softmax
  output (probabilities are clamped at the smallest normal float32 so that ``log`` stays finite).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn.training.recipes import LOSSES


def _pick(output: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.take_along_axis(output, labels[:, None], axis=-1)[:, 0]


def nll(output: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example ``-output[y]``."""
    return -_pick(output, labels)


def cross_entropy(output: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example ``-log_softmax(output)[y]``."""
    return -_pick(jax.nn.log_softmax(output, axis=-1), labels)


def log_nll(output: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example ``-log(output[y])`` for probability outputs."""
    return -jnp.log(jnp.maximum(_pick(output, labels), jnp.finfo(output.dtype).tiny))


def get_loss(name: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Return the per-example loss function called ``name``."""
    table = {"nll": nll, "cross_entropy": cross_entropy, "log_nll": log_nll}
    if name not in table:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return table[name]
