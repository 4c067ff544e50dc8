"""Broken IDX inputs: each gives a DataError naming the file and the problem."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_helpers import idx_bytes, mnist_dir, require_idx

from jaxcnn.data import DataError, load

RNG = np.random.default_rng(1)
IMAGES = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 9, 3, 3, 7], dtype=np.uint8)


def _write(directory, images=None, labels=None, *, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for name, content in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if content is not None:
            data = gzip.compress(content) if gz else content
            (directory / f"{name}{suffix}").write_bytes(data)
    return directory


def _fails(directory, file_name, message, **kwargs):
    with pytest.raises(DataError) as info:
        load("mnist", "test", data_dir=directory, source="idx", verify=False, **kwargs)
    text = str(info.value)
    assert str(directory / file_name) in text, text
    assert re.search(message, text), text


GOOD_IMAGES, GOOD_LABELS = idx_bytes(IMAGES), idx_bytes(LABELS)


def test_good_synthetic_files_load(tmp_path):
    for gz in (True, False):
        ds = load("mnist", "test", data_dir=_write(tmp_path / str(gz), GOOD_IMAGES, GOOD_LABELS,
                                                    gz=gz), verify=False)
        np.testing.assert_array_equal(ds.images[..., 0], IMAGES)
        np.testing.assert_array_equal(ds.labels, LABELS)


def test_truncated_file(tmp_path):
    _write(tmp_path, GOOD_IMAGES[:-100], GOOD_LABELS, gz=False)
    _fails(tmp_path, "t10k-images-idx3-ubyte",
           r"truncated: the header promises 5 items of shape \(28, 28\) \(3920 bytes\) but the "
           r"file holds 3820 data bytes")


def test_truncated_gzip_stream(tmp_path):
    _write(tmp_path, None, GOOD_LABELS)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(GOOD_IMAGES)[:-30])
    _fails(tmp_path, "t10k-images-idx3-ubyte.gz", r"bad gzip stream .*truncated or corrupt")


def test_not_gzip(tmp_path):
    _write(tmp_path, None, GOOD_LABELS)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(GOOD_IMAGES)  # raw bytes named .gz
    _fails(tmp_path, "t10k-images-idx3-ubyte.gz", r"bad gzip stream \(Not a gzipped file")


def test_gzip_content_without_gz_suffix(tmp_path):
    _write(tmp_path, gzip.compress(GOOD_IMAGES), GOOD_LABELS, gz=False)
    _fails(tmp_path, "t10k-images-idx3-ubyte", r"bad magic number 0x1f8b.*gzip-compressed")


def test_wrong_magic(tmp_path):
    _write(tmp_path, idx_bytes(IMAGES, magic=0x00000801), GOOD_LABELS)
    _fails(tmp_path, "t10k-images-idx3-ubyte.gz",
           r"bad magic number 0x00000801, expected 0x00000803 \(IDX3 unsigned-byte images\)")


def test_labels_and_images_swapped(tmp_path):
    _write(tmp_path, GOOD_LABELS, GOOD_IMAGES)
    _fails(tmp_path, "t10k-images-idx3-ubyte.gz", r"bad magic number 0x00000801, expected "
                                                  r"0x00000803")


def test_wrong_count_in_header(tmp_path):
    bad = bytearray(GOOD_LABELS)
    bad[4:8] = (7).to_bytes(4, "big")  # header says 7 labels, file holds 5
    _write(tmp_path, GOOD_IMAGES, bytes(bad))
    _fails(tmp_path, "t10k-labels-idx1-ubyte.gz", r"truncated: the header promises 7 items")


def test_extra_bytes(tmp_path):
    _write(tmp_path, GOOD_IMAGES, GOOD_LABELS + b"\0\0")
    _fails(tmp_path, "t10k-labels-idx1-ubyte.gz", r"wrong size: .* holds 7 data bytes")


def test_empty_file(tmp_path):
    _write(tmp_path, GOOD_IMAGES, None, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"")
    _fails(tmp_path, "t10k-labels-idx1-ubyte", r"empty file \(0 bytes\)")


def test_empty_gzip(tmp_path):
    _write(tmp_path, GOOD_IMAGES, b"")
    _fails(tmp_path, "t10k-labels-idx1-ubyte.gz", r"empty file \(decompresses to 0 bytes\)")


def test_wrong_image_size(tmp_path):
    _write(tmp_path, idx_bytes(np.zeros((5, 32, 32), np.uint8)), GOOD_LABELS)
    _fails(tmp_path, "t10k-images-idx3-ubyte.gz",
           r"wrong image size 32x32, mnist images are 28x28")


def test_label_out_of_range(tmp_path):
    _write(tmp_path, GOOD_IMAGES, idx_bytes(np.array([0, 1, 2, 10, 4], np.uint8)))
    _fails(tmp_path, "t10k-labels-idx1-ubyte.gz", r"label 10 at index 3 is out of range 0..9")


def test_count_mismatch_between_images_and_labels(tmp_path):
    _write(tmp_path, GOOD_IMAGES, idx_bytes(LABELS[:4]))
    _fails(tmp_path, "t10k-labels-idx1-ubyte.gz",
           r"4 labels but t10k-images-idx3-ubyte.gz has 5 images")


def test_missing_label_file(tmp_path):
    _write(tmp_path, GOOD_IMAGES, None)
    _fails(tmp_path, "t10k-labels-idx1-ubyte", r"file missing")


def test_directory_missing(tmp_path):
    with pytest.raises(DataError, match=rf"{re.escape(str(tmp_path / 'nope'))}: directory "
                                        r"missing"):
        load("mnist", "test", data_dir=tmp_path / "nope")


def test_nothing_found_lists_every_place_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXCNN_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "given").mkdir()
    (tmp_path / "env").mkdir()  # a missing one is an error of its own (test below)
    if any(Path("/usr/share/datasets/mnist").glob("*/*")):
        pytest.skip("this machine has MNIST in /usr/share/datasets/mnist")
    with pytest.raises(DataError) as info:
        load("mnist", "train", data_dir=tmp_path / "given", source="idx")
    text = str(info.value)
    assert text.startswith("No mnist train data found (train-images-idx3-ubyte, ")
    for place in [tmp_path / "given", tmp_path / "given" / "MNIST" / "raw",
                  tmp_path / "env", tmp_path / "data", tmp_path / "home" / ".cache" / "jaxcnn",
                  "/usr/share/datasets/mnist/MNIST/raw"]:
        assert f"  - {place}\n" in text, (place, text)
    for advice in ["--data-dir", "JAXCNN_DATA_DIR", "tensorflow-datasets"]:
        assert advice in text


def test_missing_data_dir_from_the_environment_is_an_error(tmp_path, monkeypatch):
    """$JAXCNN_DATA_DIR naming no folder was silently skipped (issue 21)."""
    monkeypatch.setenv("JAXCNN_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataError, match=r"typo: directory missing \(given as \$JAXCNN_DATA_DIR\)"
                       r"\. Check the path, or unset it"):
        load("mnist", "train", source="idx")


def test_checksum_mismatch_and_verify_false(tmp_path):
    real = require_idx(mnist_dir(), "MNIST")
    shutil.copy(real / "t10k-labels-idx1-ubyte.gz", tmp_path)
    content = bytearray(gzip.decompress((real / "t10k-images-idx3-ubyte.gz").read_bytes()))
    content[16 + 14 * 28 + 14] ^= 0xFF  # flip one pixel of the first image
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(bytes(content))
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "t10k-images-idx3-ubyte"))
                       + r": checksum mismatch: SHA-256 of the decompressed content is "
                         r"[0-9a-f]{64}, expected 0fa7898d.*verify=False"):
        load("mnist", "test", data_dir=tmp_path)
    ds = load("mnist", "test", data_dir=tmp_path, verify=False)
    assert len(ds) == 10_000 and ds.images[0, 14, 14, 0] == content[16 + 14 * 28 + 14]


def test_checksum_names_the_data_set_that_is_really_there(tmp_path):
    real = require_idx(mnist_dir(), "MNIST")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real / name, tmp_path)
    with pytest.raises(DataError, match=r"checksum mismatch.*It is mnist's "
                                        r"t10k-images-idx3-ubyte: wrong data set"):
        load("fashion_mnist", "test", data_dir=tmp_path)
