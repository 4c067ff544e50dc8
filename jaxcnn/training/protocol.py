"""The framework-neutral seam between a training run and a framework's trainer.

:func:`jaxcnn.training.run.run_training` drives any :class:`Trainer`: jaxcnn's
:class:`~jaxcnn.training.trainer.JaxTrainer` and ``torch_ref.train.TorchTrainer``. This module and
the types it defines import neither JAX nor torch, so both frameworks' trainers can use them.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

Split = tuple[np.ndarray, np.ndarray]  # preprocessed float32 NHWC images, int64 labels
NestedArrays = dict[str, "np.ndarray | NestedArrays"]  # a training state as a checkpoint holds it


class EpochMetrics(NamedTuple):
    loss: float  # mean per-example training loss
    accuracy: float  # fraction of training examples classified correctly (in train mode)
    examples: int


class Evaluation(NamedTuple):
    loss: float  # mean per-example loss, eval mode
    accuracy: float  # fraction correct
    outputs: np.ndarray  # (N, num_classes) eval-mode model outputs


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

