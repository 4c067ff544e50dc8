"""``create_model``: build one of the five architectures by name, with validated options."""

from __future__ import annotations

import functools
from collections.abc import Callable

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
    return _builder(cls, tuple(sorted(options.items())))(jax.random.key(seed))


@functools.cache
def _builder(cls: type, options: tuple) -> Callable[[jax.Array], nnx.Module]:
    """``cls(**options)`` built from a seed's key in one compiled program: one compilation per
    model class and options instead of one per initialiser, and the same weights as building it
    op by op (``tests/test_models.py`` checks them bit for bit)."""

    def build(key: jax.Array) -> nnx.Module:
        params_key, dropout_key = jax.random.split(key)
        return cls(**dict(options), rngs=nnx.Rngs(params=params_key, dropout=dropout_key))

    return nnx.jit(build)
