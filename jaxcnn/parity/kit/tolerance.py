"""Tolerances derived from the number format and the layers' fan-in.

Each compared tensor is judged by its relative difference, ``max |a - b| / max |b|`` (the
PyTorch tensor ``b`` sets the scale). Two correct implementations that sum the same products in
different orders, each rounding to unit roundoff ``u``, differ by about ``u · sqrt(n)`` relative
to the tensor's scale for a sum of ``n`` terms (rounding errors add like a random walk), and
those differences carry on through later layers. The tolerance of the ``l``-th layer in call
order is therefore

    tol_l = SAFETY · u · sqrt(fan_in_1 + ... + fan_in_l)

where ``fan_in`` is the number of products summed for one output (``in_channels · kernel area``
for a convolution, ``in_features`` for a linear layer, the normalised size for a norm) and ``u``
is the unit roundoff of the format the products are rounded to: 2^-24 for float32, 2^-53 for
float64, 2^-8 for bfloat16, 2^-11 for float16, and 2^-11 for TF32 (the 10-bit mantissa that
NVIDIA tensor cores round float32 matmul and convolution inputs to).
"""

from __future__ import annotations

import math

UNIT_ROUNDOFF: dict[str, float] = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "tf32": 2.0**-11,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}
MANTISSA_BITS: dict[str, int] = {"tf32": 10, "bfloat16": 7, "float16": 10}
SAFETY = 16.0


def unit_roundoff(precision: str) -> float:
    """``u`` of a format name in :data:`UNIT_ROUNDOFF`; ``ValueError`` naming the choices."""
    if precision not in UNIT_ROUNDOFF:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(UNIT_ROUNDOFF)}")
    return UNIT_ROUNDOFF[precision]


def layer_tolerance(precision: str, cumulative_fan_in: int) -> float:
    """Relative tolerance of a layer whose outputs sum ``cumulative_fan_in`` products so far."""
    return SAFETY * unit_roundoff(precision) * math.sqrt(max(cumulative_fan_in, 1))


def fan_in(kind: str, torch_module) -> int:
    """Products summed per output of a PyTorch layer."""
    if kind == "conv":
        return int(torch_module.in_channels // torch_module.groups
                   * math.prod(torch_module.kernel_size))
    if kind == "linear":
        return int(torch_module.in_features)
    if kind == "layernorm":
        return int(math.prod(torch_module.normalized_shape))
    return 1  # batchnorm in eval mode: one multiply-add per element


def describe(precision: str) -> str:
    """The rule as one line for a report."""
    return (f"tol = {SAFETY:g} · u · sqrt(cumulative fan-in), u = {unit_roundoff(precision):.3g} "
            f"({precision}); relative difference = max|Δ| / max|PyTorch|")
