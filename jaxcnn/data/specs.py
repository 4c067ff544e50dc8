"""Static facts about the supported data sets: classes, image shapes, sizes, file names."""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """What a complete, correct copy of one data set looks like."""

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (H, W, C)
    split_sizes: dict[str, int]
    torchvision_folder: str  # torchvision's folder under its ``root``

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        class_names=tuple(str(d) for d in range(10)),
        image_shape=(28, 28, 1),
        split_sizes={"train": 60_000, "test": 10_000},
        torchvision_folder="MNIST/raw",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        # Spelled as notebook 004 shows them.
        class_names=(
            "T-Shirt", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle Boot",
        ),
        image_shape=(28, 28, 1),
        split_sizes={"train": 60_000, "test": 10_000},
        torchvision_folder="FashionMNIST/raw",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        class_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
        image_shape=(32, 32, 3),
        split_sizes={"train": 50_000, "test": 10_000},
        torchvision_folder="cifar-10-batches-py",
    ),
}

IDX_DATASETS = ("mnist", "fashion_mnist")


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(SPECS)}") from None


def check_split(split: str) -> None:
    """``ValueError`` listing the valid splits unless ``split`` is one of them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def idx_file_names(split: str) -> tuple[str, str]:
    """Uncompressed IDX file names (images, labels) of a split, as published."""
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def cifar_file_names(split: str) -> tuple[str, ...]:
    """CIFAR-10 python batch file names of a split."""
    if split == "train":
        return tuple(f"data_batch_{i}" for i in range(1, 6))
    return ("test_batch",)
