"""A full disk (``ENOSPC``) at a write, as one error naming the file and the space needed.

:func:`writing` wraps one write: whatever the library raises for a full disk (an ``OSError``
with ``ENOSPC`` or ``EDQUOT``, safetensors' ``SafetensorError``, tensorstore's
``RESOURCE_EXHAUSTED``) becomes :class:`DiskFull`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

_FULL = (errno.ENOSPC, errno.EDQUOT)
_MESSAGES = ("No space left on device", "Disk quota exceeded", "RESOURCE_EXHAUSTED")


class DiskFull(OSError):
    """No space left for a file; the message names it, the free space and the space needed."""

    def __init__(self, path: Path, needed: int | None = None):
        free = free_bytes(path)
        need = f", about {_size(needed)} needed" if needed else ""
        super().__init__(errno.ENOSPC, f"no space left on the device for {path} "
                                       f"({_size(free)} free{need}); free some space there")
        self.path = path

    def __str__(self) -> str:
        return self.strerror


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) reports a full disk."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL:
            return True
        if any(message in str(err) for message in _MESSAGES):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def writing(path: Path, needed: int | None = None) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into :class:`DiskFull`; the tracebacks orbax's
    writer threads log for it (on the ``absl`` logger) are dropped, the error being raised."""
    quiet = _DiskFullRecords()
    logging.getLogger("absl").addFilter(quiet)
    try:
        yield
    except DiskFull:
        raise
    except Exception as err:
        if is_disk_full(err):
            raise DiskFull(path, needed) from None
        raise
    finally:
        logging.getLogger("absl").removeFilter(quiet)


class _DiskFullRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(message in record.getMessage() for message in _MESSAGES)


def free_bytes(path: Path) -> int:
    """Free bytes on the file system of ``path`` (its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
