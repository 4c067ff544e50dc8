"""The studies' data: the data sets they run on, loaded once and kept on the device."""

from __future__ import annotations

import jax.numpy as jnp

from jaxcnn.data import load_splits, preprocess

DATASETS = ("mnist", "fashion_mnist")  # the studies' data sets (recipes.DATASETS adds cifar10)


class Data:
    """The data sets, loaded once, preprocessed once per normalisation, on the device; with
    ``train_subset`` / ``test_subset`` N, the first N images of that split."""

    def __init__(self, data_dirs: dict[str, str], train_subset: int | None,
                 test_subset: int | None = None):
        self.data_dirs, self.train_subset, self.test_subset = data_dirs, train_subset, test_subset
        self._raw: dict = {}
        self._ready: dict = {}

    def get(self, dataset: str, normalization: str):
        """(train images, train labels, test images, test labels) as device arrays."""
        key = (dataset, normalization)
        if key not in self._ready:
            if dataset not in self._raw:
                train, test = load_splits(dataset, data_dir=self.data_dirs.get(dataset),
                                          train_subset=self.train_subset or None,
                                          test_subset=self.test_subset or None)
                self._raw[dataset] = (train.images, train.labels, test.images, test.labels)
            tx, ty, vx, vy = self._raw[dataset]
            self._ready[key] = (jnp.asarray(preprocess(tx, normalization)), jnp.asarray(ty),
                                jnp.asarray(preprocess(vx, normalization)), jnp.asarray(vy))
        return self._ready[key]
