"""The PyTorch half of a step-parity check: tensors from the shared numpy batches, one step.

Losses and optimisers are the PyTorch training engine's (``torch_ref.train.LOSSES`` and
``torch_ref.train.make_optimizer``), the calls that :mod:`jaxcnn.training.losses` and
:mod:`jaxcnn.training.optim` mirror.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def torch_dtype(float64: bool) -> torch.dtype:
    return torch.float64 if float64 else torch.float32


def to_nchw(images: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """NHWC numpy images as a contiguous NCHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dtype)


def to_labels(labels: np.ndarray) -> torch.Tensor:
    """Integer labels as an int64 tensor (what the losses take)."""
    return torch.from_numpy(np.array(labels, np.int64))  # a writable copy


def torch_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
               images: torch.Tensor, labels: torch.Tensor) -> float:
    """One optimiser step in train mode; returns the batch-mean loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
