"""Tolerances derived from the number format and the layers' fan-in.

Each compared tensor is judged by its relative difference, ``max |a - b| / max |b|`` (the
PyTorch tensor ``b`` sets the scale). Two correct implementations differ in two ways:

* they sum a layer's products in different orders: for a sum of ``n`` terms the rounding
  errors add like a random walk, about ``u_acc · sqrt(n)`` relative, and carry on through later
  layers, so layer ``l`` (in call order) sees ``u_acc · sqrt(fan_in_1 + ... + fan_in_l)``;
  ``u_acc`` is the unit roundoff of the accumulation (float32 for float32, bfloat16, float16 and
  TF32 work; float64 for float64);
* each layer rounds what it stores (its output; for TF32 the matmul inputs) to the format's unit
  roundoff ``u``, one rounding per layer, which after ``l`` layers is about ``u · sqrt(l)``.

The tolerance of layer ``l`` is ``SAFETY · (u · sqrt(l) + u_acc · sqrt(fan_in_1 + ... +
fan_in_l))``. ``u`` is 2^-24 for float32, 2^-53 for float64, 2^-8 for bfloat16, 2^-11 for
float16 and 2^-11 for TF32 (the 10-bit mantissa that NVIDIA tensor cores round float32 matmul and
convolution inputs to). ``fan_in`` is the number of products summed for one output
(``in_channels · kernel area`` for a convolution, ``in_features`` for a linear layer, the
normalised size for a layer norm, 1 for a batch norm in eval mode).
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
SAFETY = 8.0


def unit_roundoff(precision: str) -> float:
    """``u`` of a format name in :data:`UNIT_ROUNDOFF`; ``ValueError`` naming the choices."""
    if precision not in UNIT_ROUNDOFF:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(UNIT_ROUNDOFF)}")
    return UNIT_ROUNDOFF[precision]


def layer_tolerance(precision: str, depth: int, cumulative_fan_in: int) -> float:
    """Relative tolerance of the ``depth``-th layer, whose outputs have summed
    ``cumulative_fan_in`` products since the input."""
    u = unit_roundoff(precision)
    u_acc = UNIT_ROUNDOFF["float64" if precision == "float64" else "float32"]
    return SAFETY * (u * math.sqrt(max(depth, 1)) + u_acc * math.sqrt(max(cumulative_fan_in, 1)))


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
    return (f"tol = {SAFETY:g} · (u · sqrt(depth) + u_acc · sqrt(cumulative fan-in)), "
            f"u = {unit_roundoff(precision):.3g} ({precision}); "
            "relative difference = max|Δ| / max|PyTorch|")
