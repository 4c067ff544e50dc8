"""CIFAR-10 python batches: the real file format, read back; hostile pickles refused."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from data_helpers import CIFAR_NAMES, write_cifar, write_py2_pickle

from jaxcnn.data import DataError, load

FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture()
def cifar_dir(tmp_path):
    rng = np.random.default_rng(0)
    images = {f: rng.integers(0, 256, (4 + i, 32, 32, 3), dtype=np.uint8)
              for i, f in enumerate(FILES)}
    labels = {f: [int(x) for x in rng.integers(0, 10, len(images[f]))] for f in FILES}
    # torchvision's layout: <root>/cifar-10-batches-py
    write_cifar(tmp_path / "cifar-10-batches-py", images, labels)
    return tmp_path, images, labels


def test_written_files_use_the_published_pickle_form(cifar_dir):
    root, _, _ = cifar_dir
    raw = (root / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and b"_codecs" not in raw
    batch = pickle.loads(raw, encoding="bytes")  # what torchvision does, unrestricted
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (4, 3072)


def test_read_back_shapes_channels_and_labels(cifar_dir):
    root, images, labels = cifar_dir
    train = load("cifar10", "train", data_dir=root, source="cifar", verify=False)
    assert train.source == str(root / "cifar-10-batches-py")
    assert train.images.shape == (4 + 5 + 6 + 7 + 8, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.images, np.concatenate([images[f] for f in FILES[:5]]))
    np.testing.assert_array_equal(train.labels, sum((labels[f] for f in FILES[:5]), []))
    assert train.class_names == CIFAR_NAMES
    test = load("cifar10", "test", data_dir=root, verify=False)  # auto finds the same folder
    np.testing.assert_array_equal(test.images, images["test_batch"])
    np.testing.assert_array_equal(test.labels, labels["test_batch"])


def test_channel_order_is_r_then_g_then_b_planes(tmp_path):
    # Row = 1024 R values, 1024 G, 1024 B; pixel (y, x) of a plane at index 32*y + x.
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)])
    row[32 * 1 + 2] = 99  # R of pixel (1, 2)
    row[1024 + 32 * 5 + 7] = 77  # G of pixel (5, 7)
    directory = tmp_path / "flat"
    write_cifar(directory, {"test_batch": np.zeros((1, 32, 32, 3), np.uint8)}, {"test_batch": [3]})
    batch = pickle.loads((directory / "test_batch").read_bytes(), encoding="bytes")
    batch[b"data"] = row.astype(np.uint8)[None]
    write_py2_pickle(directory / "test_batch", batch)
    image = load("cifar10", "test", data_dir=directory, verify=False).images[0]
    assert tuple(image[0, 0]) == (10, 20, 30)
    assert tuple(image[1, 2]) == (99, 20, 30)
    assert tuple(image[5, 7]) == (10, 77, 30)


def test_checksum_applies_to_cifar_batches(cifar_dir):
    root, _, _ = cifar_dir
    with pytest.raises(DataError, match=r"batches.meta: checksum mismatch: MD5 is .* expected "
                                        r"5ff9c542aee3614f3951f8cda6e48888"):
        load("cifar10", "test", data_dir=root)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["test_batch", "batches.meta"])
def test_pickle_with_a_disallowed_global_is_refused(cifar_dir, tmp_path, where):
    root, _, _ = cifar_dir
    marker = tmp_path / "pwned"
    path = root / "cifar-10-batches-py" / where
    path.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": []}, protocol=4))
    assert b"system" in path.read_bytes()
    with pytest.raises(DataError, match=rf"{where}: refused to unpickle: global "
                                        r"(posix|os)\.system is not allowed"):
        load("cifar10", "test", data_dir=root, verify=False)
    assert not marker.exists()


def test_numpy_globals_beyond_the_allowed_three_are_refused(cifar_dir):
    root, _, _ = cifar_dir
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]},
                                  protocol=5))  # protocol 5 uses numpy._core.numeric._frombuffer
    with pytest.raises(DataError, match=r"global numpy\._core\.numeric\._frombuffer is not "
                                        r"allowed"):
        load("cifar10", "test", data_dir=root, verify=False)


def test_bad_cifar_batches(cifar_dir):
    root, _, _ = cifar_dir
    path = root / "cifar-10-batches-py" / "test_batch"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"test_batch: truncated or corrupt pickle"):
        load("cifar10", "test", data_dir=root, verify=False)
    write_py2_pickle(path, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(DataError, match=r"test_batch: label 10 at index 1 is out of range 0..9"):
        load("cifar10", "test", data_dir=root, verify=False)
    write_py2_pickle(path, {b"data": np.zeros((2, 28 * 28), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"test_batch: wrong image data: uint8 \(2, 784\)"):
        load("cifar10", "test", data_dir=root, verify=False)
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(DataError, match=r"batches.meta: file missing"):
        load("cifar10", "test", data_dir=root, verify=False)
