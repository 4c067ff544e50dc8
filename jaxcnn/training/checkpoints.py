"""One orbax checkpoint per epoch, in ``<run>/checkpoints/<epoch>/``, for both frameworks.

A checkpoint holds two items: ``state``, a nested dict of numpy arrays (whatever a trainer
needs to resume exactly: weights, optimizer state, RNG state), and ``meta``, a small JSON dict
(epoch, global step, framework). Saves are synchronous and atomic (orbax writes a temporary
folder and renames it when complete), so a process killed mid-save leaves the previous epoch's
checkpoint as the latest complete one. Ctrl-C and SIGTERM wait until a save has finished
(:func:`jaxcnn.runtime.interrupts.deferred`); a full disk is a
:class:`jaxcnn.runtime.diskfull.DiskFull`.

``meta`` also records the SHA-256 of every array of ``state`` (:mod:`jaxcnn.training.digest`),
written in the same atomic step. A checkpoint whose files were damaged afterwards (unreadable,
or read with other bytes than were saved, or holding NaN/infinite values) is a
:class:`CheckpointError` when restored; :meth:`EpochCheckpoints.set_aside` moves it out of
``checkpoints/`` (see :mod:`jaxcnn.training.resume`).

orbax is imported and its manager built on first use, not at start-up: a new run's first
checkpoint is written after its first epoch.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import jax

from jaxcnn.runtime import interrupts
from jaxcnn.runtime.diskfull import writing
from jaxcnn.training import digest
from jaxcnn.training.protocol import NestedArrays

if TYPE_CHECKING:
    import orbax.checkpoint as ocp


class CheckpointError(ValueError):
    """A checkpoint that cannot be read whole or used; the message names its folder."""


class EpochCheckpoints:
    """The per-epoch checkpoints of one run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        self._opened: ocp.CheckpointManager | None = None

    @property
    def _manager(self) -> ocp.CheckpointManager:
        if self._opened is None:
            self._opened = _open_manager(self.directory)
        return self._opened

    def epochs(self) -> list[int]:
        """The epochs with a complete checkpoint, ascending."""
        if self._opened is None and not self.directory.exists():
            return []  # a new run: no need to load orbax yet
        self._manager.reload()  # another process (a killed run) may have written some
        return sorted(self._manager.all_steps())

    def latest_epoch(self) -> int | None:
        """The last epoch with a complete checkpoint, or ``None``."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    def save(self, epoch: int, state: NestedArrays, meta: dict) -> None:
        """Write epoch ``epoch``'s checkpoint and wait until it is complete on disk."""
        import orbax.checkpoint as ocp

        manager = self._manager  # creates the folder on a run's first save
        meta = {**meta, "epoch": epoch, DIGEST: digest.array_digests(state)}
        with interrupts.deferred(), writing(self.path(epoch), digest.total_bytes(state)):
            _hide_late_read_errors(self.directory)  # a failed write (a full disk) has them too
            manager.save(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
            manager.wait_until_finished()

    def path(self, epoch: int) -> Path:
        """The folder of epoch ``epoch``'s checkpoint."""
        return self.directory / str(epoch)

    def restore(self, epoch: int) -> tuple[NestedArrays, dict]:
        """The ``state`` arrays (numpy) and ``meta`` dict saved for ``epoch``;
        :class:`CheckpointError` naming the folder and the reason if it cannot be read whole."""
        import orbax.checkpoint as ocp

        _hide_late_read_errors(self.directory)
        try:
            with interrupts.deferred():
                restored = self._manager.restore(epoch, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
        except Exception as err:  # orbax and tensorstore raise many types for damaged files
            raise CheckpointError(f"{self.path(epoch)} cannot be read whole ({_reason(err)})"
                                  ) from err
        state, meta = restored["state"], dict(restored["meta"])
        recorded = meta.pop(DIGEST, None)  # None: written before digests were recorded
        if recorded is not None and (changed := digest.changed(state, recorded)):
            raise CheckpointError(
                f"{self.path(epoch)} does not hold the bytes it was saved with (SHA-256 "
                f"mismatch in {digest.summarize(changed)})")
        if bad := digest.nonfinite(state):
            raise CheckpointError(f"{self.path(epoch)} holds NaN or infinite values (in "
                                  f"{digest.summarize(bad)})")
        return state, meta

    def set_aside(self, epoch: int, folder: str) -> Path:
        """Move epoch ``epoch``'s checkpoint to ``<run>/<folder>/<epoch>`` (``-2``, ``-3``, ...
        appended if taken) and return where it went; nothing is deleted."""
        target = self.directory.parent / folder / str(epoch)
        suffix = 1
        while target.exists():
            suffix += 1
            target = target.with_name(f"{epoch}-{suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.path(epoch), target)
        self._manager.reload()
        return target

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()


def _open_manager(directory: Path) -> ocp.CheckpointManager:
    """orbax's manager of ``directory``: synchronous saves, every epoch kept. With several JAX
    processes (jaxcnn.runtime.distributed) only process 0 keeps the checkpoints: the state is
    gathered on every host as numpy arrays, and orbax's active_processes runs the manager on
    that one process, without waiting for the others at its barriers (it then leaves creating
    the folder to us)."""
    import orbax.checkpoint as ocp

    alone = {} if jax.process_count() == 1 else {
        "multiprocessing_options": ocp.options.MultiprocessingOptions(
            primary_host=jax.process_index(), active_processes={jax.process_index()})}
    if alone:
        directory.mkdir(parents=True, exist_ok=True)
    options = ocp.CheckpointManagerOptions(max_to_keep=None, create=not alone,
                                           enable_async_checkpointing=False, **alone)
    return ocp.CheckpointManager(directory, options=options)


DIGEST = "sha256"  # meta's key of the state's array digests


def _reason(err: Exception, limit: int = 300) -> str:
    """The first line of ``err``'s message with its type, without tensorstore's spec dump."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    lines = str(text).strip().splitlines()
    first = (lines[0] if lines else "").split(" [tensorstore_spec=")[0]
    return f"{type(err).__name__}: {first[:limit]}" + ("..." if len(first) > limit else "")


_RESTORED: set[str] = set()  # checkpoint folders whose late read errors are kept quiet


def _hide_late_read_errors(directory: Path) -> None:
    """Keep stderr clean around a failed restore or save of a checkpoint in ``directory``; the
    failure itself is reported (:class:`CheckpointError`,
    :class:`jaxcnn.runtime.diskfull.DiskFull`).
    When one read of a damaged checkpoint (or one write to a full disk) fails, tensorstore
    finishes the others after orbax has closed its asyncio loop: their callbacks print
    "unraisable" ``RuntimeError: Event loop is closed`` tracebacks, and their tasks' errors are
    logged as "Task exception was never retrieved" with a traceback."""
    _RESTORED.add(str(directory))
    if not getattr(sys.unraisablehook, "hides_late_read_errors", False):
        previous = sys.unraisablehook

        def hook(unraisable) -> None:
            if not (unraisable.exc_type is RuntimeError
                    and str(unraisable.exc_value) == "Event loop is closed"):
                previous(unraisable)

        hook.hides_late_read_errors = True
        sys.unraisablehook = hook
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _LateReadErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(_LateReadErrors())


class _LateReadErrors(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for reads of restored checkpoints."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("exception was never retrieved" in message
                    and any(directory in message for directory in _RESTORED))
