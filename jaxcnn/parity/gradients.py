"""Forward passes, notebook losses and gradients of a model pair in both frameworks, with the
samples near a kink screened out (the parity tests and ``scripts/model_parity.py``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F
from flax import nnx

from jaxcnn.net import convert
from jaxcnn.parity import kit
from jaxcnn.parity.variants import to_nchw


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
