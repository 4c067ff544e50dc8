"""Which checkpoint a resumed run continues from, and where the others go.

By default a run continues from its newest checkpoint that can be read whole. One that cannot
(damaged or missing files) is reported by path with the reason and moved, never deleted, to
``<run>/checkpoints.damaged/<epoch>/``; the next older one is tried. ``resume_from=EPOCH`` picks
one explicitly (0: the initial weights); the checkpoints after it move to
``<run>/checkpoints.superseded/<epoch>/``, since the epochs trained again write new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from jaxcnn.training.checkpoints import CheckpointError, EpochCheckpoints, NestedArrays

DAMAGED = "checkpoints.damaged"
SUPERSEDED = "checkpoints.superseded"


class Start(NamedTuple):
    """Where a run continues: after ``epoch`` (0: from the initial weights)."""

    epoch: int
    state: NestedArrays | None = None  # the checkpoint's training state
    meta: dict | None = None  # the checkpoint's meta (global step, framework)


def choose_start(checkpoints: EpochCheckpoints, *, resume_from: int | None = None,
                 log: Callable[[str], None] = print) -> Start:
    """The checkpoint to continue from, read whole (see the module docstring).

    Raises :class:`CheckpointError` if ``resume_from`` names no checkpoint or a damaged one, or
    if every checkpoint is damaged; damaged ones are moved aside first, and ``log`` says where.
    """
    epochs = checkpoints.epochs()
    if resume_from is None:
        for epoch in reversed(epochs):
            start = _read(checkpoints, epoch, log)
            if start is not None:
                return start
        if epochs:
            raise CheckpointError(
                f"no checkpoint in {checkpoints.directory} can be read whole (all moved to "
                f"{checkpoints.directory.parent / DAMAGED}); to train the run again from the "
                "start, add --resume-from 0")
        return Start(0)
    if resume_from and resume_from not in epochs:
        raise CheckpointError(
            f"--resume-from {resume_from}: {checkpoints.directory} holds no checkpoint of epoch "
            f"{resume_from} (epochs with one: {', '.join(map(str, epochs)) or 'none'}; 0 starts "
            "from the initial weights)")
    if resume_from:
        start = _read(checkpoints, resume_from, log)
    else:
        start = Start(0)
        log("--resume-from 0: training again from the initial weights")
    if start is None:
        raise CheckpointError(
            f"--resume-from {resume_from}: that checkpoint is damaged (moved aside); choose "
            f"another epoch (with one: {', '.join(map(str, checkpoints.epochs())) or 'none'}; "
            "0 starts from the initial weights)")
    for epoch in (e for e in epochs if e > resume_from):
        log(f"{checkpoints.path(epoch)} comes after --resume-from {resume_from}: moved to "
            f"{checkpoints.set_aside(epoch, SUPERSEDED)}")
    return start


def _read(checkpoints: EpochCheckpoints, epoch: int, log: Callable[[str], None]) -> Start | None:
    """Epoch ``epoch``'s checkpoint, or ``None`` (reported and moved aside) if damaged."""
    try:
        state, meta = checkpoints.restore(epoch)
    except CheckpointError as err:
        log(f"warning: {err}; moved to {checkpoints.set_aside(epoch, DAMAGED)}")
        return None
    return Start(epoch, state, meta)
