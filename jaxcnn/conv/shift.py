"""Stride-1 convolution of a one-channel input as a sum of shifted, scaled copies.

For ``C = 1`` the forward is ``y[o] = Σ_ij W[i, j, 0, o] · x[i:i+Ho, j:j+Wo]``: ``kh*kw`` scaled
copies that XLA fuses into one elementwise loop, with no patch matrix. The gradients are the
GEMMs of :mod:`jaxcnn.conv.gemm` (the weight gradient needs the patch matrix anyway; the input
gradient of a first layer is dead code that XLA removes). Layout ``(C, H, W, N)`` as there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcnn.conv import gemm


def _shifted_sum(x: jax.Array, kernel: jax.Array) -> jax.Array:
    kh, kw, _, o = kernel.shape
    _, h, w, n = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    y = jnp.zeros((o, ho, wo, n), x.dtype)
    for i in range(kh):
        for j in range(kw):
            y = y + kernel[i, j, 0][:, None, None, None] * x[:, i:i + ho, j:j + wo, :]
    return y


@jax.custom_vjp
def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """VALID stride-1 convolution of a ``(1, H, W, N)`` input with an HWIO kernel."""
    if x.shape[0] != 1:
        raise ValueError(f"the shift convolution takes one input channel, got {x.shape[0]}")
    return _shifted_sum(x, kernel)


def _forward(x, kernel):
    kh, kw = kernel.shape[:2]
    return _shifted_sum(x, kernel), (gemm.patches(x, kh, kw), kernel, x.shape)


conv.defvjp(_forward, gemm.backward)
