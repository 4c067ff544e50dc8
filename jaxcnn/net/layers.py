"""Building blocks shared by the five architectures.

The layers here are Flax NNX layers initialised with PyTorch's default distributions, so that an
untrained jaxcnn model draws its weights from the same law as the PyTorch original:

* ``torch.nn.Conv2d`` and ``torch.nn.Linear`` initialise their weight with
  ``kaiming_uniform_(a=sqrt(5))``, which is ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; in Flax that is
  ``variance_scaling(1/3, "fan_in", "uniform")``, whose bound is ``sqrt(3 * (1/3) / fan_in)``.
* Their bias is ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with the same ``fan_in`` (in_channels times
  the kernel area), which :func:`torch_bias_init` draws.
* ``torch.nn.BatchNorm*`` starts with weight 1, bias 0, running mean 0 and running variance 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn.conv import plans, pool
from jaxcnn.net.options import POOLS

torch_kernel_init = nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> Callable:
    """Return a bias initialiser drawing from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)

    return init


class Conv2d(nnx.Conv):
    """A square, stride-1 ``nnx.Conv`` whose convolution is the active plan's
    (:mod:`jaxcnn.conv`), in the plan's layout. Parameters, names and the HWIO layout are
    ``nnx.Conv``'s."""

    def __call__(self, x: jax.Array) -> jax.Array:
        plan = plans.active()
        y = plan.conv(x, self.kernel[...], self.padding[0][0])
        bias = self.bias[...]
        return y + (bias if plan.layout == "NHWC" else bias[:, None, None, None])


def conv(in_channels: int, out_channels: int, kernel_size: int, *, padding: int = 0,
         rngs: nnx.Rngs) -> Conv2d:
    """A :class:`Conv2d` laid out and initialised like ``torch.nn.Conv2d``."""
    return Conv2d(
        in_channels, out_channels, (kernel_size, kernel_size),
        padding=((padding, padding), (padding, padding)),
        kernel_init=torch_kernel_init,
        bias_init=torch_bias_init(in_channels * kernel_size * kernel_size),
        rngs=rngs,
    )


def linear(in_features: int, out_features: int, *, rngs: nnx.Rngs) -> nnx.Linear:
    """An ``nnx.Linear`` initialised like ``torch.nn.Linear``."""
    return nnx.Linear(
        in_features, out_features,
        kernel_init=torch_kernel_init,
        bias_init=torch_bias_init(in_features),
        rngs=rngs,
    )


class Pool2d(nnx.Module):
    """2×2 pooling, stride 2, no padding: ``F.max_pool2d(x, 2)``, ``F.avg_pool2d(x, 2)`` or
    ``F.lp_pool2d(x, 2, 2)`` (``"lp2"``: the window's L2 norm, sqrt of the sum of squares).

    ``lp2`` is computed as PyTorch does, ``sqrt(avg_pool(x²) · window²)``, and like PyTorch it
    has gradient 0 where a window's sum of squares is 0 (common after a ReLU), where sqrt's
    derivative would be infinite. The spatial axes are 1 and 2 in both layouts (NHWC, CHWN).
    """

    def __init__(self, kind: str = "max", window: int = 2):
        if kind not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {kind!r}")
        self.kind = kind
        self.window = window

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.window == 2 and plans.active().pool == "reshape":
            return self._reshaped(x)
        shape = (self.window, self.window)
        if self.kind == "max":
            return nnx.max_pool(x, shape, strides=shape)
        if self.kind == "avg":
            return nnx.avg_pool(x, shape, strides=shape)
        return _lp2(nnx.avg_pool(x * x, shape, strides=shape) * (self.window * self.window))

    def _reshaped(self, x: jax.Array) -> jax.Array:
        if self.kind == "max":
            return pool.max_pool(x)
        if self.kind == "avg":
            return pool.avg_pool(x)
        return _lp2(pool.sum_of_squares(x))


def _lp2(total: jax.Array) -> jax.Array:
    """sqrt(total), with gradient 0 where total is 0."""
    positive = total > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1.0)), 0.0)


class BatchNorm(nnx.Module):
    """Batch normalisation over every axis but the last, with PyTorch's exact semantics.

    Unlike ``nnx.BatchNorm``, the running variance is updated with the *unbiased* batch variance,
    as ``torch.nn.BatchNorm1d/2d`` do, and batches are counted in ``num_batches_tracked`` so that a
    PyTorch ``state_dict`` survives a round trip. ``momentum`` is PyTorch's (0.1 = weight of the
    new batch), which is Flax's ``1 - momentum``.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.1, epsilon: float = 1e-5):
        self.momentum = momentum
        self.epsilon = epsilon
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))
        self.use_running_average = False

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            count = math.prod(x.shape[:-1])
            unbiased = var * (count / max(count - 1, 1))
            m = self.momentum
            self.mean[...] = (1 - m) * self.mean[...] + m * mean
            self.var[...] = (1 - m) * self.var[...] + m * unbiased
            self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1
        inv = jax.lax.rsqrt(var + self.epsilon)
        return (x - mean) * inv * self.scale[...] + self.bias[...]


class Dropout2d(nnx.Dropout):
    """``torch.nn.Dropout2d``: zeroes whole feature maps. The mask is drawn in NHWC order in every
    layout, so a seed drops the same channels whichever plan runs."""

    def __init__(self, rate: float, *, rngs: nnx.Rngs):
        super().__init__(rate, broadcast_dims=(1, 2), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        layout = plans.active().layout
        return plans.to_layout(super().__call__(plans.to_nhwc(x, layout)), layout)


def flatten(x: jax.Array) -> jax.Array:
    """Flatten feature maps (in the active plan's layout) to (N, H*W*C), in NHWC order."""
    x = plans.to_nhwc(x, plans.active().layout)
    return x.reshape(x.shape[0], -1)
