"""The five course architectures as Flax NNX modules (inputs NHWC float32).

``@planned`` runs each ``__call__`` under the convolution plan chosen for the model and batch
size (:mod:`jaxcnn.conv`): the feature maps may be kept batch-innermost between the input and
the flatten, which returns to NHWC order, so the parameters are the same under every plan.

Each class mirrors one notebook's PyTorch ``nn.Module`` layer for layer; ``torch_ref.models`` holds
the originals. ``torch_names`` maps each parameterised sub-layer to the prefix it has in the
original's ``state_dict``, which is all :mod:`jaxcnn.convert` needs to move weights across.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxcnn.conv import planned
from jaxcnn.net.layers import BatchNorm, Dropout2d, Pool2d, conv, flatten, linear
from jaxcnn.net.options import ModelRegistry
from jaxcnn.net.shapes import conv_output_size

MODELS = ModelRegistry()  # filled by the @MODELS.register lines below


def _pooled(size: int, kernel: int, padding: int = 0) -> int:
    """Spatial size after a stride-1 conv and a 2×2 pool."""
    return conv_output_size(conv_output_size(size, kernel, padding=padding), 2, stride=2)


@MODELS.register("padded")
class Padded(nnx.Module):
    """Notebook 000: two padded 5×5 convs (32, 64), fc 128, softmax output."""

    torch_names = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "fc2": "fc2"}

    def __init__(self, *, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", rngs: nnx.Rngs):
        side = _pooled(_pooled(image_size, 5, padding=2), 5, padding=2)
        self.flat_shape = (side, side, 64)
        self.conv1 = conv(in_channels, 32, 5, padding=2, rngs=rngs)
        self.conv2 = conv(32, 64, 5, padding=2, rngs=rngs)
        self.pool = Pool2d(pool)
        self.fc1 = linear(64 * side * side, 128, rngs=rngs)
        self.fc2 = linear(128, num_classes, rngs=rngs)

    @planned
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(nnx.relu(self.conv1(x)))
        x = self.pool(nnx.relu(self.conv2(x)))
        x = nnx.relu(self.fc1(flatten(x)))
        return nnx.softmax(self.fc2(x), axis=-1)


@MODELS.register("dropout")
class Dropout(nnx.Module):
    """Notebook 001: 5×5 convs (10, 20), one pool, Dropout2d(0.25), fc 100, ReLU'd scores."""

    torch_names = {"conv1": "conv1.0", "conv2": "conv2.0", "fc3": "fc3.0", "fc4": "fc4.0"}

    def __init__(self, *, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", dropout: float = 0.25, rngs: nnx.Rngs):
        side = conv_output_size(conv_output_size(conv_output_size(image_size, 5), 5), 2, stride=2)
        self.flat_shape = (side, side, 20)
        self.conv1 = conv(in_channels, 10, 5, rngs=rngs)
        self.conv2 = conv(10, 20, 5, rngs=rngs)
        self.pool = Pool2d(pool)
        self.drop = Dropout2d(dropout, rngs=rngs)
        self.fc3 = linear(20 * side * side, 100, rngs=rngs)
        self.fc4 = linear(100, num_classes, rngs=rngs)

    @planned
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.conv1(x))
        x = nnx.relu(self.conv2(x))
        x = self.drop(self.pool(x))
        x = nnx.relu(self.fc3(flatten(x)))
        return nnx.relu(self.fc4(x))  # the original's final ReLU, kept


@MODELS.register("classic")
class Classic(nnx.Module):
    """Notebook 002: conv → pool → ReLU twice (10, 20 channels), fc 50, log_softmax output."""

    torch_names = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "fc2": "fc2"}

    def __init__(self, *, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", rngs: nnx.Rngs):
        side = _pooled(_pooled(image_size, 5), 5)
        self.flat_shape = (side, side, 20)
        self.conv1 = conv(in_channels, 10, 5, rngs=rngs)
        self.conv2 = conv(10, 20, 5, rngs=rngs)
        self.pool = Pool2d(pool)
        self.fc1 = linear(20 * side * side, 50, rngs=rngs)
        self.fc2 = linear(50, num_classes, rngs=rngs)

    @planned
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.pool(self.conv1(x)))
        x = nnx.relu(self.pool(self.conv2(x)))
        x = nnx.relu(self.fc1(flatten(x)))
        return nnx.log_softmax(self.fc2(x), axis=-1)


