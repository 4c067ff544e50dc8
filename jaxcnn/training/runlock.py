"""One writer per run directory: an exclusive OS lock held for as long as a process writes it.

``RunLock(run_dir)`` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<run>/.jaxcnn-lock`` and
writes its holder's PID and command into that file. A second process that asks for the lock gets
:class:`RunDirectoryBusy`, whose message names the holder. The kernel releases the lock when
its process ends in any way (SIGKILL included), so a lock never needs cleaning up by hand; the
file itself stays in the directory and is ignored by everything that reads a run.

:func:`claim_new` locks the directory of a new run, which must be missing or empty (so that
nothing a user keeps there is overwritten); :func:`claim_existing` locks a run's own directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from pathlib import Path

LOCK_FILE = ".jaxcnn-lock"


class RunDirectoryError(RuntimeError):
    """A run directory that cannot be used now; the message names it and what to do."""


class RunDirectoryBusy(RunDirectoryError):
    """Another process holds the run directory's lock; the message names it."""


class RunLock:
    """The exclusive lock of one run directory (a context manager).

    ``create=True`` makes the directory (and its parents) first; :meth:`release` with
    ``remove_if_unused=True`` removes a directory it made if nothing but the lock was written.
    Raises :class:`RunDirectoryBusy` if another process holds the lock, ``OSError`` if the
    directory cannot be made or written.
    """

    def __init__(self, run_dir: str | os.PathLike, *, create: bool = False):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.created = create and not self.run_dir.exists()
        if create:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(self._fd)
            os.close(self._fd)
            self._fd = None
            raise RunDirectoryBusy(
                f"{self.run_dir} is in use by another process ({holder}); one process at a time "
                "writes a run directory: wait for that one to end (or stop it), then try again"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps({"pid": os.getpid(),
                                        "command": shlex.join(sys.argv)}).encode() + b"\n", 0)

    def release(self, *, remove_if_unused: bool = False) -> None:
        """Give the lock up (idempotent); see the class docstring for ``remove_if_unused``."""
        if self._fd is None:
            return
        unused = (remove_if_unused and self.created
                  and [p.name for p in self.run_dir.iterdir()] == [LOCK_FILE])
        if unused:
            self.path.unlink()
        else:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None
        if unused:
            self.run_dir.rmdir()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _holder(fd: int) -> str:
    """The PID and command recorded by the lock's holder, in words."""
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "its PID not recorded yet"
    return f"PID {info['pid']}: {info.get('command', '?')}"


def occupants(directory: Path) -> list[str]:
    """The names of what ``directory`` holds besides a run lock (none if it is missing)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name != LOCK_FILE)


def _refuse_occupied(run_dir: Path, marker: str) -> None:
    if (run_dir / marker).exists():
        raise RunDirectoryError(f"{run_dir} already holds a run; continue it with --resume "
                                f"{run_dir} or choose another --out")
    if found := occupants(run_dir):
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise RunDirectoryError(
            f"--out {run_dir} is not empty (it holds {shown}); a new run writes only into a "
            "missing or empty directory, so that nothing there is overwritten: choose another "
            "--out")


def claim_new(run_dir: Path, marker: str) -> RunLock:
    """The lock of a new run's directory, made if missing. :class:`RunDirectoryError` if it is
    a file, holds anything (a run: ``marker`` is there) or cannot be made or written, or if
    another process holds it."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(f"--out {run_dir} is a file, not a directory; choose another "
                                "--out")
    _refuse_occupied(run_dir, marker)
    lock = _lock(run_dir, create=True)
    try:
        _refuse_occupied(run_dir, marker)  # another process may have written there meanwhile
    except RunDirectoryError:
        lock.release()
        raise
    return lock


def claim_existing(run_dir: Path) -> RunLock:
    """The lock of an existing run's directory (see :func:`claim_new` for the errors)."""
    return _lock(run_dir, create=False)


def _lock(run_dir: Path, *, create: bool) -> RunLock:
    try:
        return RunLock(run_dir, create=create)
    except OSError as err:
        raise RunDirectoryError(
            f"{run_dir} cannot be used as a run directory: {err.strerror or err} "
            f"({err.filename or run_dir}); choose a directory you can write (--out)") from None
