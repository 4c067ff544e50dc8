"""Move weights between paired layers, in either direction, all checked before any is written."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxcnn.parity.kit.layers import PARAM_NAMES, converter, flax_params, torch_params
from jaxcnn.parity.kit.namemap import LayerPair


def _modules(torch_model: nn.Module, flax_model: nnx.Module, pair: LayerPair):
    t = torch_model.get_submodule(pair.torch_name)
    f = flax_model
    for part in pair.flax_name.split("."):
        f = f[int(part)] if isinstance(f, list | tuple) or part.isdigit() else getattr(f, part)
    return t, f


def expected_flax_params(torch_module: nn.Module, pair: LayerPair, flatten: str
                         ) -> dict[str, np.ndarray]:
    """The PyTorch layer's arrays in the port's layout, by PyTorch suffix."""
    to_flax, _ = converter(pair.kind, pair.chw, flatten)
    params = torch_params(torch_module, pair.kind)
    return {s: to_flax(v) if s == "weight" else v for s, v in params.items()}


def to_flax(torch_model: nn.Module, flax_model: nnx.Module, pairs: Sequence[LayerPair],
            flatten: str = "hwc") -> None:
    """Copy every paired PyTorch layer's parameters and statistics into its port, in place."""
    updates = []
    for pair in pairs:
        t, f = _modules(torch_model, flax_model, pair)
        theirs = flax_params(f, pair.kind)
        for suffix, value in expected_flax_params(t, pair, flatten).items():
            if suffix not in theirs:
                if suffix == "num_batches_tracked":
                    continue
                raise ValueError(f"{pair.flax_name}: has no {PARAM_NAMES[pair.kind][suffix]!r} "
                                 f"for {pair.torch_name}.{suffix}")
            if value.shape != theirs[suffix].shape:
                raise ValueError(f"{pair.torch_name}.{suffix}: shape {value.shape} in the port's "
                                 f"layout, but {pair.flax_name} has {theirs[suffix].shape}")
            variable = getattr(f, PARAM_NAMES[pair.kind][suffix])
            updates.append((variable, value))
    for variable, value in updates:
        variable[...] = jnp.array(value, dtype=variable[...].dtype, copy=True)


def to_torch(flax_model: nnx.Module, torch_model: nn.Module, pairs: Sequence[LayerPair],
             flatten: str = "hwc") -> None:
    """Copy every port layer's parameters and statistics into its PyTorch layer, in place."""
    updates = []
    for pair in pairs:
        t, f = _modules(torch_model, flax_model, pair)
        _, back = converter(pair.kind, pair.chw, flatten)
        ours = torch_params(t, pair.kind)
        for suffix, value in flax_params(f, pair.kind).items():
            value = back(value) if suffix == "weight" else value
            if suffix not in ours or value.shape != ours[suffix].shape:
                raise ValueError(f"{pair.flax_name}.{PARAM_NAMES[pair.kind][suffix]}: no "
                                 f"{pair.torch_name}.{suffix} of shape {value.shape}")
            updates.append((getattr(t, suffix), value))
    with torch.no_grad():
        for tensor, value in updates:
            tensor.copy_(torch.from_numpy(np.array(value)).to(tensor.dtype))
