"""Stride-1 convolution as GEMMs over a patch matrix, with a hand-written VJP.

Layout: batch innermost. Inputs are ``(C, H, W, N)``, kernels HWIO ``(kh, kw, C, O)``, outputs
``(O, Ho, Wo, N)``. The patch matrix ``P`` has one row per kernel tap and input channel, in the
order of an HWIO kernel's rows ``(i, j, c)``, and one column per output position and image
``(h, w, n)``. Then

* forward: ``y = Wᵀ P`` (one GEMM),
* weight gradient: ``dW = P dyᵀ`` (one GEMM, reusing ``P`` saved by the forward),
* input gradient: ``dP = W dy`` (one GEMM), scattered back to the input positions (col2im: the
  sum, over taps, of ``dP``'s tap slice shifted to where that tap read).

A batch whose patch matrix would outgrow the caches (:data:`CHUNK_BYTES`) is convolved in chunks
of images inside one compiled loop (:func:`jax.lax.scan`): each chunk's patch matrix is built,
used and dropped while it is still in cache, and the backward pass rebuilds it instead of keeping
the whole batch's. The arithmetic is the same; only the weight gradient's sum is taken chunk by
chunk.

XLA's convolution is not used. Inputs must be padded already (:mod:`jaxcnn.conv.plans` pads them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

CHUNK_BYTES = 6 << 20  # patch matrix per chunk (chosen by timing whole training steps)


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


def chunk_size(input_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
               itemsize: int = 4, budget: int | None = None) -> int:
    """Images per chunk: as many as keep one chunk's patch matrix within ``budget`` bytes
    (default :data:`CHUNK_BYTES`), rounded down to a divisor of the batch where one is at least
    half that (a last, shorter chunk costs copies of the batch)."""
    c, h, w, n = input_shape
    kh, kw = kernel_shape[:2]
    per_image = kh * kw * c * (h - kh + 1) * (w - kw + 1) * itemsize
    most = max(1, min(n, (CHUNK_BYTES if budget is None else budget) // per_image))
    divisor = max(d for d in range(1, most + 1) if n % d == 0)
    return divisor if 2 * divisor >= most else most


def conv(x: jax.Array, kernel: jax.Array, chunk: int | None = None) -> jax.Array:
    """VALID stride-1 convolution of a ``(C, H, W, N)`` input with an HWIO kernel, ``chunk``
    images at a time (default :func:`chunk_size`'s)."""
    n = x.shape[3]
    chunk = min(n, chunk or chunk_size(x.shape, kernel.shape, x.dtype.itemsize))
    if chunk == n:
        return _conv(x, kernel)
    whole = n - n % chunk
    y = _chunked(x[..., :whole], kernel, chunk)
    if whole == n:
        return y
    return jnp.concatenate([y, _conv(x[..., whole:], kernel)], axis=3)


def _matmul_t(a: jax.Array, b: jax.Array) -> jax.Array:
    """``aᵀ b`` without materialising the transpose."""
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())))


def _forward_gemm(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The output and the patch matrix of :func:`conv` on one block of images."""
    kh, kw, c, o = kernel.shape
    _, h, w, n = x.shape
    p = patches(x, kh, kw)
    y = _matmul_t(kernel.reshape(kh * kw * c, o), p)  # (O, Ho*Wo*N)
    return y.reshape(o, h - kh + 1, w - kw + 1, n), p


def _backward_gemm(p: jax.Array, kernel: jax.Array, x_shape: tuple[int, ...],
                   dy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Input and weight gradients of one block from its patch matrix and output cotangent."""
    c, h, w, n = x_shape
    kh, kw, _, o = kernel.shape
    dy = dy.reshape(o, -1)
    d_kernel = lax.dot_general(p, dy, (((1,), (1,)), ((), ())))
    d_x = col2im(jnp.dot(kernel.reshape(kh * kw * c, o), dy), kh, kw, c, h, w, n)
    return d_x, d_kernel


@jax.custom_vjp
def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _forward_gemm(x, kernel)[0]


def _forward(x, kernel):
    y, p = _forward_gemm(x, kernel)
    return y, (p, kernel, x.shape)


def backward(residuals, dy):
    """The VJP of the unchunked convolution from the residuals ``(P, kernel, input shape)``."""
    p, kernel, x_shape = residuals
    d_x, d_kernel = _backward_gemm(p, kernel, x_shape, dy)
    return d_x, d_kernel.reshape(kernel.shape)


_conv.defvjp(_forward, backward)


def _split(x: jax.Array, chunk: int) -> jax.Array:
    """``(C, H, W, N)`` → ``(N/chunk, C, H, W, chunk)``."""
    c, h, w, n = x.shape
    return jnp.moveaxis(x.reshape(c, h, w, n // chunk, chunk), 3, 0)


def _join(y: jax.Array) -> jax.Array:
    """The inverse of :func:`_split`."""
    s, o, h, w, chunk = y.shape
    return jnp.moveaxis(y, 0, 3).reshape(o, h, w, s * chunk)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _chunked(x: jax.Array, kernel: jax.Array, chunk: int) -> jax.Array:
    return _chunked_forward(x, kernel, chunk)[0]


def _chunked_forward(x, kernel, chunk):
    def step(_, block):
        return None, _forward_gemm(block, kernel)[0]

    blocks = _split(x, chunk)
    _, ys = lax.scan(step, None, blocks)
    return _join(ys), (blocks, kernel)


def _chunked_backward(chunk, residuals, dy):
    blocks, kernel = residuals
    kh, kw, c, o = kernel.shape

    def step(d_kernel, block_and_dy):
        block, dy_block = block_and_dy
        p = patches(block, kh, kw)
        d_x, d_k = _backward_gemm(p, kernel, block.shape, dy_block)
        return d_kernel + d_k, d_x

    zero = jnp.zeros((kh * kw * c, o), kernel.dtype)
    d_kernel, d_blocks = lax.scan(step, zero, (blocks, _split(dy, chunk)))
    return _join(d_blocks), d_kernel.reshape(kernel.shape)


_chunked.defvjp(_chunked_forward, _chunked_backward)
