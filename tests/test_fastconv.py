"""The slices + matmul convolution equals XLA's on real images, forward and gradients, and
``layers.conv`` picks it as documented while keeping ``nnx.Conv``'s parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import real_test_set

from jaxcnn import fastconv
from jaxcnn.layers import conv


def _pair(c_in: int, c_out: int, k: int, padding: int) -> tuple[nnx.Conv, nnx.Conv]:
    """The same layer (same weights) with XLA's convolution and with the slices one."""
    layers = []
    for name in ("xla", "slices"):
        layer = nnx.Conv(c_in, c_out, (k, k), padding=((padding, padding), (padding, padding)),
                         conv_general_dilated=fastconv.choose(name), rngs=nnx.Rngs(3))
        layers.append(layer)
    return layers[0], layers[1]


def _inputs(c_in: int) -> jax.Array:
    images, _ = real_test_set("mnist")
    x = images[:16]
    if c_in > 1:  # several channels from real images: shifted and negated copies
        x = np.concatenate([np.roll(x, i, axis=2) * (-1) ** i for i in range(c_in)], axis=-1)
    return jnp.asarray(x)


@pytest.mark.parametrize("padding", [0, 2])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize(("c_in", "c_out"), [(1, 6), (6, 16)])
def test_slices_equal_xla_forward_and_gradients(c_in, c_out, kernel, padding):
    xla, slices = _pair(c_in, c_out, kernel, padding)
    np.testing.assert_array_equal(slices.kernel[...], xla.kernel[...])
    x = _inputs(c_in)
    cotangent = jnp.asarray(np.random.default_rng(0).standard_normal(
        xla(x).shape).astype(np.float32))

    def grads(layer):
        def loss(kernel, bias, x):
            out = layer.conv_general_dilated(
                x, kernel, (1, 1), [(padding, padding)] * 2,
                dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
            return jnp.sum(out * cotangent), out
        return jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))(
            layer.kernel[...], layer.bias[...], x)

    (gk_x, gb_x, gi_x), out_x = grads(xla)
    (gk_s, gb_s, gi_s), out_s = grads(slices)
    np.testing.assert_allclose(nnx.jit(slices)(x), nnx.jit(xla)(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_s, out_x, rtol=1e-5, atol=1e-5)
    for got, want in ((gk_s, gk_x), (gb_s, gb_x), (gi_s, gi_x)):
        scale = float(jnp.max(jnp.abs(want)))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


def test_other_convolutions_fall_back_to_xla():
    x = _inputs(1)
    kernel = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, 1, 4)), jnp.float32)
    for strides, padding in (((2, 2), "VALID"), ((1, 1), "SAME")):
        args = (x, kernel, strides, padding)
        kwargs = {"dimension_numbers": ("NHWC", "HWIO", "NHWC")}
        np.testing.assert_array_equal(fastconv.slices_conv_general_dilated(*args, **kwargs),
                                      jax.lax.conv_general_dilated(*args, **kwargs))


def test_layers_conv_choice_and_override(monkeypatch):
    monkeypatch.delenv(fastconv.ENV_VAR, raising=False)
    default = conv(1, 6, 5, rngs=nnx.Rngs(0))
    assert default.conv_general_dilated is jax.lax.conv_general_dilated
    for name in fastconv.IMPLEMENTATIONS:
        monkeypatch.setenv(fastconv.ENV_VAR, name)
        layer = conv(1, 6, 5, rngs=nnx.Rngs(0))
        assert layer.conv_general_dilated is fastconv.choose(name)
        assert isinstance(layer, nnx.Conv)
        assert layer.kernel.shape == (5, 5, 1, 6) and layer.bias.shape == (6,)
        np.testing.assert_array_equal(layer.kernel[...], default.kernel[...])
    monkeypatch.setenv(fastconv.ENV_VAR, "cudnn")
    with pytest.raises(ValueError, match="JAXCNN_CONV"):
        conv(1, 6, 5, rngs=nnx.Rngs(0))
