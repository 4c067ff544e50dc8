"""``load``: one entry point over the IDX, CIFAR and TFDS sources."""

from __future__ import annotations

import os

import numpy as np

from . import download as downloads
from . import locate
from .cifar import has_cifar_split, load_cifar_split
from .dataset import Dataset
from .errors import DataError
from .idx import has_idx_split, load_idx_split
from .specs import IDX_DATASETS, check_split, cifar_file_names, get_spec, idx_file_names
from .tfds_source import load_tfds_split, tfds_available

SOURCES = ("auto", "idx", "cifar", "tfds")


def load(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    verify: bool = True,
    download: bool | None = None,
    progress: bool = True,
) -> Dataset:
    """Load one split of ``mnist``, ``fashion_mnist`` or ``cifar10``, fully checked.

    ``source``: ``"idx"`` (MNIST / Fashion-MNIST files), ``"cifar"`` (CIFAR-10 python
    batches), ``"tfds"``, or ``"auto"``: the files, searched as ``jaxcnn.data.locate``
    documents, then TFDS when installed. Files found nowhere are downloaded first
    (``jaxcnn.data.download``, into ``data_dir``, ``$JAXCNN_DATA_DIR`` or ``~/.cache/jaxcnn``)
    when ``download`` is true or, by default, unless ``$JAXCNN_OFFLINE=1``; ``progress`` shows
    the download's bar. ``verify`` checks the files against the published checksums.
    Raises ``DataError`` for missing or bad data, ``ValueError`` for bad arguments.
    """
    spec = get_spec(name)
    check_split(split)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
    file_source = "idx" if name in IDX_DATASETS else "cifar"
    if source in ("idx", "cifar") and source != file_source:
        raise ValueError(f"source {source!r} cannot read {name}; valid sources for it: "
                         f"{file_source!r}, 'tfds', 'auto'")

    searched: list = []
    if source != "tfds":
        has_split = has_idx_split if file_source == "idx" else has_cifar_split
        directory, searched = locate.find_directory(spec, split, data_dir, has_split)
        if directory is None and downloads.enabled(download):
            base = downloads.default_base(data_dir)
            directory = downloads.fetch(spec, base, progress=progress)
        if directory is not None:
            if file_source == "idx":
                images, labels = load_idx_split(directory, spec, split, verify=verify)
            else:
                images, labels = load_cifar_split(directory, split, verify=verify)
            return _dataset(spec.name, split, spec.class_names, images, labels, str(directory))

    tfds_note = None
    if source == "tfds" or (source == "auto" and tfds_available()):
        tfds_dir = None if data_dir is None else os.fspath(data_dir)
        try:
            images, labels = load_tfds_split(spec, split, data_dir=tfds_dir, verify=verify)
            return _dataset(spec.name, split, spec.class_names, images, labels, "tfds")
        except DataError as err:
            if source == "tfds":
                raise
            tfds_note = str(err)
    elif source == "auto":
        tfds_note = "TFDS: tensorflow-datasets is not installed"
    files = idx_file_names(split) if file_source == "idx" else cifar_file_names(split)
    download_note = None if source == "tfds" else (
        f"download: off (--no-download / {downloads.OFFLINE_VAR}=1 / download=False)")
    raise DataError(locate.not_found_message(spec, split, ", ".join(files), searched, tfds_note,
                                             download_note))


def _dataset(name: str, split: str, class_names: tuple[str, ...], images: np.ndarray,
             labels: np.ndarray, source: str) -> Dataset:
    for array in (images, labels):
        array.flags.writeable = False
    return Dataset(images=images, labels=labels, class_names=class_names, name=name,
                   split=split, source=source)
