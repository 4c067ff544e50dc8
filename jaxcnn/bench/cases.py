"""The data a benchmark measures on: data folders, the first N images, and :class:`Case`s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxcnn.bench.variants import INFER_BATCH, Case, torchvision_root
from jaxcnn.cli.args import ALL_DATASETS
from jaxcnn.data import Dataset, load, preprocess
from jaxcnn.training.recipes import get_recipe


def data_dir_args(dirs: dict[str, str]) -> list[str]:
    """:func:`parse_data_dirs`'s mapping back as command-line arguments."""
    args = []
    for name, path in dirs.items():
        args += ["--data-dir", path if name == ALL_DATASETS else f"{name}={path}"]
    return args


def data_dir_for(dataset: str, dirs: dict[str, str]) -> str | None:
    return dirs.get(dataset, dirs.get(ALL_DATASETS))


def first_images(ds: Dataset, n: int | None) -> Dataset:
    """The first ``n`` images of ``ds`` (all when None)."""
    return ds if n is None else dataclasses.replace(ds, images=ds.images[:n],
                                                     labels=ds.labels[:n])


def load_splits(dataset: str, dirs: dict[str, str]) -> tuple[Dataset, Dataset]:
    """The training and test splits of ``dataset`` (``DataError`` when they cannot be read)."""
    folder = data_dir_for(dataset, dirs)
    return load(dataset, "train", data_dir=folder), load(dataset, "test", data_dir=folder)


def make_case(arch: str, batch_size: int, splits: tuple[Dataset, Dataset],
              train_images: int | None, test_images: int | None, root: Path,
              infer_batch: int = INFER_BATCH) -> Case:
    """``arch``'s recipe at ``batch_size`` on the first ``train_images`` / ``test_images`` of
    ``splits`` (all when None); ``root`` receives the torchvision layout of the data."""
    recipe = get_recipe(arch)
    raw_train = first_images(splits[0], train_images)
    raw_test = first_images(splits[1], test_images)
    train, test = ((preprocess(ds.images, recipe.normalization), ds.labels)
                   for ds in (raw_train, raw_test))
    return Case(recipe.replace(batch_size=batch_size), train, test, raw_train, raw_test,
                torchvision_root(splits[0], root / recipe.dataset), infer_batch)
