"""Reader for CIFAR-10's python batches that never runs code from the pickle."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from . import checksums
from .errors import DataError
from .specs import SPECS, cifar_file_names

_SPEC = SPECS["cifar10"]
# numpy's own array-rebuilding function (numpy.core or numpy._core, depending on version).
_reconstruct = np.empty(0).__reduce__()[0]
_FIX = "Re-extract cifar-10-python.tar.gz (pass --data-dir / data_dir= to use another copy)."
# The only globals the batches need: numpy arrays pickled by numpy 1.x (``numpy.core``, as in
# the published files) or numpy 2.x (``numpy._core``). Everything else is refused.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _Refused(pickle.UnpicklingError):
    pass


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"global {module}.{name} is not allowed") from None


def unpickle(path: Path, content: bytes) -> dict:
    """Load a CIFAR pickle (a dict) with only numpy arrays allowed as globals."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(content), encoding="bytes").load()
    except _Refused as err:
        raise DataError(f"{path}: refused to unpickle: {err} (CIFAR-10 batches hold only "
                        f"bytes, lists and numpy arrays; nothing was executed). {_FIX}") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError) as err:
        raise DataError(f"{path}: truncated or corrupt pickle ({type(err).__name__}: {err}). "
                        f"{_FIX}") from err
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}. {_FIX}")
    return obj


def _read(path: Path, *, verify: bool) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: file missing (CIFAR-10 needs data_batch_1..5, test_batch and "
                        f"batches.meta). {_FIX}")
    content = path.read_bytes()
    if not content:
        raise DataError(f"{path}: empty file (0 bytes). {_FIX}")
    batch = unpickle(path, content)
    if verify:
        checksums.verify_cifar(path, content)
    return batch


def _images_and_labels(path: Path, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path}: not a CIFAR-10 batch (needs b'data' as a numpy array and "
                        f"b'labels'). {_FIX}")
    height, width, channels = _SPEC.image_shape
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != channels * height * width:
        raise DataError(f"{path}: wrong image data: {data.dtype} {data.shape}, expected uint8 "
                        f"(N, {channels * height * width}) = 32x32 RGB planes. {_FIX}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise DataError(f"{path}: b'labels' is not a list of integers ({err}). {_FIX}") from err
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {labels.size} labels for {data.shape[0]} images. {_FIX}")
    out_of_range = (labels < 0) | (labels >= _SPEC.num_classes)
    if out_of_range.any():
        bad = int(np.argmax(out_of_range))
        raise DataError(f"{path}: label {int(labels[bad])} at index {bad} is out of range "
                        f"0..{_SPEC.num_classes - 1}. {_FIX}")
    # Each row is the R plane, then G, then B, each row-major 32x32: go to (N, H, W, C).
    images = data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    return images, labels


def has_cifar_split(directory: Path, split: str) -> bool:
    """Whether ``directory`` holds at least one CIFAR-10 batch of ``split``."""
    return any((directory / f).is_file() for f in cifar_file_names(split))


def load_cifar_split(directory: Path, split: str, *, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one split: images (N, 32, 32, 3) uint8, labels int64."""
    meta_path = directory / "batches.meta"
    names = _read(meta_path, verify=verify).get(b"label_names")
    decoded = tuple(n.decode(errors="replace") if isinstance(n, bytes) else n
                    for n in names) if isinstance(names, list | tuple) else names
    if decoded != _SPEC.class_names:
        raise DataError(f"{meta_path}: label_names {decoded!r} are not CIFAR-10's "
                        f"{_SPEC.class_names!r}: wrong data set in this folder? {_FIX}")
    parts = [_images_and_labels(p, _read(p, verify=verify))
             for p in (directory / f for f in cifar_file_names(split))]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    return images, labels
