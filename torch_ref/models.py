"""The five course architectures as the notebooks wrote them in PyTorch (inputs NCHW float32).

Layer order, padding, pooling, activations, output heads and ``state_dict`` names follow each
notebook; the only additions are the options shared with :mod:`jaxcnn.net.models` (``pool``,
``in_channels``, ``image_size``, ``num_classes`` and LeNet's ``dropout``/``batchnorm``), whose
defaults give back the notebook's network. The notebooks' ``x.view(-1, n)`` flatten is written
``x.reshape(-1, n)``: the same values, but it also accepts the channels-last strides that a
1-channel batch converted from NHWC numpy arrays gets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jaxcnn.net.options import POOLS, ModelRegistry
from jaxcnn.net.shapes import conv_output_size

MODELS = ModelRegistry()  # filled by the @MODELS.register lines below


def _pooled(size: int, kernel: int, padding: int = 0) -> int:
    return conv_output_size(conv_output_size(size, kernel, padding=padding), 2, stride=2)


def _lp2_pool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """``F.lp_pool2d(x, 2, kernel_size, stride)``: LP pooling with p = 2 (``nn.LPPool2d(2, k)``)."""
    return F.lp_pool2d(x, 2, kernel_size, stride)


def _pool_fn(kind: str):
    """The functional pool ``kind`` (max, avg, lp2: LP pooling with p = 2), as ``f(x, k[, s])``."""
    if kind not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {kind!r}")
    return {"max": F.max_pool2d, "avg": F.avg_pool2d, "lp2": _lp2_pool2d}[kind]


def _pool_module(kind: str, kernel_size) -> nn.Module:
    """The module form: ``nn.MaxPool2d``, ``nn.AvgPool2d`` or ``nn.LPPool2d(2, ...)``."""
    _pool_fn(kind)  # validates the name
    if kind == "lp2":
        return nn.LPPool2d(2, kernel_size)
    return nn.MaxPool2d(kernel_size) if kind == "max" else nn.AvgPool2d(kernel_size)


@MODELS.register("padded")
class Padded(nn.Module):
    """Notebook 000 (``Net``): padded 5×5 convs and a softmax output (trained with ``nll_loss``)."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max"):
        super().__init__()
        self.pool = _pool_fn(pool)
        side = _pooled(_pooled(image_size, 5, padding=2), 5, padding=2)
        self.flat_features = 64 * side * side
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(self.flat_features, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def convs(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)), (2, 2))
        return self.pool(F.relu(self.conv2(x)), (2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).reshape(-1, self.flat_features)
        x = F.relu(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)


@MODELS.register("dropout")
class Dropout(nn.Module):
    """Notebook 001 (``cnn``): two convs, one pool, Dropout2d, and a ReLU on the output scores."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", dropout: float = 0.25):
        super().__init__()
        side = conv_output_size(conv_output_size(conv_output_size(image_size, 5), 5), 2, stride=2)
        self.flat_features = 20 * side * side
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 10, kernel_size=5), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(10, 20, kernel_size=5), nn.ReLU())
        self.maxpool = _pool_module(pool, (2, 2))
        self.drop = nn.Dropout2d(p=dropout)
        self.fc3 = nn.Sequential(nn.Linear(self.flat_features, 100), nn.ReLU())
        self.fc4 = nn.Sequential(nn.Linear(100, num_classes), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = self.drop(self.maxpool(x))
        x = x.reshape(-1, self.flat_features)
        return self.fc4(self.fc3(x))


@MODELS.register("classic")
class Classic(nn.Module):
    """Notebook 002 (``Neural_Network``): conv → pool → ReLU, log_softmax output for NLLLoss."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max"):
        super().__init__()
        self.pool = _pool_fn(pool)
        side = _pooled(_pooled(image_size, 5), 5)
        self.flat_features = 20 * side * side
        self.conv1 = nn.Conv2d(in_channels, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(self.flat_features, 50)
        self.fc2 = nn.Linear(50, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.pool(self.conv1(x), 2))
        x = F.relu(self.pool(self.conv2(x), 2))
        x = x.reshape(-1, self.flat_features)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


@MODELS.register("lenet3x3")
class LeNet3x3(nn.Module):
    """Notebook 003 (``ConvolutionalNetwork``): 3×3 convs, fc 120-84, log_softmax output."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max"):
        super().__init__()
        self.pool = _pool_fn(pool)
        side = _pooled(_pooled(image_size, 3), 3)
        self.flat_features = 16 * side * side
        self.conv1 = nn.Conv2d(in_channels, 6, 3, 1)
        self.conv2 = nn.Conv2d(6, 16, 3, 1)
        self.fc1 = nn.Linear(self.flat_features, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)), 2, 2)
        x = self.pool(F.relu(self.conv2(x)), 2, 2)
        x = x.reshape(-1, self.flat_features)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


@MODELS.register("lenet")
class LeNet(nn.Module):
    """Notebook 004 (``ConvNet``): ``conv_stack``, ``Flatten``, ``linear_stack``; logits output.

    ``batchnorm`` adds ``BatchNorm1d`` after the first two linear layers (before their ReLU) and
    ``dropout`` a ``Dropout`` after those ReLUs (the notebook's exercises).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", dropout: float = 0.0, batchnorm: bool = False):
        super().__init__()
        self.pool = _pool_module(pool, 2)
        self.activation = nn.ReLU()
        self.conv_stack = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), self.activation, self.pool,
            nn.Conv2d(6, 16, 5), self.activation, self.pool,
        )
        self.flatten = nn.Flatten()
        self.linear_entry_dim = _pooled(_pooled(image_size, 5), 5)
        hidden: list[nn.Module] = []
        for fan_in, width in ((16 * self.linear_entry_dim**2, 120), (120, 84)):
            hidden.append(nn.Linear(fan_in, width))
            if batchnorm:
                hidden.append(nn.BatchNorm1d(width))
            hidden.append(self.activation)
            if dropout > 0:
                hidden.append(nn.Dropout(dropout))
        self.linear_stack = nn.Sequential(*hidden, nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_stack(self.flatten(self.conv_stack(x)))
