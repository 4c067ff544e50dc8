"""Stride-1 convolution as GEMMs over a patch matrix, with a hand-written VJP.

Layout: batch innermost. Inputs are ``(C, H, W, N)``, kernels HWIO ``(kh, kw, C, O)``, outputs
``(O, Ho, Wo, N)``. The patch matrix ``P`` has one row per kernel tap and input channel, in the
order of an HWIO kernel's rows ``(i, j, c)``, and one column per output position and image
``(h, w, n)``. Then

* forward: ``y = Wᵀ P`` (one GEMM),
* weight gradient: ``dW = P dyᵀ`` (one GEMM, reusing ``P`` saved by the forward),
* input gradient: ``dP = W dy`` (one GEMM), scattered back to the input positions (col2im: the
  sum, over taps, of ``dP``'s tap slice shifted to where that tap read).

XLA's convolution is not used. Inputs must be padded already (:mod:`jaxcnn.conv.plans` pads them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def patches(x: jax.Array, kh: int, kw: int) -> jax.Array:
    """The ``(kh*kw*C, Ho*Wo*N)`` patch matrix of a ``(C, H, W, N)`` input, rows ``(i, j, c)``."""
    c, h, w, n = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    cols = jnp.stack([x[:, :, j:j + wo, :] for j in range(kw)])  # (kw, C, H, Wo, N)
    taps = jnp.stack([cols[:, :, i:i + ho] for i in range(kh)])  # (kh, kw, C, Ho, Wo, N)
    return taps.reshape(kh * kw * c, ho * wo * n)


def col2im(dp: jax.Array, kh: int, kw: int, c: int, h: int, w: int, n: int) -> jax.Array:
    """The adjoint of :func:`patches`: sum each tap's rows back onto a ``(C, H, W, N)`` input."""
    ho, wo = h - kh + 1, w - kw + 1
    taps = dp.reshape(kh, kw, c, ho, wo, n)
    cols = sum(jnp.pad(taps[i], ((0, 0), (0, 0), (i, kh - 1 - i), (0, 0), (0, 0)))
               for i in range(kh))  # (kw, C, H, Wo, N)
    return sum(jnp.pad(cols[j], ((0, 0), (0, 0), (j, kw - 1 - j), (0, 0))) for j in range(kw))


def _matmul_t(a: jax.Array, b: jax.Array) -> jax.Array:
    """``aᵀ b`` without materialising the transpose."""
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())))


@jax.custom_vjp
def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """VALID stride-1 convolution of a ``(C, H, W, N)`` input with an HWIO kernel."""
    return _forward(x, kernel)[0]


def _forward(x, kernel):
    kh, kw, c, o = kernel.shape
    _, h, w, n = x.shape
    p = patches(x, kh, kw)
    y = _matmul_t(kernel.reshape(kh * kw * c, o), p)  # (O, Ho*Wo*N)
    return y.reshape(o, h - kh + 1, w - kw + 1, n), (p, kernel, x.shape)


def backward(residuals, dy):
    """The VJP of :func:`conv` from the residuals ``(P, kernel, input shape)``."""
    p, kernel, (c, h, w, n) = residuals
    kh, kw, _, o = kernel.shape
    dy = dy.reshape(o, -1)
    w2 = kernel.reshape(kh * kw * c, o)
    d_kernel = lax.dot_general(p, dy, (((1,), (1,)), ((), ()))).reshape(kernel.shape)
    d_x = col2im(jnp.dot(w2, dy), kh, kw, c, h, w, n)
    return d_x, d_kernel


conv.defvjp(_forward, backward)
