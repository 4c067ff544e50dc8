"""Convolution plans: which layout the feature maps use and which formulation each conv runs.

A :class:`Plan` is chosen per model and batch size (:mod:`jaxcnn.conv.choice`) and is active while
a model is traced: the models' ``__call__`` is wrapped by :func:`jaxcnn.conv.choice.planned`,
which moves the NHWC
input into the plan's layout and makes the plan visible to the layers of
:mod:`jaxcnn.net.layers` (convolution, pooling, Dropout2d, flatten) for the duration of the call.
Parameters never change: kernels stay HWIO and the flatten returns to NHWC order, so conversion,
checkpoints and ``model.safetensors`` are the same under every plan.

Layouts: ``NHWC`` (Flax's, and the input's) and ``CHWN`` (batch innermost: elementwise work,
pooling and the patch matrices vectorise over the batch on a CPU).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp

from jaxcnn.conv import gemm, shift, slices, xla


@dataclasses.dataclass(frozen=True)
class Plan:
    """A layout and the formulation for one-channel and for multi-channel convolutions."""

    name: str
    layout: str  # "NHWC" or "CHWN"
    single: str  # formulation of convolutions with one input channel
    multi: str  # formulation of the others
    pool: str = "reshape"  # 2×2 pooling: "reshape" (jaxcnn.conv.pool) or "xla" (reduce_window)

    def conv(self, x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
        """Stride-1 convolution of ``x`` (in this plan's layout) with an HWIO kernel."""
        formulation = self.single if kernel.shape[2] == 1 else self.multi
        if formulation == "xla":
            return xla.conv(x, kernel, padding, self.layout)
        if padding:
            spatial = (1, 2)
            x = jnp.pad(x, [(padding, padding) if a in spatial else (0, 0) for a in range(4)])
        return _VALID[(formulation, self.layout)](x, kernel)


_VALID: dict[tuple[str, str], Callable[[jax.Array, jax.Array], jax.Array]] = {
    ("slices", "NHWC"): slices.conv,
    ("gemm", "CHWN"): gemm.conv,
    ("shift", "CHWN"): shift.conv,
}

PLANS: dict[str, Plan] = {plan.name: plan for plan in (
    Plan("xla", "NHWC", "xla", "xla", pool="xla"),
    Plan("slices", "NHWC", "slices", "slices"),
    Plan("xla-chwn", "CHWN", "xla", "xla"),
    Plan("gemm", "CHWN", "gemm", "gemm"),
    Plan("shift-gemm", "CHWN", "shift", "gemm"),
)}
REFERENCE = PLANS["xla"]

_active: contextvars.ContextVar[Plan] = contextvars.ContextVar("jaxcnn_conv_plan",
                                                               default=REFERENCE)


def active() -> Plan:
    """The plan of the model being called (XLA's convolution in NHWC outside any model)."""
    return _active.get()


@contextlib.contextmanager
def scoped(variable: contextvars.ContextVar, value) -> Iterator:
    """Set a context variable inside the ``with`` block only."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def using(plan: Plan) -> contextlib.AbstractContextManager[Plan]:
    """Make ``plan`` the active plan inside the ``with`` block."""
    return scoped(_active, plan)


def _swap_batch_and_channels(x: jax.Array) -> jax.Array:
    """NHWC ↔ CHWN: the transposition is its own inverse."""
    return jnp.transpose(x, (3, 1, 2, 0))


def to_layout(x: jax.Array, layout: str) -> jax.Array:
    """An NHWC batch in ``layout``."""
    return x if layout == "NHWC" else _swap_batch_and_channels(x)


def to_nhwc(x: jax.Array, layout: str) -> jax.Array:
    """Feature maps in ``layout`` back in NHWC."""
    return x if layout == "NHWC" else _swap_batch_and_channels(x)
