"""The convolution engine: every formulation equals XLA's convolution on real images, forward and
both gradients, for every layer shape of the five architectures; the 2×2 pooling equals XLA's
``reduce_window`` (ties included); whole models give the same outputs and gradients under every
plan; Dropout2d draws the same mask in every layout."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import real_test_set

import jaxcnn
from jaxcnn.conv import gemm, pool, shift, slices
from jaxcnn.conv.choice import forcing
from jaxcnn.conv.plans import PLANS, to_layout, to_nhwc

# (input channels, output channels, kernel, padding, input side): every conv of the five
# architectures, and lenet's on 3-channel 32×32 images.
LAYERS = {
    "padded.conv1": (1, 32, 5, 2, 28), "padded.conv2": (32, 64, 5, 2, 14),
    "dropout.conv1": (1, 10, 5, 0, 28), "dropout.conv2": (10, 20, 5, 0, 24),
    "classic.conv2": (10, 20, 5, 0, 12), "lenet3x3.conv1": (1, 6, 3, 0, 28),
    "lenet3x3.conv2": (6, 16, 3, 0, 13), "lenet.conv1": (1, 6, 5, 0, 28),
    "lenet.conv2": (6, 16, 5, 0, 12), "lenet-rgb32.conv1": (3, 6, 5, 0, 32),
    "lenet-rgb32.conv2": (6, 16, 5, 0, 14),
}
# formulation -> (layout, VALID convolution); padding is applied before, as Plan.conv does.
# "gemm-chunks": the batch in chunks of 4 images (at batch 13: three chunks and a last image).
FORMULATIONS = {"gemm": ("CHWN", gemm.conv), "shift": ("CHWN", shift.conv),
                "slices": ("NHWC", slices.conv),
                "gemm-chunks": ("CHWN", functools.partial(gemm.conv, chunk=4))}
RTOL = 1e-5  # relative to the largest magnitude of the reference: float32 rounding


def real_inputs(c_in: int, side: int, batch: int) -> np.ndarray:
    """``batch`` NHWC inputs of ``c_in`` channels cut from real MNIST test images (channels after
    the first are shifted, negated copies, so they differ)."""
    images, _ = real_test_set("mnist")
    reps = -(-batch // len(images))
    x = np.concatenate([images] * reps)[:batch, :side, :side]
    if x.shape[1] < side:  # 32×32: pad like the rgb32 inputs
        x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return np.concatenate([np.roll(x, i, axis=2) * (-1) ** i for i in range(c_in)], axis=-1)


def reference_vjp(x, kernel, padding, cotangent):
    def f(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(padding, padding)] * 2,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y, vjp = jax.vjp(f, x, kernel)
    return (y, *vjp(cotangent))


def formulation_vjp(name, x, kernel, padding, cotangent):
    layout, conv = FORMULATIONS[name]

    def f(x, kernel):
        x = to_layout(x, layout)
        x = jnp.pad(x, [(padding, padding) if a in (1, 2) else (0, 0) for a in range(4)])
        return to_nhwc(conv(x, kernel), layout)
    y, vjp = jax.vjp(f, x, kernel)
    return (y, *vjp(cotangent))


def assert_float32_close(got, want, what):
    scale = float(jnp.max(jnp.abs(want)))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def check(name: str, layer: str, batch: int) -> None:
    c_in, c_out, k, padding, side = LAYERS[layer]
    x = jnp.asarray(real_inputs(c_in, side, batch))
    kernel = jax.random.uniform(jax.random.key(batch), (k, k, c_in, c_out), minval=-0.3,
                                maxval=0.3)
    out_side = side + 2 * padding - k + 1
    cotangent = jax.random.normal(jax.random.key(1), (batch, out_side, out_side, c_out))
    want = jax.jit(reference_vjp, static_argnums=2)(x, kernel, padding, cotangent)
    got = jax.jit(formulation_vjp, static_argnums=(0, 3))(name, x, kernel, padding, cotangent)
    for g, w, what in zip(got, want, ("forward", "input gradient", "weight gradient"),
                          strict=True):
        assert g.shape == w.shape, what
        assert_float32_close(g, w, f"{name} {layer} batch {batch}: {what}")


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("name", FORMULATIONS)
def test_formulation_equals_xla(name: str, layer: str) -> None:
    if name == "shift" and LAYERS[layer][0] != 1:
        pytest.skip("the shift formulation takes one input channel")
    for batch in (1, 13):  # 13: an odd last partial batch
        check(name, layer, batch)


@pytest.mark.slow
@pytest.mark.parametrize("batch", [64, 1000])
@pytest.mark.parametrize("layer", ["padded.conv2", "dropout.conv2"])
def test_gemm_equals_xla_at_large_batches(layer: str, batch: int) -> None:
    check("gemm", layer, batch)


DROPOUT_CONV2 = ((10, 24, 24), (5, 5, 10, 20))  # patch matrix 400,000 bytes per image
PADDED_CONV2 = ((32, 18, 18), (5, 5, 32, 64))  # 627,200 bytes per image


@pytest.mark.parametrize(("layer", "batch", "chunk"), [
    (DROPOUT_CONV2, 64, 8),  # 15 fit in 6 MiB, 8 divides 64
    (PADDED_CONV2, 10, 10),  # fits whole
    (PADDED_CONV2, 512, 8),  # 10 fit, 8 divides 512
    (DROPOUT_CONV2, 13, 13),  # 15 fit: the whole batch
    (DROPOUT_CONV2, 97, 15),  # prime batch: no divisor near 15, so a last chunk of 7
])
def test_chunk_size_keeps_patch_matrix_within_budget(layer, batch, chunk) -> None:
    (chw, kernel) = layer
    assert gemm.chunk_size((*chw, batch), kernel, budget=6 << 20) == chunk


def test_shift_refuses_several_channels() -> None:
    with pytest.raises(ValueError, match="one input channel"):
        shift.conv(jnp.zeros((2, 8, 8, 1)), jnp.zeros((3, 3, 2, 4)))


# -- pooling ------------------------------------------------------------------------------------
def _pool_inputs() -> jax.Array:
    """Real feature-map-like inputs with exact ties (flat background, repeated values) and an
    odd size (11), in both layouts' axis order (spatial axes 1 and 2)."""
    images, _ = real_test_set("mnist")
    x = np.round(images[:8, :11, :11] * 4) / 4  # coarse values: many exact ties
    return jnp.asarray(np.concatenate([x, -x, x * 0.5], axis=-1))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_equals_reduce_window(kind: str) -> None:
    x = _pool_inputs()
    reference = {"max": lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)),
                 "avg": lambda x: nnx.avg_pool(x, (2, 2), strides=(2, 2))}[kind]
    ours = {"max": pool.max_pool, "avg": pool.avg_pool}[kind]
    cotangent = jax.random.normal(jax.random.key(0), (8, 5, 5, 3))
    y_ref, vjp_ref = jax.vjp(reference, x)
    y, vjp = jax.vjp(ours, x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-7, atol=0)
    # max: the gradient goes to the same element (the first largest) of every window, exactly
    np.testing.assert_allclose(vjp(cotangent)[0], vjp_ref(cotangent)[0], rtol=1e-7, atol=0)


