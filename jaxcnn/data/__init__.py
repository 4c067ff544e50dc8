"""The data layer both frameworks read: one loader, shared transforms, shared batch order.

``load(name, split)`` returns a checked ``Dataset`` (uint8 NHWC images, int64 labels);
``preprocess`` turns images into the float32 inputs torchvision's ``ToTensor`` / ``Normalize``
give, bit for bit; ``batch_indices`` gives the same batches for a seed in JAX and PyTorch.
This package imports neither torch nor the rest of ``jaxcnn``.
"""

from .batching import batch_indices, epoch_order, num_batches
from .dataset import Dataset
from .download import MIRROR_VAR, OFFLINE_VAR
from .errors import DataError
from .loader import SOURCES, load
from .locate import ENV_VAR, display_path
from .specs import SPECS, SPLITS
from .splits import ALL_DATASETS, data_dir_for, load_splits, subset
from .transforms import NORMALIZATIONS, normalize, preprocess, to_tensor

__all__ = [
    "ALL_DATASETS",
    "ENV_VAR",
    "MIRROR_VAR",
    "NORMALIZATIONS",
    "OFFLINE_VAR",
    "SOURCES",
    "SPECS",
    "SPLITS",
    "DataError",
    "Dataset",
    "batch_indices",
    "data_dir_for",
    "display_path",
    "epoch_order",
    "load",
    "load_splits",
    "normalize",
    "num_batches",
    "preprocess",
    "subset",
    "to_tensor",
]
