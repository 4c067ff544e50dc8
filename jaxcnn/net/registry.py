"""``create_model``: build one of the five architectures by name, with validated options."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
from flax import nnx

from jaxcnn.net import models

# The construction is compiled with LLVM's -O1 instead of XLA:CPU's default -O3: its random
# number generation (threefry) compiled 2-4x faster so in probes, and it runs once. The weights
# are the same bit for bit (tests/test_models.py).
BUILD_COMPILER_OPTIONS = {"xla_backend_optimization_level": "1"}


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

    graphs: list[nnx.GraphDef] = []  # the model's structure, kept when the build is traced

    def built_state(key: jax.Array) -> nnx.State:
        graph, state = nnx.split(build(key))
        graphs[:] = [graph]  # static: the same for every key
        return state

    state_of = jax.jit(built_state)
    compiled = []  # compiled on first use, for a concrete key

    def create(key: jax.Array) -> nnx.Module:
        if isinstance(key, jax.core.Tracer):  # inside a transformation (jit, vmap)
            state = state_of(key)
        else:
            if not compiled:
                compiled.append(state_of.lower(key).compile(
                    compiler_options=BUILD_COMPILER_OPTIONS))
            state = compiled[0](key)
        return nnx.merge(graphs[0], state)  # traced by now, so known

    return create
