"""A data set's training and test splits in one call: the data folder, the first N images."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from .dataset import Dataset
from .loader import load

ALL_DATASETS = "*"  # in a data-folder mapping, the folder of every data set not named


def data_dir_for(dataset: str, data_dirs: Mapping[str, str | os.PathLike] | None
                 ) -> str | os.PathLike | None:
    """The folder ``data_dirs`` gives ``dataset`` (by name, else under ``"*"``), or None."""
    dirs = data_dirs or {}
    return dirs.get(dataset, dirs.get(ALL_DATASETS))


def first(dataset: Dataset, n: int | None) -> Dataset:
    """The first ``n`` images of ``dataset`` (all of them when ``n`` is None)."""
    if n is None:
        return dataset
    return dataclasses.replace(dataset, images=dataset.images[:n], labels=dataset.labels[:n])


def load_splits(name: str, *, data_dir: str | os.PathLike | None = None,
                train_subset: int | None = None,
                test_subset: int | None = None) -> tuple[Dataset, Dataset]:
    """``(train, test)`` of data set ``name`` read from ``data_dir`` (None: the usual places),
    each cut to its first ``train_subset`` / ``test_subset`` images when given.
    Raises :class:`jaxcnn.data.DataError`."""
    train = load(name, "train", data_dir=data_dir)
    test = load(name, "test", data_dir=data_dir)
    return first(train, train_subset), first(test, test_subset)


def subset(train: Dataset, test: Dataset, n: int | None) -> tuple[Dataset, Dataset]:
    """``--subset N``: the first ``n`` training and first ``n // 6`` (at least one) test images;
    both splits whole when ``n`` is None or 0."""
    if not n:
        return train, test
    return first(train, n), first(test, max(1, n // 6))
