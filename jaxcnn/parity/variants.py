"""The model variants compared across frameworks, on real test images: every architecture with
both pools plus lenet's exercise forms, each notebook's loss, and model pairs holding identical
weights (used by the parity tests and ``scripts/model_parity.py``)."""

from __future__ import annotations

import jax
import numpy as np
import torch
from flax import nnx

import jaxcnn
import torch_ref
from jaxcnn.parity import kit

# Every architecture with both pools, lenet's 3-channel 32×32 form and its exercise options.
VARIANTS: dict[str, tuple[str, dict]] = {
    **{f"{arch}-{pool}": (arch, {"pool": pool})
       for arch in jaxcnn.ARCHITECTURES for pool in jaxcnn.POOLS},
    "lenet-rgb32": ("lenet", {"in_channels": 3, "image_size": 32}),
    "lenet-dropout": ("lenet", {"dropout": 0.5}),
    "lenet-batchnorm": ("lenet", {"batchnorm": True}),
    "lenet-batchnorm-dropout": ("lenet", {"batchnorm": True, "dropout": 0.5}),
}

# Each notebook's loss: 000 applies F.nll_loss to its softmax output (loss = -mean p[y]), 002
# NLLLoss to its log_softmax output, the others CrossEntropyLoss to whatever the net outputs.
LOSSES: dict[str, str] = {
    "padded": "nll", "dropout": "ce", "classic": "nll", "lenet3x3": "ce", "lenet": "ce",
}

DATASETS = ("mnist", "fashion_mnist")


def rgb32(images: np.ndarray) -> np.ndarray:
    """3-channel 32×32 inputs built from real 28×28 grey images (there is no CIFAR-10 here).

    Each image is zero-padded by 2 to 32×32, then three differently transformed copies are
    stacked as channels: the image, its negative ``1 - x`` and its transpose (H and W swapped),
    so that a mix-up of channels or of the spatial axes shows in the outputs.
    """
    x = np.pad(images[..., 0], ((0, 0), (2, 2), (2, 2)))
    return np.stack([x, 1.0 - x, x.transpose(0, 2, 1)], axis=-1).astype(np.float32)


def inputs_for(options: dict, name: str, start: int, count: int,
               test_set) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images from ``start`` of ``test_set(name)`` (float32 NHWC images, labels), as
    3-channel 32×32 ones when the options say so."""
    images, labels = test_set(name)
    x, y = images[start:start + count], labels[start:start + count]
    if options.get("in_channels", 1) == 3:
        x = rgb32(x)
    return x, y


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """NHWC numpy images -> a contiguous NCHW torch tensor."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def param_count_torch(model: torch.nn.Module) -> int:
    """Number of trainable parameters of a PyTorch model."""
    return sum(p.numel() for p in model.parameters())


def param_count_jax(model: nnx.Module) -> int:
    """Number of ``nnx.Param`` entries of a Flax model."""
    return sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def make_pair(arch: str, options: dict, *, init: str, seed: int = 0
              ) -> tuple[nnx.Module, torch.nn.Module]:
    """A Flax model and its PyTorch original holding the same weights, both in eval mode.

    The parity kit (:mod:`jaxcnn.parity.kit`) pairs the layers by call order and shape and moves
    the weights: ``init="torch"``: PyTorch's init into the Flax model; ``init="jax"``: Flax's
    init into the PyTorch model.
    """
    if init not in ("torch", "jax"):
        raise ValueError(f"init must be 'torch' or 'jax', got {init!r}")
    torch_model = torch_ref.create_model(arch, seed=seed, **options)
    flax_model = jaxcnn.create_model(arch, seed=seed, **options)
    kit.pair_models(torch_model, flax_model, example_batch(options),
                    transfer_to="to_flax" if init == "torch" else "to_torch")
    flax_model.eval()
    torch_model.eval()
    return flax_model, torch_model


def example_batch(options: dict) -> np.ndarray:
    """Two blank images in PyTorch's layout, the shape a variant takes (for pairing layers)."""
    side = options.get("image_size", 28)
    return np.zeros((2, options.get("in_channels", 1), side, side), np.float32)
