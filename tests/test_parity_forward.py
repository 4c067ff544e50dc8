"""Flax models against their PyTorch originals on real MNIST / Fashion-MNIST test images.

Same weights (PyTorch's init moved into Flax, or Flax's init into PyTorch, by the parity kit,
:mod:`jaxcnn.parity.kit`, whose inferred name map must be each model's ``torch_names``): equal
parameter counts, eval-mode outputs within 1e-5 and every layer within the kit's tolerance,
each notebook loss's gradients within rtol 1e-4 / atol 1e-6 (kit gradients, on the samples the
kit's kink mask keeps), and BatchNorm's train mode (outputs, running statistics).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flax import nnx
from helpers import (
    DATASETS,
    LOSSES,
    VARIANTS,
    away_from_kinks,
    example_batch,
    inputs_for,
    jax_forward,
    jax_grads,
    make_pair,
    param_count_jax,
    param_count_torch,
    torch_forward,
    torch_grads,
)

import jaxcnn
import torch_ref
from jaxcnn import convert
from jaxcnn.parity import kit

FORWARD_IMAGES = 1024  # per data set
FORWARD_ATOL = 1e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6
# (data set, first image, batch size): held-out from the forward images' range.
GRAD_BATCHES = (("mnist", 1024, 128), ("fashion_mnist", 1024, 128), ("mnist", 2048, 256))
NOTEBOOK_PARAMS = {"dropout": 206_390, "lenet3x3": 60_074}  # printed in notebooks 001 and 003


def datasets_for(options: dict) -> tuple[str, ...]:
    """The 3-channel 32×32 form is fed images built from Fashion-MNIST (see ``helpers.rgb32``)."""
    return ("fashion_mnist",) if options.get("in_channels") == 3 else DATASETS


def grad_batches(options: dict) -> list[tuple[str, int, int]]:
    rgb = options.get("in_channels") == 3
    return [("fashion_mnist" if rgb else name, start, size) for name, start, size in GRAD_BATCHES]


def assert_grads_close(jax_g: dict, torch_g: dict) -> None:
    assert jax_g.keys() == torch_g.keys()
    for name, expected in torch_g.items():
        assert jax_g[name].shape == expected.shape, name
        np.testing.assert_allclose(jax_g[name], expected, rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                   err_msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_counts(variant: str) -> None:
    arch, options = VARIANTS[variant]
    flax_model = jaxcnn.create_model(arch, **options)
    torch_model = torch_ref.create_model(arch, **options)
    assert param_count_jax(flax_model) == param_count_torch(torch_model)
    if arch in NOTEBOOK_PARAMS and "in_channels" not in options:
        assert param_count_torch(torch_model) == NOTEBOOK_PARAMS[arch]


@pytest.mark.parametrize("variant", VARIANTS)
def test_kit_infers_each_models_torch_names(variant: str) -> None:
    arch, options = VARIANTS[variant]
    flax_model = jaxcnn.create_model(arch, **options)
    torch_model = torch_ref.create_model(arch, **options)
    pairs = kit.pair_models(torch_model, flax_model, example_batch(options), transfer_to=None)
    assert {p.torch_name: p.flax_name for p in pairs} == {
        prefix: attr for attr, prefix in flax_model.torch_names.items()}
    first_linear = next(p for p in pairs if p.kind == "linear")  # fed by the flatten
    assert [p for p in pairs if p.chw is not None] == [first_linear]
    h, w, c = flax_model.flat_shape
    assert first_linear.chw == (c, h, w)


@pytest.mark.parametrize("init", ["torch", "jax"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_eval(variant: str, init: str) -> None:
    arch, options = VARIANTS[variant]
    flax_model, torch_model = make_pair(arch, options, init=init)
    for name in datasets_for(options):
        x, _ = inputs_for(options, name, 0, FORWARD_IMAGES)
        report = kit.compare_ports(torch_model, flax_model, x.transpose(0, 3, 1, 2),
                                   transfer_to=None, check_batchnorm=False)
        assert report.output.shape == (FORWARD_IMAGES, options.get("num_classes", 10))
        diff = report.output.max_abs
        assert diff <= FORWARD_ATOL, f"{name}: max |Δ| = {diff:.3g}\n{report.table()}"
        assert report.first_divergence is None, report.table()


@pytest.mark.parametrize("init", ["torch", "jax"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_loss_gradients_eval(variant: str, init: str) -> None:
    arch, options = VARIANTS[variant]
    kind = LOSSES[arch]
    flax_model, torch_model = make_pair(arch, options, init=init)
    pairs = kit.pair_models(torch_model, flax_model, example_batch(options), transfer_to=None)
    for name, start, size in grad_batches(options):
        x, y = inputs_for(options, name, start, size)
        keep = away_from_kinks(torch_model, x)
        assert keep.sum() >= size // 3  # padded on Fashion-MNIST keeps about half
        (jax_loss, torch_loss), jax_g, torch_g = kit.gradient_arrays(
            pairs, torch_model, flax_model, x[keep].transpose(0, 3, 1, 2), y[keep], kind)
        assert jax_loss == pytest.approx(torch_loss, rel=1e-5, abs=1e-6)
        assert_grads_close(jax_g, torch_g)


def _check_batch_stats(flax_model: nnx.Module, torch_model: torch.nn.Module) -> None:
    state = convert.to_torch(flax_model)
    for name, expected in torch_model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            assert state[name] == expected.item(), name
        elif "running" in name:
            np.testing.assert_allclose(state[name], expected.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def test_batchnorm_train_mode() -> None:
    """Train-mode outputs and running statistics after several batches, then eval outputs."""
    flax_model, torch_model = make_pair("lenet", {"batchnorm": True}, init="torch")
    flax_model.train()
    torch_model.train()
    for step, (name, start, size) in enumerate(GRAD_BATCHES * 2):
        x, _ = inputs_for({}, name, start + 256 * step, size)
        out = np.asarray(jax_forward(flax_model, x))
        np.testing.assert_allclose(out, torch_forward(torch_model, x), rtol=0, atol=FORWARD_ATOL,
                                   err_msg=f"train-mode output, batch {step}")
        _check_batch_stats(flax_model, torch_model)
    assert int(flax_model.bn1.num_batches_tracked[...]) == 2 * len(GRAD_BATCHES)
    flax_model.eval()
    torch_model.eval()
    x, _ = inputs_for({}, "fashion_mnist", 0, FORWARD_IMAGES)
    np.testing.assert_allclose(np.asarray(jax_forward(flax_model, x)),
                               torch_forward(torch_model, x), rtol=0, atol=FORWARD_ATOL)


def test_batchnorm_train_mode_gradients() -> None:
    """Cross-entropy gradients through batch statistics; running statistics updated alike.

    No kink screening here: dropping samples would change the batch statistics themselves.
    """
    flax_model, torch_model = make_pair("lenet", {"batchnorm": True}, init="torch")
    flax_model.train()
    torch_model.train()
    for name, start, size in GRAD_BATCHES:
        x, y = inputs_for({}, name, start, size)
        jax_loss, jax_g = jax_grads(flax_model, x, y, "ce")
        torch_loss, torch_g = torch_grads(torch_model, x, y, "ce")
        assert jax_loss == pytest.approx(torch_loss, rel=1e-5, abs=1e-6)
        assert_grads_close(jax_g, torch_g)
        _check_batch_stats(flax_model, torch_model)


def test_kit_names_gradient_kinks_on_real_images() -> None:
    """``padded`` on Fashion-MNIST images 1024-1151: about half the samples sit within 1e-6 of a
    ReLU kink or a max-pool near-tie, where float32 rounding picks the side in each framework
    (measured: conv and fc1 gradients up to 3e-2 apart). The kit says so, and agrees on the
    others."""
    flax_model, torch_model = make_pair("padded", {}, init="torch")
    x, y = inputs_for({}, "fashion_mnist", 1024, 128)
    report = kit.compare_ports(torch_model, flax_model, x.transpose(0, 3, 1, 2), y=y, loss="nll",
                               transfer_to=None)
    assert not all(row.ok for row in report.gradients)
    assert report.gradient_note.startswith("Kinks: on the ")
    masked = kit.compare_ports(torch_model, flax_model, x.transpose(0, 3, 1, 2), y=y, loss="nll",
                               transfer_to=None, mask_kinks=True)
    assert masked.ok, masked.table()
