"""The data a benchmark measures on: data folders, the first N images, and :class:`Case`s."""

from __future__ import annotations

from pathlib import Path

from jaxcnn.bench.variants import INFER_BATCH, Case, torchvision_root
from jaxcnn.data import ALL_DATASETS, Dataset, preprocess
from jaxcnn.data.splits import first
from jaxcnn.training.recipes import get_recipe


def data_dir_args(dirs: dict[str, str]) -> list[str]:
    """:func:`parse_data_dirs`'s mapping back as command-line arguments."""
    args = []
    for name, path in dirs.items():
        args += ["--data-dir", path if name == ALL_DATASETS else f"{name}={path}"]
    return args


def make_case(arch: str, batch_size: int, splits: tuple[Dataset, Dataset],
              train_images: int | None, test_images: int | None, root: Path,
              infer_batch: int = INFER_BATCH) -> Case:
    """``arch``'s recipe at ``batch_size`` on the first ``train_images`` / ``test_images`` of
    ``splits`` (all when None); ``root`` receives the torchvision layout of the data."""
    recipe = get_recipe(arch)
    raw_train = first(splits[0], train_images)
    raw_test = first(splits[1], test_images)
    train, test = ((preprocess(ds.images, recipe.normalization), ds.labels)
                   for ds in (raw_train, raw_test))
    return Case(recipe.replace(batch_size=batch_size), train, test, raw_train, raw_test,
                torchvision_root(splits[0], root / recipe.dataset), infer_batch)
