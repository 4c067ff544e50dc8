"""``summary``: a per-layer table of output shapes and parameter counts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def _param_count(module: nnx.Module) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(module, nnx.Param)))


@contextlib.contextmanager
def _record_calls(model: nnx.Module, rows: list) -> Iterator[None]:
    """Record (name, output shape, params) for each direct sub-layer of ``model`` when called."""
    names = {id(m): name for name, m in vars(model).items() if isinstance(m, nnx.Module)}
    classes = {type(getattr(model, name)) for name in names.values()}
    originals = {cls: cls.__call__ for cls in classes}

    def wrap(cls):
        def call(self, *args, **kwargs):
            out = originals[cls](self, *args, **kwargs)
            if id(self) in names:
                rows.append((f"{names[id(self)]} ({cls.__name__})", tuple(out.shape),
                             _param_count(self)))
            return out
        return call

    try:
        for cls in classes:
            cls.__call__ = wrap(cls)
        yield
    finally:
        for cls, original in originals.items():
            cls.__call__ = original


def summary(model: nnx.Module, input_shape: tuple[int, ...]) -> str:
    """Return a table of each layer's output shape and parameter count, and the total.

    ``input_shape`` is NHWC, with or without the batch axis (``(28, 28, 1)`` or
    ``(1, 28, 28, 1)``). Shapes are traced abstractly; no computation is run.
    """
    if len(input_shape) == 3:
        input_shape = (1, *input_shape)
    rows: list[tuple[str, tuple, int]] = []
    model.eval()
    try:
        with _record_calls(model, rows):
            # A fresh function each time: jax.eval_shape caches traces per callable, and a
            # cached trace of ``model`` would record no rows on a second call.
            jax.eval_shape(lambda x: model(x), jax.ShapeDtypeStruct(input_shape, jnp.float32))
    finally:
        model.train()
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'layer':<{width}}  {'output shape':<20}  {'params':>10}", "-" * (width + 34)]
    for name, shape, count in rows:
        lines.append(f"{name:<{width}}  {str(shape):<20}  {count:>10,}")
    lines += ["-" * (width + 34), f"{'total':<{width}}  {'':<20}  {_param_count(model):>10,}"]
    return "\n".join(lines)
