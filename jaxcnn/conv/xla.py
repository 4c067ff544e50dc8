"""XLA's own convolution (``lax.conv_general_dilated``): the reference, and cuDNN on a GPU."""

from __future__ import annotations

import jax
from jax import lax


def conv(x: jax.Array, kernel: jax.Array, padding: int, layout: str) -> jax.Array:
    """Stride-1 convolution with ``padding`` zeros on each side, in ``layout`` (NHWC or CHWN)."""
    return lax.conv_general_dilated(x, kernel, (1, 1), [(padding, padding)] * 2,
                                    dimension_numbers=(layout, "HWIO", layout))
