"""The layer kinds the kit can pair across frameworks, and how their parameters convert.

A *kind* names a PyTorch layer type and the Flax NNX layer types that port it:

========== ==================================== =============================================
kind       PyTorch                              Flax NNX
========== ==================================== =============================================
conv       ``nn.Conv1d/2d/3d``                  ``nnx.Conv`` (and subclasses)
linear     ``nn.Linear``                        ``nnx.Linear``
batchnorm  ``nn.BatchNorm1d/2d/3d``             ``nnx.BatchNorm``, ``jaxcnn.net.layers.BatchNorm``
layernorm  ``nn.LayerNorm``                     ``nnx.LayerNorm``
========== ==================================== =============================================

Parameters convert as jaxcnn's own models do (:mod:`jaxcnn.convert`): conv kernels
O,I,*spatial ↔ *spatial,I,O; linear weights transposed; and a linear layer fed by a flatten of
``(C, H, W)`` feature maps has its input rows permuted between PyTorch's C,H,W order and the
port's H,W,C order (``flatten="hwc"``, Flax's convention) or kept (``flatten="chw"``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxcnn.net.layers import BatchNorm as JaxcnnBatchNorm

KINDS = ("conv", "linear", "batchnorm", "layernorm")

_TORCH_KINDS: tuple[tuple[type, str], ...] = (
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.Linear,), "linear"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), "batchnorm"),
    ((nn.LayerNorm,), "layernorm"),
)
_FLAX_KINDS: tuple[tuple[type, str], ...] = (
    ((nnx.Conv,), "conv"),
    ((nnx.Linear,), "linear"),
    ((nnx.BatchNorm, JaxcnnBatchNorm), "batchnorm"),
    ((nnx.LayerNorm,), "layernorm"),
)

# PyTorch state_dict suffix -> Flax attribute, per kind.
PARAM_NAMES: dict[str, dict[str, str]] = {
    "conv": {"weight": "kernel", "bias": "bias"},
    "linear": {"weight": "kernel", "bias": "bias"},
    "batchnorm": {"weight": "scale", "bias": "bias", "running_mean": "mean",
                  "running_var": "var", "num_batches_tracked": "num_batches_tracked"},
    "layernorm": {"weight": "scale", "bias": "bias"},
}
TRAINABLE = ("weight", "bias")


def torch_kind(module: nn.Module) -> str | None:
    """The kind of a PyTorch module, or None when the kit does not pair it."""
    for types, kind in _TORCH_KINDS:
        if isinstance(module, types):
            return kind
    return None


def flax_kind(module: nnx.Module) -> str | None:
    """The kind of a Flax NNX module, or None when the kit does not pair it."""
    for types, kind in _FLAX_KINDS:
        if isinstance(module, types):
            return kind
    return None


def flax_params(module: nnx.Module, kind: str) -> dict[str, np.ndarray]:
    """The module's arrays by PyTorch suffix (those the module has: bias may be absent)."""
    out = {}
    for suffix, attr in PARAM_NAMES[kind].items():
        variable = getattr(module, attr, None)
        if variable is not None:
            out[suffix] = np.asarray(variable[...])
    return out


def torch_params(module: nn.Module, kind: str) -> dict[str, np.ndarray]:
    """The module's own ``state_dict`` entries, as numpy arrays."""
    state = module.state_dict()
    return {k: (v.detach().cpu().float() if v.dtype in (torch.bfloat16, torch.float16)
                else v.detach().cpu()).numpy()
            for k, v in state.items() if k in PARAM_NAMES[kind]}


def conv_to_flax(weight: np.ndarray) -> np.ndarray:
    """O,I,*spatial -> *spatial,I,O."""
    return weight.transpose(*range(2, weight.ndim), 1, 0)


def conv_to_torch(kernel: np.ndarray) -> np.ndarray:
    """*spatial,I,O -> O,I,*spatial."""
    return kernel.transpose(kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2))


def chw_rows_to_hwc(rows: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Reorder the leading axis of ``rows`` from C,H,W order to H,W,C order."""
    c, h, w = chw
    return rows.reshape(c, h, w, *rows.shape[1:]).transpose(1, 2, 0, *range(3, rows.ndim + 2)) \
        .reshape(rows.shape)


def hwc_rows_to_chw(rows: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Reorder the leading axis of ``rows`` from H,W,C order to C,H,W order."""
    c, h, w = chw
    return rows.reshape(h, w, c, *rows.shape[1:]).transpose(2, 0, 1, *range(3, rows.ndim + 2)) \
        .reshape(rows.shape)


def linear_to_flax(weight: np.ndarray, chw: tuple[int, int, int] | None,
                   flatten: str) -> np.ndarray:
    """(out, in) -> (in, out), rows in H,W,C order when fed by a flatten and ``flatten="hwc"``."""
    kernel = weight.T
    return chw_rows_to_hwc(kernel, chw) if chw is not None and flatten == "hwc" else kernel


def linear_to_torch(kernel: np.ndarray, chw: tuple[int, int, int] | None,
                    flatten: str) -> np.ndarray:
    """The inverse of :func:`linear_to_flax`."""
    if chw is not None and flatten == "hwc":
        kernel = hwc_rows_to_chw(kernel, chw)
    return kernel.T


def converter(kind: str, chw: tuple[int, int, int] | None, flatten: str
              ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """(to_flax, to_torch) for a layer's ``weight``; other entries keep their layout."""
    if kind == "conv":
        return conv_to_flax, conv_to_torch
    if kind == "linear":
        return (lambda w: linear_to_flax(w, chw, flatten),
                lambda k: linear_to_torch(k, chw, flatten))
    return (lambda a: a), (lambda a: a)