def test_max_pool_gradient_goes_to_first_of_tied_elements() -> None:
    x = jnp.ones((1, 2, 2, 1))
    (grad,) = jax.grad(lambda x: jnp.sum(pool.max_pool(x)), argnums=(0,))(x)
    np.testing.assert_array_equal(np.asarray(grad)[0, :, :, 0], [[1, 0], [0, 0]])


# -- whole models -------------------------------------------------------------------------------
def _model_outputs_and_grads(arch: str, plan: str, x: jax.Array, y: jax.Array):
    model = jaxcnn.create_model(arch, seed=3)
    model.eval()  # deterministic: the convolution is the only difference
    graph, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(params, rest):
        with forcing(PLANS[plan]):
            out = nnx.merge(graph, params, rest)(x)
        return jnp.mean(jax.nn.logsumexp(out, -1) - jnp.take_along_axis(out, y[:, None], 1)), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params, rest)
    return out, nnx.to_pure_dict(grads)


@pytest.mark.parametrize("plan", [name for name in PLANS if name != "xla"])
@pytest.mark.parametrize("arch", jaxcnn.ARCHITECTURES)
def test_models_equal_under_every_plan(arch: str, plan: str) -> None:
    images, labels = real_test_set("fashion_mnist")
    x, y = jnp.asarray(images[:37]), jnp.asarray(labels[:37])
    out_ref, grads_ref = _model_outputs_and_grads(arch, "xla", x, y)
    out, grads = _model_outputs_and_grads(arch, plan, x, y)
    assert_float32_close(out, out_ref, f"{arch} outputs under {plan}")
    for path, want in jax.tree_util.tree_leaves_with_path(grads_ref):
        got = grads
        for key in path:
            got = got[key.key]
        # near-ties in a max pool may route a gradient differently: compare in aggregate
        assert float(jnp.linalg.norm(got - want)) <= 1e-4 * float(jnp.linalg.norm(want)) + 1e-7, (
            f"{arch} {jax.tree_util.keystr(path)} under {plan}")


def test_dropout2d_mask_is_the_same_in_every_layout() -> None:
    images, _ = real_test_set("mnist")
    x = jnp.asarray(images[:16])
    outputs = {}
    for plan in ("xla", "gemm"):
        model = jaxcnn.create_model("dropout", seed=5)
        model.train()
        with forcing(PLANS[plan]):
            outputs[plan] = np.asarray(model(x))
    assert_float32_close(outputs["gemm"], outputs["xla"], "train-mode outputs")
