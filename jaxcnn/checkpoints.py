"""One orbax checkpoint per epoch, in ``<run>/checkpoints/<epoch>/``, for both frameworks.

A checkpoint holds two items: ``state``, a nested dict of numpy arrays (whatever a trainer
needs to resume exactly: weights, optimizer state, RNG state), and ``meta``, a small JSON dict
(epoch, global step, framework). Saves are synchronous and atomic (orbax writes a temporary
folder and renames it when complete), so a process killed mid-save leaves the previous epoch's
checkpoint as the latest complete one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

NestedArrays = dict[str, "np.ndarray | NestedArrays"]


class EpochCheckpoints:
    """The per-epoch checkpoints of one run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        options = ocp.CheckpointManagerOptions(max_to_keep=None, create=True,
                                               enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def epochs(self) -> list[int]:
        """The epochs with a complete checkpoint, ascending."""
        self._manager.reload()  # another process (a killed run) may have written some
        return sorted(self._manager.all_steps())

    def latest_epoch(self) -> int | None:
        """The last epoch with a complete checkpoint, or ``None``."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    def save(self, epoch: int, state: NestedArrays, meta: dict) -> None:
        """Write epoch ``epoch``'s checkpoint and wait until it is complete on disk."""
        self._manager.save(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({**meta, "epoch": epoch})))
        self._manager.wait_until_finished()

    def restore(self, epoch: int) -> tuple[NestedArrays, dict]:
        """The ``state`` arrays (numpy) and ``meta`` dict saved for ``epoch``."""
        restored = self._manager.restore(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
        return restored["state"], dict(restored["meta"])

    def close(self) -> None:
        self._manager.close()
