"""SHA-256 digests of saved arrays, to tell a file whose bytes changed from the one written.

A checkpoint records :func:`array_digests` of its training state in its ``meta`` item (saved in
the same atomic orbax step as the arrays); ``model.safetensors`` records
:func:`tensors_digest` of its tensors in its own header metadata. Readers recompute them:
:func:`changed` names the arrays that differ, :func:`nonfinite` those holding NaN or infinity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

import numpy as np


def _leaves(tree, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """(path, array) for every array of a nested dict/list of arrays, in a fixed order."""
    if isinstance(tree, Mapping):
        for key in sorted(tree, key=str):
            yield from _leaves(tree[key], f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(tree, list | tuple):
        for i, item in enumerate(tree):
            yield from _leaves(item, f"{prefix}/{i}" if prefix else str(i))
    elif tree is not None:
        yield prefix, np.asarray(tree)


def _sha256(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def array_digests(tree) -> dict[str, str]:
    """The SHA-256 of each array (its dtype, shape and bytes) of a nested dict, by path."""
    return {path: _sha256(array) for path, array in _leaves(tree)}


def changed(tree, recorded: Mapping[str, str]) -> list[str]:
    """The paths whose array differs from ``recorded`` (missing and extra ones included)."""
    current = array_digests(tree)
    return sorted(path for path in current.keys() | recorded.keys()
                  if current.get(path) != recorded.get(path))


def nonfinite(tree) -> list[str]:
    """The paths of the floating-point arrays holding a NaN or an infinity."""
    return [path for path, array in _leaves(tree)
            if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array))]


def total_bytes(tree) -> int:
    """The bytes of all arrays of a nested dict."""
    return sum(array.nbytes for _, array in _leaves(tree))


def tensors_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """One SHA-256 over named tensors (names, dtypes, shapes and bytes, by name)."""
    digest = hashlib.sha256()
    for name, value in array_digests(dict(tensors)).items():
        digest.update(f"{name}={value};".encode())
    return digest.hexdigest()


def summarize(paths: list[str], limit: int = 4) -> str:
    """``paths`` in words, at most ``limit`` named."""
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
