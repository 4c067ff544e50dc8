"""``create_model``: build one of the five architectures by name, with validated options."""

from __future__ import annotations

import jax
from flax import nnx

from jaxcnn.net import models


def create_model(arch: str, *, seed: int = 0, **options) -> nnx.Module:
    """Build architecture ``arch`` with parameters drawn from ``seed`` (PyTorch's init laws).

    ``options``: ``pool`` ("max" or "avg"), ``in_channels``, ``image_size``, ``num_classes``;
    ``dropout`` (a rate) for ``dropout`` and ``lenet``; ``batchnorm`` (bool) for ``lenet``.
    Unknown names or options raise ``ValueError``.
    """
    cls = models.MODELS.model_class(arch, options)
    params_key, dropout_key = jax.random.split(jax.random.key(seed))
    rngs = nnx.Rngs(params=params_key, dropout=dropout_key)
    return cls(**options, rngs=rngs)
