"""One architecture in both frameworks from the same weights, and the distance between them."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from torch import nn

import torch_ref.registry
from jaxcnn import data
from jaxcnn.net import registry
from jaxcnn.net.convert import from_torch, to_torch


class ModelPair(NamedTuple):
    jax_model: nnx.Module
    torch_model: nn.Module


def make_pair(arch: str, *, seed: int, options: dict | None = None,
              float64: bool = False) -> ModelPair:
    """The PyTorch original initialised with ``seed`` and its weights converted into Flax.

    ``float64`` casts both models' parameters to double (JAX needs ``jax_enable_x64``).
    """
    options = dict(options or {})
    torch_model = torch_ref.registry.create_model(arch, seed=seed, **options)
    jax_model = registry.create_model(arch, seed=seed, **options)
    from_torch(jax_model, torch_model.state_dict())
    if float64:
        if not jax.config.jax_enable_x64:
            raise RuntimeError("float64 needs jax.config.update('jax_enable_x64', True)")
        params = nnx.state(jax_model, nnx.Param)
        nnx.update(jax_model, jax.tree.map(lambda x: x.astype(jnp.float64), params))
        torch_model.double()
    return ModelPair(jax_model, torch_model)


def max_state_diff(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """Largest absolute difference over the floating-point entries of two state dicts."""
    return float(max(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)))
                     for k in a if np.issubdtype(np.asarray(a[k]).dtype, np.floating)))


def max_param_diff(jax_model: nnx.Module, torch_model: nn.Module) -> float:
    """Largest absolute difference over all parameters, compared in PyTorch's layout."""
    theirs = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    return max_state_diff(to_torch(jax_model), theirs)


DataDirs = Mapping[str, str | os.PathLike]


@functools.lru_cache(maxsize=4)
def _load(dataset: str, split: str, data_dir: str | os.PathLike | None) -> data.Dataset:
    return data.load(dataset, split, data_dir=data_dir)  # read-only arrays: safe to share


def load_inputs(dataset: str, split: str, normalization: str, *, data_dirs: DataDirs | None = None,
                subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed float32 NHWC images and int64 labels of a split (its first ``subset``).

    ``data_dirs`` maps a data set name (or ``"*"``, any) to the ``data_dir`` passed to
    :func:`jaxcnn.data.load`; without one the loader searches its usual places.
    """
    ds = _load(dataset, split, data.data_dir_for(dataset, data_dirs))
    images, labels = ds.images[:subset], ds.labels[:subset]
    return data.preprocess(images, normalization), np.asarray(labels)
