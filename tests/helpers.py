"""Shared helpers for the model tests and ``scripts/model_parity.py``: real images, model pairs.

Real data: the MNIST test set in ``<repo>/../shared/data/mnist`` (``$JAXCNN_MNIST_DIR``
overrides) and the Fashion-MNIST test set in ``/usr/share/datasets/fashion-mnist``
(``$JAXCNN_FASHION_MNIST_DIR`` overrides), read with ``jaxcnn.data``. Inputs are ``ToTensor``'s
(÷255, float32, NHWC). Missing data skips the test, or fails it under ``JAXCNN_REQUIRE_DATA=1``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

import jaxcnn
import torch_ref
from jaxcnn import convert
from jaxcnn.data import DataError, load, to_tensor
from jaxcnn.parity import kit

REPO_ROOT = Path(__file__).resolve().parents[1]

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


def data_dir(name: str) -> Path:
    """Where the real test set ``name`` ("mnist" or "fashion_mnist") is expected."""
    if name == "mnist":
        return Path(os.environ.get("JAXCNN_MNIST_DIR")
                    or REPO_ROOT.parent / "shared" / "data" / "mnist")
    return Path(os.environ.get("JAXCNN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")


@functools.cache
def load_test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images of ``name`` as float32 NHWC in [0, 1], and int64 labels.

    Raises ``jaxcnn.data.DataError`` when the files are missing or broken.
    """
    directory = data_dir(name)
    if not directory.is_dir():
        raise DataError(f"{directory}: directory missing")
    data = load(name, "test", data_dir=directory, source="idx")
    return to_tensor(data.images), np.asarray(data.labels, dtype=np.int64)


def real_test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``load_test_set`` for tests: skip when the data is absent (fail if it is required)."""
    try:
        return load_test_set(name)
    except DataError as err:
        reason = f"real {name} test data not available in {data_dir(name)}: {err}"
        if os.environ.get("JAXCNN_REQUIRE_DATA") == "1":
            pytest.fail(f"{reason}; JAXCNN_REQUIRE_DATA=1 requires it")
        pytest.skip(reason)


def rgb32(images: np.ndarray) -> np.ndarray:
    """3-channel 32×32 inputs built from real 28×28 grey images (there is no CIFAR-10 here).

    Each image is zero-padded by 2 to 32×32, then three differently transformed copies are
    stacked as channels: the image, its negative ``1 - x`` and its transpose (H and W swapped),
    so that a mix-up of channels or of the spatial axes shows in the outputs.
    """
    x = np.pad(images[..., 0], ((0, 0), (2, 2), (2, 2)))
    return np.stack([x, 1.0 - x, x.transpose(0, 2, 1)], axis=-1).astype(np.float32)


def inputs_for(options: dict, name: str, start: int, count: int,
               test_set=real_test_set) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real test images from ``start`` (3-channel 32×32 ones when the options say so)."""
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


@nnx.jit
def jax_forward(model: nnx.Module, x: jax.Array) -> jax.Array:
    """The model's output on ``x`` (jitted)."""
    return model(x)


def torch_forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The PyTorch model's output on NHWC images, without autograd."""
    with torch.no_grad():
        return model(to_nchw(x)).numpy()


def jax_loss(kind: str, out: jax.Array, y: jax.Array) -> jax.Array:
    """``F.nll_loss`` (``kind="nll"``, -mean out[y]) or ``F.cross_entropy`` (``"ce"``)."""
    if kind == "ce":
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
    return -jnp.mean(jnp.take_along_axis(out, y[:, None], axis=1))


def torch_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The PyTorch loss of a notebook recipe (see ``LOSSES``)."""
    return F.cross_entropy(out, y) if kind == "ce" else F.nll_loss(out, y)


def away_from_kinks(model: torch.nn.Module, x: np.ndarray, tol: float = kit.kinks.KINK_TOL
                    ) -> np.ndarray:
    """Mask of the NHWC samples ``x`` where the model is differentiable with a margin of ``tol``
    (:func:`jaxcnn.parity.kit.kink_mask`).

    Two places make a CNN's gradient jump, and a float32 rounding difference (~1e-8 here) can
    put PyTorch on one side and JAX on the other:

    * a ReLU at 0: on real images this happens: a 2e-5 gap in a ``fc3.0.bias`` gradient of
      ``dropout``, 1e-6 in a ``conv2.weight`` of ``padded``;
    * a 2×2 max pool whose two largest inputs differ by less than ``tol`` (but are not equal).
      Seen on an MNIST test image with ``dropout``'s Flax init: a gap of 2.2e-8, and a 7e-4
      difference in that image's ``conv1`` gradient. Two float32 values equal only by rounding
      differ in float64 and are screened: with jaxcnn's GEMM convolution PyTorch computed
      0.06814226 twice in one ``dropout`` conv2 window, jaxcnn 0.06814226 and 0.06814228, and
      each framework sent that window's gradient to a different element.

    ``tol`` is ~100 times the frameworks' forward differences.
    """
    return kit.kink_mask(model, x.transpose(0, 3, 1, 2), tol)


@functools.partial(nnx.jit, static_argnames="kind")
def _value_and_grads(model: nnx.Module, x: jax.Array, y: jax.Array, kind: str):
    return nnx.value_and_grad(lambda m: jax_loss(kind, m(x), y))(model)


def jax_grads(model: nnx.Module, x: np.ndarray, y: np.ndarray, kind: str
              ) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and its gradients w.r.t. every ``nnx.Param``, with PyTorch's names and layouts.

    The gradient tree is written into a clone of the model, which ``to_torch`` then converts;
    only the trainable entries (no BatchNorm running statistics) are returned. Running
    statistics of ``model`` are updated as a train-mode forward would.
    """
    loss, grads = _value_and_grads(model, jnp.asarray(x), jnp.asarray(y), kind)
    clone = nnx.clone(model)
    nnx.update(clone, grads)
    state = convert.to_torch(clone)
    return float(loss), {k: v for k, v in state.items() if k.endswith((".weight", ".bias"))}


def torch_grads(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, kind: str
                ) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and ``.grad`` of every parameter of the PyTorch model, by ``state_dict`` name."""
    model.zero_grad()
    loss = torch_loss(kind, model(to_nchw(x)), torch.from_numpy(np.array(y)))
    loss.backward()
    return loss.item(), {name: p.grad.numpy().copy() for name, p in model.named_parameters()}
