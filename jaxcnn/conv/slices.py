"""Stride-1 convolution in NHWC as ``k*k`` shifted slices concatenated, then one matmul.

The patch matrix is built along the channel axis (kernel row, kernel column, input channel: the
order of an HWIO kernel's rows) and multiplied by the kernel reshaped to ``(k*k*C, O)``; the
gradients are JAX's own (the gradient of a slice is a pad). Inputs must be padded already.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """VALID stride-1 convolution of an NHWC input with an HWIO kernel."""
    kh, kw, c_in, c_out = kernel.shape
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    patches = jnp.concatenate([x[:, i:i + out_h, j:j + out_w, :]
                               for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.dot(patches, kernel.reshape(kh * kw * c_in, c_out))
