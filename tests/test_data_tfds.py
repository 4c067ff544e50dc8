"""The TFDS source, exercised without network or TensorFlow.

The test prepares a real TFDS data directory (array_record files written by TFDS's own writer,
with the official builder's features and version) from a slice of the real MNIST files, then
reads it back through ``tfds.data_source`` as ``jaxcnn.data.load(..., source="tfds")`` does.
"""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import mnist_dir, prepare_tfds, require_idx

from jaxcnn.data import DataError, load

tfds = pytest.importorskip("tensorflow_datasets")
PIL_Image = pytest.importorskip("PIL.Image")


def _sorted(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # TFDS stores examples in its own shuffled order: compare as sets of (image, label).
    keys = [img.tobytes() + bytes([lab]) for img, lab in zip(images, labels, strict=True)]
    order = np.argsort(np.array(keys, dtype=object))
    return images[order], labels[order]


@pytest.fixture(scope="module")
def tfds_mnist(tmp_path_factory):
    real = {s: load("mnist", s, data_dir=require_idx(mnist_dir(), "MNIST")) for s in
            ("train", "test")}
    counts = {"train": 300, "test": 120}
    data_dir = tmp_path_factory.mktemp("tfds")
    prepare_tfds(data_dir, "mnist", {
        split: [{"image": PIL_Image.fromarray(real[split].images[i, :, :, 0], mode="L"),
                 "label": int(real[split].labels[i])} for i in range(n)]
        for split, n in counts.items()})
    return data_dir, real, counts


@pytest.mark.parametrize("split", ["train", "test"])
def test_tfds_prepared_dir_gives_the_same_examples(tfds_mnist, split):
    data_dir, real, counts = tfds_mnist
    ds = load("mnist", split, data_dir=data_dir, source="tfds", verify=False)
    assert ds.source == "tfds" and ds.name == "mnist" and ds.split == split
    assert ds.images.shape == (counts[split], 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert ds.class_names == tuple("0123456789")
    got = _sorted(ds.images, ds.labels)
    want = _sorted(real[split].images[:counts[split]], real[split].labels[:counts[split]])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_tfds_verify_rejects_a_partial_split(tfds_mnist):
    data_dir, _, _ = tfds_mnist
    with pytest.raises(DataError, match=r"TFDS mnist in .*: 300 examples in train, the "
                                        r"published split has 60000"):
        load("mnist", "train", data_dir=data_dir, source="tfds")


def test_auto_falls_back_to_tfds(tfds_mnist, tmp_path, monkeypatch):
    data_dir, _, counts = tfds_mnist
    monkeypatch.delenv("JAXCNN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ds = load("mnist", "test", data_dir=data_dir, verify=False)
    assert ds.source == "tfds" and len(ds) == counts["test"]


def test_tfds_unprepared_without_tensorflow_says_what_to_do(tmp_path):
    pytest.importorskip("array_record")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorFlow is installed: TFDS would download")
    with pytest.raises(DataError, match=r"TFDS cifar10 in .*is not prepared.*TensorFlow is not "
                                        r"installed.*pip install tensorflow"):
        load("cifar10", "test", data_dir=tmp_path, source="tfds")
