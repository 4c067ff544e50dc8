"""The framework-neutral seam between a training run and a framework's trainer.

:func:`jaxcnn.training.run.run_training` drives any :class:`Trainer`: jaxcnn's
:class:`~jaxcnn.training.trainer.JaxTrainer` and ``torch_ref.train.TorchTrainer``. This module and
the types it defines import neither JAX nor torch, so both frameworks' trainers can use them.
"""

from __future__ import annotations

import os
import sys
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


_startup: list[float] = []  # seconds from this process's start to its first training step


def process_age() -> float:
    """Seconds since this process started.

    On Linux from the kernel's start time in clock ticks since boot against the boot-time clock
    (10 ms resolution): ``psutil``'s creation time there adds the boot time, which the kernel
    reports in whole seconds, and so overstates every age by the same 0-1 s on a given boot.
    Elsewhere from ``psutil``'s creation time."""
    if sys.platform.startswith("linux"):
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # field 3 (state) onwards
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    return time.time() - psutil.Process().create_time()


def mark_first_step() -> None:
    """Note that this process dispatches its first training step now; later calls do nothing.
    The trainers call it (JAX: once the first compiled step call returned, compilation
    included; PyTorch: before the first step's forward)."""
    if not _startup:
        _startup.append(process_age())


def startup_seconds() -> float | None:
    """Seconds from this process's start to its first training step (:func:`mark_first_step`);
    None before that step."""
    return _startup[0] if _startup else None


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

