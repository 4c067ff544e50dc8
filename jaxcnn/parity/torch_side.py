"""The PyTorch half of a parity run: losses, optimisers, one step and predictions.

Each loss and optimiser is the ``torch`` call that :mod:`jaxcnn.losses` and :mod:`jaxcnn.optim`
mirror: ``nll`` is ``F.nll_loss``, ``cross_entropy`` is ``F.cross_entropy``, ``log_nll`` is
``F.nll_loss(log(clamp(p, tiny)))``; ``sgd`` is ``torch.optim.SGD(lr, momentum)``, ``adam`` is
``torch.optim.Adam(lr)`` with its default betas (0.9, 0.999) and eps 1e-8.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _log_nll(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(torch.log(output.clamp_min(torch.finfo(output.dtype).tiny)), labels)


TORCH_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "nll": F.nll_loss,
    "cross_entropy": F.cross_entropy,
    "log_nll": _log_nll,
}


def torch_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The batch-mean PyTorch loss called ``name`` (as :func:`jaxcnn.losses.get_loss`)."""
    if name not in TORCH_LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(TORCH_LOSSES)}")
    return TORCH_LOSSES[name]


def torch_optimizer(name: str, params, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser that :func:`jaxcnn.optim.make_optimizer` mirrors."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd or adam")


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


@torch.no_grad()
def torch_predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Eval-mode outputs (N, num_classes) as a numpy array."""
    model.eval()
    outs = [model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return torch.cat(outs).numpy()


def torch_dtype(float64: bool) -> torch.dtype:
    return torch.float64 if float64 else torch.float32
