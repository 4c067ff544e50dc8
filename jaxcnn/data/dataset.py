"""The ``Dataset`` container that every source returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """One split of one data set, fully loaded and checked.

    ``images`` is uint8 (N, H, W, C) and ``labels`` int64 (N,); both are read-only, so the
    JAX and PyTorch sides can share one copy safely (``np.array(ds.images)`` to get a
    writable one). ``source`` is the directory the files came from, or ``"tfds"``.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    split: str
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