@MODELS.register("lenet3x3")
class LeNet3x3(nnx.Module):
    """Notebook 003: 3×3 convs (6, 16), fc 120-84, log_softmax output (60,074 parameters)."""

    torch_names = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "fc2": "fc2", "fc3": "fc3"}

    def __init__(self, *, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", rngs: nnx.Rngs):
        side = _pooled(_pooled(image_size, 3), 3)
        self.flat_shape = (side, side, 16)
        self.conv1 = conv(in_channels, 6, 3, rngs=rngs)
        self.conv2 = conv(6, 16, 3, rngs=rngs)
        self.pool = Pool2d(pool)
        self.fc1 = linear(16 * side * side, 120, rngs=rngs)
        self.fc2 = linear(120, 84, rngs=rngs)
        self.fc3 = linear(84, num_classes, rngs=rngs)

    @planned
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(nnx.relu(self.conv1(x)))
        x = self.pool(nnx.relu(self.conv2(x)))
        x = nnx.relu(self.fc1(flatten(x)))
        x = nnx.relu(self.fc2(x))
        return nnx.log_softmax(self.fc3(x), axis=-1)


@MODELS.register("lenet")
class LeNet(nnx.Module):
    """Notebook 004: 5×5 convs (6, 16), fc 120-84, logits.

    Notebook 004's exercises are options: ``batchnorm`` puts a BatchNorm1d after fc1 and fc2 (before
    their ReLU), ``dropout`` a Dropout of that rate after each of those ReLUs. With both off the
    PyTorch original's ``state_dict`` names are exactly the notebook's (``conv_stack.0`` ...).
    """

    def __init__(self, *, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 pool: str = "max", dropout: float = 0.0, batchnorm: bool = False,
                 rngs: nnx.Rngs):
        side = _pooled(_pooled(image_size, 5), 5)
        self.flat_shape = (side, side, 16)
        self.conv1 = conv(in_channels, 6, 5, rngs=rngs)
        self.conv2 = conv(6, 16, 5, rngs=rngs)
        self.pool = Pool2d(pool)
        self.fc1 = linear(16 * side * side, 120, rngs=rngs)
        self.fc2 = linear(120, 84, rngs=rngs)
        self.fc3 = linear(84, num_classes, rngs=rngs)
        self.bn1 = BatchNorm(120) if batchnorm else None
        self.bn2 = BatchNorm(84) if batchnorm else None
        self.drop = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.torch_names = _lenet_torch_names(batchnorm, dropout > 0)

    def _hidden(self, x: jax.Array, fc: nnx.Linear, bn: BatchNorm | None) -> jax.Array:
        x = fc(x)
        if bn is not None:
            x = bn(x)
        x = nnx.relu(x)
        return self.drop(x) if self.drop is not None else x

    @planned
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(nnx.relu(self.conv1(x)))
        x = self.pool(nnx.relu(self.conv2(x)))
        x = self._hidden(flatten(x), self.fc1, self.bn1)
        x = self._hidden(x, self.fc2, self.bn2)
        return self.fc3(x)


def _lenet_torch_names(batchnorm: bool, dropout: bool) -> dict[str, str]:
    """Indices of LeNet's layers in the original's ``linear_stack`` Sequential."""
    names = {"conv1": "conv_stack.0", "conv2": "conv_stack.3"}
    index = 0
    for fc, bn in (("fc1", "bn1"), ("fc2", "bn2")):
        names[fc] = f"linear_stack.{index}"
        index += 1
        if batchnorm:
            names[bn] = f"linear_stack.{index}"
            index += 1
        index += 2 if dropout else 1  # ReLU, then Dropout
    names["fc3"] = f"linear_stack.{index}"
    return names
