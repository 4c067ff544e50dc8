"""Helpers for the data tests: where the real data is, and writers for test data sets.

Real data: MNIST in ``<repo>/../shared/data/mnist`` (or ``$JAXCNN_MNIST_DIR``), Fashion-MNIST
in ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``, or
``$JAXCNN_FASHION_MNIST_DIR``). Tests skip when it is absent, unless ``JAXCNN_REQUIRE_DATA=1``
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def mnist_dir() -> Path:
    return Path(os.environ.get("JAXCNN_MNIST_DIR")
                or REPO_ROOT / ".." / "shared" / "data" / "mnist").resolve()


def fashion_dir() -> Path:
    return Path(os.environ.get("JAXCNN_FASHION_MNIST_DIR")
                or "/usr/share/datasets/fashion-mnist")


def require_idx(directory: Path, what: str) -> Path:
    """``directory`` if it holds the four IDX .gz files; else skip (fail under CI's flag)."""
    missing = [f for f in IDX_FILES if not (directory / f"{f}.gz").is_file()]
    if missing:
        reason = f"real {what} data not found in {directory} (missing {', '.join(missing)}.gz)"
        if os.environ.get("JAXCNN_REQUIRE_DATA") == "1":
            pytest.fail(f"{reason}; JAXCNN_REQUIRE_DATA=1 requires it")
        pytest.skip(reason)
    return directory


def gunzip_into(source: Path, target: Path) -> Path:
    """Decompress the four IDX files of ``source`` into ``target`` (created)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        with gzip.open(source / f"{name}.gz", "rb") as src, open(target / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An unsigned-byte IDX file holding ``array`` (optionally with a forced magic number)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


class Py2StylePickler(pickle._Pickler):
    """Pickles like the published CIFAR-10 batches (Python 2 cPickle, numpy 1.x): bytes as
    Python 2 ``str`` opcodes and numpy's array rebuilder as ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None) -> None:
        module = getattr(obj, "__module__", None)
        if module in ("numpy._core.multiarray", "numpy.core.multiarray"):
            self.write(pickle.GLOBAL + f"numpy.core.multiarray\n{obj.__name__}\n".encode())
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def write_py2_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        Py2StylePickler(f, protocol=2).dump(obj)


CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")


def write_cifar(directory: Path, images_by_file: dict[str, np.ndarray],
                labels_by_file: dict[str, list[int]]) -> Path:
    """Write CIFAR-10 python batches: ``images_by_file`` holds (N, 32, 32, 3) uint8 arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    write_py2_pickle(directory / "batches.meta", {
        b"label_names": [n.encode() for n in CIFAR_NAMES],
        b"num_cases_per_batch": 10000, b"num_vis": 3072})
    for file_name, images in images_by_file.items():
        n = len(images)
        # Each row: the 1024 R values, then G, then B, each plane row-major.
        data = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(n, 3072)
        write_py2_pickle(directory / file_name, {
            b"batch_label": f"{file_name} (test copy)".encode(),
            b"labels": list(labels_by_file[file_name]),
            b"data": data,
            b"filenames": [f"image_{i}.png".encode() for i in range(n)]})
    return directory


def prepare_tfds(data_dir: Path, name: str, splits: dict[str, list[dict]]) -> None:
    """Prepare ``name`` in TFDS's array_record format under ``data_dir`` from given examples,
    with TFDS's own writer and the official builder's features and version. No network and no
    TensorFlow: images are given as PIL images, which TFDS encodes with PIL."""
    import tensorflow_datasets as tfds

    official = tfds.builder(name, data_dir=os.fspath(data_dir))
    dataset_name = name

    class Writer(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = dataset_name
        VERSION = official.version
        code_path = None  # defined in a test module: no checksums file to look up

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=official.info.features,
                                         supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {split: self._generate_examples(ex) for split, ex in splits.items()}

        def _generate_examples(self, examples):
            yield from enumerate(examples)

    Writer(data_dir=os.fspath(data_dir), file_format="array_record").download_and_prepare()
