"""2×2, stride-2 pooling over axes 1 and 2 (the spatial axes of both NHWC and CHWN) by
reshaping each window onto its own axes, instead of XLA's ``reduce_window``.

Max pooling has a hand-written VJP that sends each window's gradient to its first largest
element in row-major order, as PyTorch's ``max_pool2d`` and XLA's ``select_and_scatter`` do
(``jnp.max``'s own gradient would split it between tied elements). Odd sizes drop the last row
or column, as a VALID pooling does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _windows(x: jax.Array) -> jax.Array:
    """``(A, H, W, B)`` → ``(A, H//2, 2, W//2, 2, B)``, the odd last row and column dropped."""
    a, h, w, b = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(a, h // 2, 2, w // 2, 2, b)


def _unwindow(windows: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """The inverse of :func:`_windows`, zeros in a dropped row or column."""
    a, h2, _, w2, _, b = windows.shape
    x = windows.reshape(a, 2 * h2, 2 * w2, b)
    return jnp.pad(x, ((0, 0), (0, shape[1] - 2 * h2), (0, shape[2] - 2 * w2), (0, 0)))


@jax.custom_vjp
def max_pool(x: jax.Array) -> jax.Array:
    """The maximum of each 2×2 window."""
    return jnp.max(_windows(x), axis=(2, 4))


def _max_forward(x):
    return max_pool(x), x


def _max_backward(x, dy):
    windows = _windows(x)
    y = jnp.max(windows, axis=(2, 4))
    taken = jnp.zeros(y.shape, bool)
    grads = []
    for i in range(2):
        for j in range(2):
            first = (windows[:, :, i, :, j] == y) & ~taken
            taken = taken | first
            grads.append(jnp.where(first, dy, 0.0))
    stacked = jnp.stack(grads, axis=0).reshape(2, 2, *y.shape)  # (i, j, A, H2, W2, B)
    windows_grad = jnp.transpose(stacked, (2, 3, 0, 4, 1, 5))  # (A, H2, i, W2, j, B)
    return (_unwindow(windows_grad, x.shape),)


max_pool.defvjp(_max_forward, _max_backward)


def avg_pool(x: jax.Array) -> jax.Array:
    """The mean of each 2×2 window."""
    return jnp.mean(_windows(x), axis=(2, 4))


def sum_of_squares(x: jax.Array) -> jax.Array:
    """The sum of squares of each 2×2 window (for LP pooling with p = 2)."""
    return jnp.sum(jnp.square(_windows(x)), axis=(2, 4))
