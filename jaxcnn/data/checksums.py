"""Pinned checksums of the published files, and the check that compares against them.

IDX files (MNIST, Fashion-MNIST): SHA-256 of the DECOMPRESSED bytes, so a copy that was
re-compressed (Debian's ``dataset-fashion-mnist`` re-gzips the files) or unpacked still checks.

* MNIST: computed from ``/work/shared/data/mnist/*.gz``, whose .gz MD5s are the canonical ones
  torchvision checks (f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...). The decompressed
  train-images MD5 (6bbc9ace898e44ae57da46a324031adb) and sizes (47,040,016 / 60,008 /
  7,840,016 / 10,008 bytes) agree with that folder's README and with public lists of the raw files.
* Fashion-MNIST: computed from Debian's ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1
  (``/usr/share/datasets/fashion-mnist/*.gz``). Debian's .gz MD5s differ from Zalando's
  published ones (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...) only because of the
  re-compression: the decompressed MD5s (f4a8712d..., 9018921c..., 8181f547..., 15d48437...)
  and these SHA-256 values match those that public projects record for the files unpacked from
  Zalando's archives, and the sizes are the IDX sizes for 60,000 / 10,000 28x28 images.

CIFAR-10 python batches: MD5 of each pickle file as torchvision's ``CIFAR10`` pins them
(``train_list``, ``test_list``, ``meta``); not re-derived here (no CIFAR-10 copy on this machine).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import DataError

IDX_SHA256: dict[tuple[str, str], str] = {
    ("mnist", "train-images-idx3-ubyte"):
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ("mnist", "train-labels-idx1-ubyte"):
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("mnist", "t10k-images-idx3-ubyte"):
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"):
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("fashion_mnist", "train-images-idx3-ubyte"):
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion_mnist", "train-labels-idx1-ubyte"):
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ("fashion_mnist", "t10k-images-idx3-ubyte"):
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion_mnist", "t10k-labels-idx1-ubyte"):
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

CIFAR10_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def verify_idx(name: str, file_name: str, path: Path, content: bytes) -> None:
    """Raise ``DataError`` unless the decompressed ``content`` is the published file."""
    digest = hashlib.sha256(content).hexdigest()
    expected = IDX_SHA256[(name, file_name)]
    if digest == expected:
        return
    other = [key for key, value in IDX_SHA256.items() if value == digest]
    hint = f" It is {other[0][0]}'s {other[0][1]}: wrong data set in this folder?" if other else ""
    raise DataError(
        f"{path}: checksum mismatch: SHA-256 of the decompressed content is {digest}, expected "
        f"{expected} for {name} {file_name}.{hint} Replace the file with the published one "
        "(or pass verify=False to load it anyway)."
    )


def verify_cifar(path: Path, content: bytes) -> None:
    """Raise ``DataError`` unless ``content`` is the published CIFAR-10 batch file."""
    digest = hashlib.md5(content, usedforsecurity=False).hexdigest()
    expected = CIFAR10_MD5[path.name]
    if digest != expected:
        raise DataError(
            f"{path}: checksum mismatch: MD5 is {digest}, expected {expected} for CIFAR-10 "
            f"{path.name}. Re-extract cifar-10-python.tar.gz (or pass verify=False to load it "
            "anyway)."
        )
