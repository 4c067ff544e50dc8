"""The framework-neutral seam between a training run and a framework's trainer.

:func:`jaxcnn.training.run.run_training` drives any :class:`Trainer`: jaxcnn's
:class:`~jaxcnn.training.trainer.JaxTrainer` and ``torch_ref.train.TorchTrainer``. This module and
the types it defines import neither JAX nor torch, so both frameworks' trainers can use them.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol

import numpy as np
import psutil

Split = tuple[np.ndarray, np.ndarray]  # preprocessed float32 NHWC images, int64 labels
NestedArrays = dict[str, "np.ndarray | NestedArrays"]  # a training state as a checkpoint holds it
EVAL_BATCH = 1000  # images per evaluation batch, both frameworks


class EpochMetrics(NamedTuple):
    loss: float  # mean per-example training loss
    accuracy: float  # fraction of training examples classified correctly (in train mode)
    examples: int


class Evaluation(NamedTuple):
    loss: float  # mean per-example loss, eval mode
    accuracy: float  # fraction correct
    outputs: np.ndarray  # (N, num_classes) eval-mode model outputs


_first_step_at: list[float] = []  # wall-clock time of this process's first training step


def mark_first_step() -> None:
    """Note that this process dispatches its first training step now; later calls do nothing.
    The trainers call it (JAX: once the first compiled step call returned, compilation
    included; PyTorch: before the first step's forward)."""
    if not _first_step_at:
        _first_step_at.append(time.time())


def startup_seconds() -> float | None:
    """Seconds from this process's start (its creation time, as the OS reports it) to its first
    training step (:func:`mark_first_step`); None before that step."""
    if not _first_step_at:
        return None
    return _first_step_at[0] - psutil.Process().create_time()


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class Trainer(Protocol):
    """What :func:`jaxcnn.training.run.run_training` needs from a framework."""

    framework: str

    @property
    def global_step(self) -> int: ...

    def train_epoch(self, batches: list[np.ndarray], *, epoch: int,
                    progress: bool) -> EpochMetrics: ...

    def evaluate(self) -> Evaluation: ...

    def checkpoint_state(self) -> NestedArrays: ...

    def load_checkpoint_state(self, state: NestedArrays) -> None: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

