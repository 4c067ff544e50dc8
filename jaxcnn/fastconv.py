"""A convolution for XLA:CPU: im2col from k×k shifted slices, then one matmul.

XLA:CPU's own convolution is slow for the small layers of the course CNNs (a few channels, 3×3 or
5×5 kernels). Written as ``k*k`` shifted slices of the padded input concatenated along the
channel axis (the patch matrix, ordered kernel row, kernel column, input channel: the order of
an HWIO kernel's rows) and one matmul with the kernel reshaped to ``(k*k*C_in, C_out)``, the
same layer runs several times faster forward and backward (the gradient of a slice is a pad,
which XLA fuses). The result is the same convolution, up to float32 summation order. The patch
matrix is ``k*k`` times the input, so large batches (inference at batch 512 and more) stay on
XLA's convolution.

:func:`slices_conv_general_dilated` has ``jax.lax.conv_general_dilated``'s signature, so
``nnx.Conv(..., conv_general_dilated=...)`` uses it while the layer keeps ``nnx.Conv``'s class,
parameter names, shapes and HWIO layout (conversion and checkpoints are unchanged). Cases it does
not cover (strides, dilation, groups, other layouts) go to ``lax.conv_general_dilated``.

:func:`choose` picks the implementation: ``$JAXCNN_CONV`` (``xla`` or ``slices``) when set,
otherwise XLA's convolution. The slices were meant as the CPU default, but on the idle 2-core
development machine they trained only 6-29 % faster at the recipes' batch sizes and 0.87-1.24x
at 128/512 (docs/performance.md), compile up to 1.5x longer, and their float32 rounding, though
exact in float64, flips a near-tie in the unscreened BatchNorm gradient parity test. They stay
one environment variable away: ``JAXCNN_CONV=slices``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

ENV_VAR = "JAXCNN_CONV"
IMPLEMENTATIONS = ("xla", "slices")
# The patch matrix holds k*k copies of the input: past this many float32 elements (16 MiB) the
# slices stop paying (measured: inference at batch 512-1000 ran 2-5x slower than XLA's conv).
MAX_PATCH_ELEMENTS = 1 << 22
_NHWC = ("NHWC", "HWIO", "NHWC")


def _is_nhwc(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return tuple(dimension_numbers) == _NHWC


def _pads(padding, kernel: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Explicit (low, high) pads per spatial axis, or None for what the slices do not cover."""
    if padding == "VALID":
        return [(0, 0), (0, 0)]
    if isinstance(padding, str):
        return None  # SAME variants: left to XLA
    pads = [tuple(int(p) for p in pair) for pair in padding]
    return pads if len(pads) == len(kernel) and min(min(p) for p in pads) >= 0 else None


def slices_conv_general_dilated(lhs: jax.Array, rhs: jax.Array,
                                window_strides: Sequence[int], padding, lhs_dilation=None,
                                rhs_dilation=None, dimension_numbers=None,
                                feature_group_count: int = 1, batch_group_count: int = 1,
                                precision=None, preferred_element_type=None,
                                **kwargs) -> jax.Array:
    """``lax.conv_general_dilated`` for stride-1 NHWC/HWIO 2-D convolutions as slices + matmul.

    Anything else (strides, dilations, groups, other layouts or ranks, and patch matrices of more
    than ``MAX_PATCH_ELEMENTS``) is passed to ``lax.conv_general_dilated`` unchanged.
    """
    kernel = tuple(rhs.shape[:2])
    pads = _pads(padding, kernel) if lhs.ndim == 4 else None
    ones = (1, 1)
    simple = (pads is not None and _is_nhwc(dimension_numbers)
              and tuple(window_strides) == ones and tuple(lhs_dilation or ones) == ones
              and tuple(rhs_dilation or ones) == ones and feature_group_count == 1
              and batch_group_count == 1 and not kwargs.get("out_sharding")
              and math.prod(lhs.shape) * kernel[0] * kernel[1] <= MAX_PATCH_ELEMENTS)
    if not simple:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, batch_group_count, precision, preferred_element_type, **kwargs)
    kh, kw, c_in, c_out = rhs.shape
    x = jnp.pad(lhs, [(0, 0), *pads, (0, 0)]) if any(map(any, pads)) else lhs
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    patches = jnp.concatenate([x[:, i:i + out_h, j:j + out_w, :]
                               for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.dot(patches, rhs.reshape(kh * kw * c_in, c_out), precision=precision,
                   preferred_element_type=preferred_element_type)


def default_name() -> str:
    """``$JAXCNN_CONV`` when set, otherwise ``xla``; ``ValueError`` for an unknown name."""
    name = os.environ.get(ENV_VAR) or "xla"
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"{ENV_VAR}={name!r}: choose one of {', '.join(IMPLEMENTATIONS)}")
    return name


def choose(implementation: str | None = None) -> Callable:
    """The conv function for ``nnx.Conv(conv_general_dilated=...)``: ``implementation``
    (``xla`` or ``slices``), else :func:`default_name`'s."""
    name = implementation or default_name()
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown convolution {name!r}; choose one of "
                         f"{', '.join(IMPLEMENTATIONS)}")
    return slices_conv_general_dilated if name == "slices" else lax.conv_general_dilated
