"""``create_model`` for the PyTorch originals, with the same names and options as jaxcnn's."""

from __future__ import annotations

import torch
from torch import nn

from jaxcnn.net.options import check_options
from torch_ref import models

_CLASSES: dict[str, type[nn.Module]] = {
    "padded": models.Padded,
    "dropout": models.Dropout,
    "classic": models.Classic,
    "lenet3x3": models.LeNet3x3,
    "lenet": models.LeNet,
}


def create_model(arch: str, *, seed: int = 0, **options) -> nn.Module:
    """Build the PyTorch original of ``arch`` with ``torch.manual_seed(seed)``'s default init.

    The global torch RNG is left as it was. Unknown names or options raise ``ValueError``.
    """
    check_options(arch, options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _CLASSES[arch](**options)
