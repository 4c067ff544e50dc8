"""Move weights between a jaxcnn model and its PyTorch original's ``state_dict``.

Layouts differ in three places, all handled here once, at conversion time:

* conv kernels: PyTorch OIHW ↔ Flax HWIO;
* linear weights: PyTorch (out, in) ↔ Flax (in, out);
* the first linear layer after the flatten: PyTorch flattens NCHW feature maps in C,H,W order,
  Flax flattens NHWC in H,W,C order, so that layer's input rows are permuted.

Each model's ``torch_names`` maps its sub-layers to their PyTorch prefixes; the first ``Linear``
listed there is the one fed by the flatten, whose (H, W, C) input is ``model.flat_shape``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.net.layers import BatchNorm

# PyTorch suffix -> Flax attribute, per layer kind.
_CONV_LINEAR = {"weight": "kernel", "bias": "bias"}
_BATCHNORM = {
    "weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var",
    "num_batches_tracked": "num_batches_tracked",
}


def _layers(model: nnx.Module) -> Iterator[tuple[nnx.Module, str, str]]:
    """Yield (layer, PyTorch prefix, kind) with kind in conv, linear, flat_linear, batchnorm."""
    seen_linear = False
    for attr, prefix in model.torch_names.items():
        layer = getattr(model, attr)
        if isinstance(layer, nnx.Conv):
            yield layer, prefix, "conv"
        elif isinstance(layer, nnx.Linear):
            yield layer, prefix, "linear" if seen_linear else "flat_linear"
            seen_linear = True
        elif isinstance(layer, BatchNorm):
            yield layer, prefix, "batchnorm"
        else:
            raise TypeError(f"{type(model).__name__}.{attr}: no PyTorch layout for {type(layer)}")


def _to_flax(kind: str, suffix: str, value: np.ndarray, flat_shape: tuple[int, int, int]):
    if suffix != "weight" or kind == "batchnorm":
        return value
    if kind == "conv":
        return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if kind == "flat_linear":
        h, w, c = flat_shape
        return value.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    return value.T


def _to_torch(kind: str, suffix: str, value: np.ndarray, flat_shape: tuple[int, int, int]):
    if suffix != "weight" or kind == "batchnorm":
        return value
    if kind == "conv":
        return value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    if kind == "flat_linear":
        h, w, c = flat_shape
        return value.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * w)
    return value.T


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def to_torch(model: nnx.Module) -> dict[str, np.ndarray]:
    """Return the model's weights with PyTorch's names and layouts (loadable with strict=True)."""
    state: dict[str, np.ndarray] = {}
    for layer, prefix, kind in _layers(model):
        names = _BATCHNORM if kind == "batchnorm" else _CONV_LINEAR
        for suffix, attr in names.items():
            value = np.asarray(getattr(layer, attr)[...])
            if suffix == "num_batches_tracked":
                value = value.astype(np.int64)
            value = _to_torch(kind, suffix, value, model.flat_shape)
            state[f"{prefix}.{suffix}"] = np.array(value, order="C")
    return state


def from_torch(model: nnx.Module, state_dict: Mapping) -> None:
    """Load a PyTorch ``state_dict`` (tensors or numpy arrays) into ``model``, in place.

    Every name and shape is checked before anything is written: a missing, unexpected or
    mis-shaped parameter raises ``ValueError`` naming it, and the model is left untouched.
    """
    expected = to_torch(model)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state_dict does not match {type(model).__name__}: missing {missing or 'none'}, "
            f"unexpected {unexpected or 'none'}"
        )
    updates = []
    for layer, prefix, kind in _layers(model):
        names = _BATCHNORM if kind == "batchnorm" else _CONV_LINEAR
        for suffix, attr in names.items():
            name = f"{prefix}.{suffix}"
            value = _as_numpy(state_dict[name])
            if value.shape != expected[name].shape:
                raise ValueError(
                    f"{name}: shape {tuple(value.shape)} in the state_dict, but "
                    f"{type(model).__name__} expects {tuple(expected[name].shape)}"
                )
            variable = getattr(layer, attr)
            value = _to_flax(kind, suffix, value, model.flat_shape)
            # Copy: on CPU jnp.asarray may alias the (torch-owned) buffer, which a later
            # in-place torch update would then change under the JAX model.
            updates.append((variable, jnp.array(value, dtype=variable[...].dtype, copy=True)))
    for variable, value in updates:
        variable[...] = value
