"""Seeded epoch order and batches shared by the JAX and PyTorch training loops.

Same ``(seed, epoch)`` -> same permutation on every run, process and platform (NumPy's
``default_rng`` with PCG64, seeded by the sequence ``[seed, epoch]``). Batches follow
``torch.utils.data.DataLoader``: the last partial batch is kept unless ``drop_last``.
"""

from __future__ import annotations

import numpy as np


def _check_count(what: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")


def epoch_order(n: int, *, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order (int64 indices into ``range(n)``) in which epoch ``epoch`` visits the data."""
    _check_count("n", n, 0)
    _check_count("seed", seed, 0)
    _check_count("epoch", epoch, 0)
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n).astype(np.int64)


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches an epoch of ``n`` examples has (as ``len(DataLoader)``)."""
    _check_count("n", n, 0)
    _check_count("batch_size", batch_size, 1)
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_indices(
    n: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True,
    drop_last: bool = False,
) -> list[np.ndarray]:
    """The index arrays of each batch of epoch ``epoch``, in order."""
    order = epoch_order(n, seed=seed, epoch=epoch, shuffle=shuffle)
    count = num_batches(n, batch_size, drop_last)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]
