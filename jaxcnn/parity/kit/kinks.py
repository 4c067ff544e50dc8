"""Samples where a model is not differentiable with a margin: a ReLU input near 0, or a 2×2
max-pool window whose two largest inputs nearly tie. There a float32 rounding difference can put
the two frameworks on different sides of the kink, and their gradients legitimately differ.

Margins are measured in float64 on a copy of the PyTorch model: every pairable layer's output
(every ReLU here follows a conv, linear or norm layer, directly or through a pool) must be more
than ``tol`` from 0, and every max-pool window's two largest inputs more than ``tol`` apart
unless exactly equal (a structural tie, which both frameworks break alike: the first element).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from jaxcnn.parity.kit.capture import torch_layers

KINK_TOL = 1e-6


class _MaxPoolGaps(torch.overrides.TorchFunctionMode):
    """Per sample, the smallest non-zero gap between the two largest inputs of any window of
    the non-overlapping 2-D ``max_pool2d`` calls it sees."""

    def __init__(self):
        super().__init__()
        self.smallest: list[np.ndarray] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if "max_pool2d" in getattr(func, "__name__", ""):
            x = args[0].detach()
            k = args[1] if len(args) > 1 else (kwargs or {}).get("kernel_size", 2)
            k = k[0] if isinstance(k, tuple | list) else int(k)
            n, c, h, w = x.shape
            windows = x[:, :, :h // k * k, :w // k * k].unfold(2, k, k).unfold(3, k, k)
            top2 = windows.reshape(n, c, h // k, w // k, k * k).topk(2, dim=-1).values
            gap = top2[..., 0] - top2[..., 1]
            gap = torch.where(gap > 0, gap, torch.full_like(gap, torch.inf))
            self.smallest.append(gap.flatten(1).amin(dim=1).numpy())
        return func(*args, **(kwargs or {}))


def kink_mask(model: nn.Module, x: np.ndarray, tol: float = KINK_TOL) -> np.ndarray:
    """Boolean mask over the samples of ``x`` (PyTorch layout) that are ``tol`` from any kink."""
    smallest: list[np.ndarray] = []

    def record(_module, _inputs, out: torch.Tensor) -> None:
        smallest.append(out.detach().abs().flatten(1).amin(dim=1).numpy())

    model = copy.deepcopy(model).double()
    hooks = [m.register_forward_hook(record) for m in torch_layers(model).values()]
    try:
        with torch.no_grad(), _MaxPoolGaps() as gaps:
            model(torch.from_numpy(np.asarray(x, np.float64)))
    finally:
        for hook in hooks:
            hook.remove()
    smallest.extend(gaps.smallest)
    return np.min(smallest, axis=0) > tol
