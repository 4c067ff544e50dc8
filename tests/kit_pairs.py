"""Three models the parity kit was not written for, each in PyTorch and in Flax NNX, and
faulty ports of them (each with one mistake people make when porting).

Factories take no arguments (``python -m jaxcnn.cli.parity_check tests/kit_pairs.py``-style
``module:factory`` strings name them); weights are the PyTorch model's, moved by the kit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import torch
from flax import nnx
from torch import nn

from jaxcnn.net.layers import BatchNorm

# ---------------------------------------------------------------- VGG-style, padding="same"


class TorchVGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding="same"), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(),
                                        nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class FlaxVGG(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs, flatten_chw: bool = False):
        self.conv1 = nnx.Conv(3, 16, (3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(16, 16, (3, 3), padding="SAME", rngs=rngs)
        self.conv3 = nnx.Conv(16, 32, (3, 3), padding=((1, 1), (1, 1)), rngs=rngs)
        self.fc1 = nnx.Linear(32 * 8 * 8, 64, rngs=rngs)
        self.fc2 = nnx.Linear(64, 10, rngs=rngs)
        self.flatten_chw = flatten_chw

    def __call__(self, x):
        x = nnx.relu(self.conv1(x))
        x = nnx.max_pool(nnx.relu(self.conv2(x)), (2, 2), (2, 2))
        x = nnx.max_pool(nnx.relu(self.conv3(x)), (2, 2), (2, 2))
        if self.flatten_chw:  # a fault: PyTorch's order, but the weights convert for H,W,C
            x = x.transpose(0, 3, 1, 2)
        x = nnx.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc2(x)


def vgg_torch() -> nn.Module:
    torch.manual_seed(0)
    return TorchVGG()


def vgg_flax() -> nnx.Module:
    return FlaxVGG(rngs=nnx.Rngs(0))


def vgg_flax_flatten_chw() -> nnx.Module:
    return FlaxVGG(rngs=nnx.Rngs(0), flatten_chw=True)


# ------------------------------------------ residual block: BatchNorm, stride-2 convolution


class TorchResBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))
        return self.head(y.mean(dim=(2, 3)))


class FlaxResBlock(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs, conv1_padding="explicit", batchnorm=None):
        padding = ((1, 1), (1, 1)) if conv1_padding == "explicit" else conv1_padding
        norm = batchnorm or (lambda n: BatchNorm(n))
        self.conv1 = nnx.Conv(8, 16, (3, 3), strides=2, padding=padding, use_bias=False,
                              rngs=rngs)
        self.bn1 = norm(16)
        self.conv2 = nnx.Conv(16, 16, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                              rngs=rngs)
        self.bn2 = norm(16)
        self.short_conv = nnx.Conv(8, 16, (1, 1), strides=2, padding="VALID", use_bias=False,
                                   rngs=rngs)
        self.short_bn = norm(16)
        self.head = nnx.Linear(16, 10, rngs=rngs)

    def __call__(self, x):
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = nnx.relu(self.bn2(self.conv2(y)) + self.short_bn(self.short_conv(x)))
        return self.head(y.mean(axis=(1, 2)))


def _nnx_batchnorm(momentum: float):
    return lambda n: nnx.BatchNorm(n, momentum=momentum, epsilon=1e-5, rngs=nnx.Rngs(0))


def resblock_torch() -> nn.Module:
    torch.manual_seed(1)
    model = TorchResBlock()
    # Non-trivial running statistics and affine parameters, as after some training.
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for bn in (model.bn1, model.bn2, model.shortcut[1]):
            bn.running_mean.copy_(torch.randn(16, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(16, generator=g) + 0.5)
            bn.weight.copy_(torch.rand(16, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(16, generator=g) * 0.1)
    return model


def resblock_flax() -> nnx.Module:
    return FlaxResBlock(rngs=nnx.Rngs(1))


def resblock_flax_same_padding() -> nnx.Module:
    return FlaxResBlock(rngs=nnx.Rngs(1), conv1_padding="SAME")


def resblock_flax_nnx_batchnorm(momentum: float = 0.9) -> nnx.Module:
    return FlaxResBlock(rngs=nnx.Rngs(1), batchnorm=_nnx_batchnorm(momentum))


# ------------------------------------------- MLP-Mixer-like: patches, LayerNorm, GELU


class TorchMixer(nn.Module):
    def __init__(self, tokens: int = 16, channels: int = 32):
        super().__init__()
        self.patch = nn.Conv2d(3, channels, 4, stride=4)
        self.norm1 = nn.LayerNorm(channels)
        self.token_mlp = nn.Sequential(nn.Linear(tokens, 24), nn.GELU(), nn.Linear(24, tokens))
        self.norm2 = nn.LayerNorm(channels)
        self.channel_mlp = nn.Sequential(nn.Linear(channels, 64), nn.GELU(),
                                         nn.Linear(64, channels))
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # (N, tokens, channels)
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.channel_mlp(self.norm2(x))
        return self.head(self.norm(x).mean(dim=1))


def _tf32(a: jax.Array) -> jax.Array:
    """float32 values rounded to 10 explicit mantissa bits (nearest, ties to even)."""
    b = jax.lax.bitcast_convert_type(a, jnp.uint32)
    b = (b + jnp.uint32(0xFFF) + ((b >> 13) & 1)) & jnp.uint32(0xFFFFE000)
    return jax.lax.bitcast_convert_type(b, jnp.float32)


class Tf32Conv(nnx.Conv):
    """An ``nnx.Conv`` whose inputs and kernel are rounded to TF32's 10-bit mantissa, as an
    NVIDIA tensor core does with a float32 convolution (to plant TF32 on a CPU)."""

    def __call__(self, x):
        strides = (self.strides,) * 2 if isinstance(self.strides, int) else self.strides
        y = jax.lax.conv_general_dilated(_tf32(x), _tf32(self.kernel[...]), strides, self.padding,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         precision=jax.lax.Precision.HIGHEST)
        return y + self.bias[...]


class FlaxMixer(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs, tokens: int = 16, channels: int = 32,
                 gelu_approximate: bool = False, tf32_patch: bool = False,
                 norm1_epsilon: float = 1e-5):
        conv = Tf32Conv if tf32_patch else nnx.Conv
        self.patch = conv(3, channels, (4, 4), strides=4, padding="VALID", rngs=rngs)
        self.norm1 = nnx.LayerNorm(channels, epsilon=norm1_epsilon, rngs=rngs)
        self.token_fc1 = nnx.Linear(tokens, 24, rngs=rngs)
        self.token_fc2 = nnx.Linear(24, tokens, rngs=rngs)
        self.norm2 = nnx.LayerNorm(channels, epsilon=1e-5, rngs=rngs)
        self.channel_fc1 = nnx.Linear(channels, 64, rngs=rngs)
        self.channel_fc2 = nnx.Linear(64, channels, rngs=rngs)
        self.norm = nnx.LayerNorm(channels, epsilon=1e-5, rngs=rngs)
        self.head = nnx.Linear(channels, 10, rngs=rngs)
        self.approximate = gelu_approximate

    def __call__(self, x):
        x = self.patch(x)
        x = x.reshape(x.shape[0], -1, x.shape[-1])  # (N, tokens in H,W order, channels)
        t = self.norm1(x).swapaxes(1, 2)
        t = self.token_fc2(nnx.gelu(self.token_fc1(t), approximate=self.approximate))
        x = x + t.swapaxes(1, 2)
        c = nnx.gelu(self.channel_fc1(self.norm2(x)), approximate=False)
        x = x + self.channel_fc2(c)
        return self.head(jnp.mean(self.norm(x), axis=1))


def mixer_torch() -> nn.Module:
    torch.manual_seed(3)
    return TorchMixer()


def mixer_flax() -> nnx.Module:
    return FlaxMixer(rngs=nnx.Rngs(3))


def mixer_flax_tanh_gelu() -> nnx.Module:
    return FlaxMixer(rngs=nnx.Rngs(3), gelu_approximate=True)


def mixer_flax_default_epsilon() -> nnx.Module:
    """``nnx.LayerNorm``'s default ε (1e-6) where ``nn.LayerNorm`` has 1e-5."""
    return FlaxMixer(rngs=nnx.Rngs(3), norm1_epsilon=1e-6)


def mixer_flax_tf32() -> nnx.Module:
    return FlaxMixer(rngs=nnx.Rngs(3), tf32_patch=True)
