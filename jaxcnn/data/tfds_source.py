"""Read a split through tensorflow-datasets (TFDS), an optional dependency.

Two ways, tried in this order:

1. ``tfds.data_source`` on data TFDS has already prepared in the ``array_record`` format
   (under ``data_dir`` or TFDS's default, ``$TFDS_DATA_DIR`` / ``~/tensorflow_datasets``).
   Needs ``tensorflow-datasets`` and ``array_record``, not TensorFlow.
2. Where TensorFlow is installed: ``tfds.load(..., batch_size=-1)`` + ``tfds.as_numpy``, which
   downloads and prepares the data set if needed (the download is left to TFDS and its own
   checksums).

TFDS stores its examples in its own (shuffled) order, not the order of the IDX/pickle files, so
the same split from TFDS and from files holds the same images in a different order. The pinned
file checksums do not apply; ``verify=True`` checks the example count instead.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .errors import DataError
from .specs import DatasetSpec

_FIX = ("Prepare it with TFDS (needs TensorFlow: pip install tensorflow, then tfds.load downloads "
        "it), or use the IDX / CIFAR files instead (--data-dir / data_dir=).")


def tfds_available() -> bool:
    """Whether tensorflow-datasets can be imported."""
    return importlib.util.find_spec("tensorflow_datasets") is not None


def _tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _read_data_source(source) -> tuple[np.ndarray, np.ndarray]:
    examples = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(ex["image"], dtype=np.uint8) for ex in examples])
    labels = np.asarray([ex["label"] for ex in examples], dtype=np.int64)
    return images, labels


def load_tfds_split(
    spec: DatasetSpec, split: str, *, data_dir: str | None, verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Read one split through TFDS: images (N, H, W, C) uint8, labels int64."""
    if not tfds_available():
        raise DataError("TFDS: tensorflow-datasets is not installed (pip install "
                        "'jaxcnn[tfds]').")
    import tensorflow_datasets as tfds

    builder = tfds.builder(spec.name, data_dir=data_dir)
    where = f"TFDS {spec.name} in {builder.data_dir}"
    prepared = builder.is_prepared()
    try:
        if prepared and builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:
            images, labels = _read_data_source(builder.as_data_source(split=split))
        elif _tensorflow_available():
            ds = tfds.load(spec.name, split=split, data_dir=data_dir, batch_size=-1,
                           as_supervised=True)
            images, labels = (np.asarray(a) for a in tfds.as_numpy(ds))
            labels = labels.astype(np.int64)
        else:
            state = (f"is prepared as {builder.info.file_format.value}, which needs TensorFlow"
                     if prepared else "is not prepared (no array_record files)")
            raise DataError(f"{where}: {state}, and TensorFlow is not installed. {_FIX}")
    except DataError:
        raise
    except Exception as err:  # TFDS raises many unrelated types for bad or missing files.
        raise DataError(f"{where}: reading failed ({type(err).__name__}: {err}). {_FIX}") from err
    _check(where, spec, split, images, labels, verify=verify)
    return images, labels


def _check(where: str, spec: DatasetSpec, split: str, images: np.ndarray, labels: np.ndarray,
           *, verify: bool) -> None:
    if images.ndim != 4 or images.shape[1:] != spec.image_shape:
        raise DataError(f"{where}: wrong image size {images.shape[1:]}, expected "
                        f"{spec.image_shape}. {_FIX}")
    if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(f"{where}: labels out of range 0..{spec.num_classes - 1}. {_FIX}")
    expected = spec.split_sizes[split]
    if verify and len(labels) != expected:
        raise DataError(f"{where}: {len(labels)} examples in {split}, the published split has "
                        f"{expected} (pass verify=False to accept a partial copy). {_FIX}")
