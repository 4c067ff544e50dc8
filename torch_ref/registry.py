"""``create_model`` for the PyTorch originals, with the same names and options as jaxcnn's."""

from __future__ import annotations

import torch
from torch import nn

from torch_ref import models


def create_model(arch: str, *, seed: int = 0, **options) -> nn.Module:
    """Build the PyTorch original of ``arch`` with ``torch.manual_seed(seed)``'s default init.

    The global torch RNG is left as it was. Unknown names or options raise ``ValueError``.
    """
    cls = models.MODELS.model_class(arch, options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(**options)
