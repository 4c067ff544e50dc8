"""Reader for IDX files (MNIST, Fashion-MNIST), plain or gzipped."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from . import checksums
from .errors import DataError
from .specs import DatasetSpec, idx_file_names

_UBYTE = 0x08
_KIND = {3: "IDX3 unsigned-byte images", 1: "IDX1 unsigned-byte labels"}
_FIX = "Replace it with the published file (pass --data-dir / data_dir= to use another copy)."


def find_idx_file(directory: Path, file_name: str) -> Path | None:
    """``directory/file_name`` if present, else its ``.gz``, else ``None``."""
    for candidate in (directory / file_name, directory / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_split(directory: Path, split: str) -> bool:
    """Whether ``directory`` holds at least one IDX file of ``split``."""
    return any(find_idx_file(directory, f) is not None for f in idx_file_names(split))


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when its name ends in ``.gz``."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror}). {_FIX}") from err
    if not raw:
        raise DataError(f"{path}: empty file (0 bytes). {_FIX}")
    if path.suffix != ".gz":
        return raw
    try:
        content = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: bad gzip stream ({err}); the download is truncated or "
                        f"corrupt. {_FIX}") from err
    if not content:
        raise DataError(f"{path}: empty file (decompresses to 0 bytes). {_FIX}")
    return content


def parse_idx(path: Path, content: bytes, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file with ``ndim`` dimensions into a read-only array."""
    kind = _KIND[ndim]
    expected_magic = (_UBYTE << 8) | ndim
    if len(content) < 4:
        raise DataError(f"{path}: truncated: {len(content)} bytes, too short for an IDX header. "
                        f"{_FIX}")
    magic = int.from_bytes(content[:4], "big")
    if magic != expected_magic:
        hint = " (the content is gzip-compressed: name the file *.gz)" \
            if content[:2] == b"\x1f\x8b" else ""
        raise DataError(f"{path}: bad magic number 0x{magic:08x}, expected "
                        f"0x{expected_magic:08x} ({kind}){hint}. {_FIX}")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{path}: truncated inside the IDX header ({len(content)} bytes). {_FIX}")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    size = math.prod(dims)
    body = len(content) - header
    if body != size:
        what = "truncated" if body < size else "wrong size"
        raise DataError(f"{path}: {what}: the header promises {dims[0]} items of shape "
                        f"{tuple(dims[1:])} ({size} bytes) but the file holds {body} data bytes. "
                        f"{_FIX}")
    array = np.frombuffer(content, dtype=np.uint8, count=size, offset=header).reshape(dims)
    array.flags.writeable = False
    return array


def load_idx_split(
    directory: Path, spec: DatasetSpec, split: str, *, verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one split from ``directory``: images (N, H, W, 1) uint8, labels int64."""
    images_name, labels_name = idx_file_names(split)
    paths = []
    for file_name in (images_name, labels_name):
        path = find_idx_file(directory, file_name)
        if path is None:
            raise DataError(f"{directory / file_name}[.gz]: file missing (the folder has the "
                            f"other {spec.name} {split} file). {_FIX}")
        paths.append(path)
    images_path, labels_path = paths

    images_bytes = read_bytes(images_path)
    images = parse_idx(images_path, images_bytes, 3)
    height, width, _ = spec.image_shape
    if images.shape[1:] != (height, width):
        raise DataError(f"{images_path}: wrong image size {images.shape[1]}x{images.shape[2]}, "
                        f"{spec.name} images are {height}x{width}. {_FIX}")
    labels_bytes = read_bytes(labels_path)
    labels = parse_idx(labels_path, labels_bytes, 1)
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels but {images_path.name} has "
                        f"{images.shape[0]} images: the two files do not belong together. {_FIX}")
    if labels.size and int(labels.max()) >= spec.num_classes:
        bad = int(np.argmax(labels >= spec.num_classes))
        raise DataError(f"{labels_path}: label {int(labels[bad])} at index {bad} is out of range "
                        f"0..{spec.num_classes - 1}. {_FIX}")
    if verify:
        checksums.verify_idx(spec.name, images_name, images_path, images_bytes)
        checksums.verify_idx(spec.name, labels_name, labels_path, labels_bytes)
    return images[..., np.newaxis], labels.astype(np.int64)
