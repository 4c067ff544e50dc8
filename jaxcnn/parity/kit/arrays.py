"""Layout normalisation and distances between a PyTorch tensor and its port's array."""

from __future__ import annotations

import numpy as np

from jaxcnn.parity.kit.layers import chw_rows_to_hwc


def as_f64(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def to_port_layout(t: np.ndarray, port_shape: tuple, chw: tuple | None = None,
                   flatten: str = "hwc") -> np.ndarray | None:
    """A PyTorch activation in the port's layout, or None when no layout fits ``port_shape``.

    Channels-first N,C,H,W becomes channels-last N,H,W,C (a 3-D tensor is kept as it is when
    its shape fits, else made channels-last); a flattened (N, C·H·W)
    input of the linear layer after a flatten is reordered to H,W,C when ``flatten="hwc"``.
    """
    t = as_f64(t)
    port_shape = tuple(port_shape)
    if chw is not None and t.ndim == 2 and flatten == "hwc":
        t = chw_rows_to_hwc(t.T, chw).T
    last = t.transpose(0, *range(2, t.ndim), 1) if t.ndim >= 3 else t
    # Feature maps of 2-D and 3-D convolutions are channels-last in the port; a 3-D tensor is
    # more often a sequence (N, tokens, features) kept as is, so that reading comes first.
    order = (last, t) if t.ndim >= 4 else (t, last)
    return next((a for a in order if a.shape == port_shape), None)


def to_torch_layout(a: np.ndarray, torch_shape: tuple) -> np.ndarray:
    """The inverse of :func:`to_port_layout` for feature maps (channels-last -> first)."""
    a = as_f64(a)
    if a.ndim >= 3 and a.shape != tuple(torch_shape):
        return a.transpose(0, a.ndim - 1, *range(1, a.ndim - 1))
    return a


def max_abs(a, b) -> float:
    return float(np.max(np.abs(as_f64(a) - as_f64(b)))) if np.size(b) else 0.0


def rel_diff(a, b) -> float:
    """max |a - b| / max |b|, infinite when the shapes differ."""
    if a is None or b is None or np.shape(a) != np.shape(b):
        return float("inf")
    scale = float(np.max(np.abs(as_f64(b)))) if np.size(b) else 0.0
    return max_abs(a, b) / max(scale, np.finfo(np.float64).tiny)


def round_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 values rounded to ``bits`` explicit mantissa bits (nearest, ties to even)."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    shift = 23 - bits
    lsb = (b >> shift) & 1
    b = (b + (1 << (shift - 1)) - 1 + lsb) & ~np.uint64((1 << shift) - 1)
    return (b & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
