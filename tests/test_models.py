"""Model construction: init laws against PyTorch's, errors, ``summary``, ``conv_output_size``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import param_count_jax, state_arrays

import jaxcnn
import torch_ref
from jaxcnn import convert

# Seeds per architecture: 200 for the small ones, fewer where fc1 alone has 10^5+ weights.
INIT_SEEDS = {"padded": 40, "dropout": 60, "classic": 200, "lenet3x3": 200, "lenet": 200}
SIGMAS = 5.0


def _flax_init_moments(arch: str, seeds: int) -> dict[str, np.ndarray]:
    """Per seed and PyTorch name: (sum, sum of squares, max |w|) of Flax's fresh parameters."""

    def moments(seed: jax.Array) -> dict[str, jax.Array]:
        model = jaxcnn.create_model(arch, seed=seed)
        out = {}
        for attr, prefix in model.torch_names.items():
            layer = getattr(model, attr)
            for flax_name, torch_name in (("kernel", "weight"), ("bias", "bias")):
                w = getattr(layer, flax_name)[...]
                out[f"{prefix}.{torch_name}"] = jnp.stack(
                    [w.sum(), jnp.square(w).sum(), jnp.abs(w).max()])
        return out

    result = jax.jit(jax.vmap(moments))(jnp.arange(seeds))
    return {k: np.asarray(v, dtype=np.float64) for k, v in result.items()}


def _torch_init_moments(arch: str, seeds: int) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {}
    for seed in range(seeds):
        for name, p in torch_ref.create_model(arch, seed=seed).named_parameters():
            w = p.detach().double()
            rows.setdefault(name, []).append([w.sum(), w.square().sum(), w.abs().max()])
    return {k: np.array(v, dtype=np.float64) for k, v in rows.items()}


@pytest.mark.parametrize("arch", jaxcnn.ARCHITECTURES)
def test_init_distributions_match(arch: str) -> None:
    """Both frameworks draw every tensor from U(-b, b), b = 1/sqrt(fan_in).

    Compared: the mean and the mean square (= variance, std², about the known mean 0) of all
    entries of each tensor over the seeds, between frameworks and against the uniform law.

    Over ``n`` = seeds × entries iid draws of U(-b, b): the mean has std sqrt(σ²/n) with
    σ² = b²/3, and the mean square (the variance about the known mean 0) has std
    sqrt((E w⁴ - σ⁴)/n) = sqrt((b⁴/5 - b⁴/9)/n) = sqrt(4b⁴/(45n)). A difference of two
    independent such estimates has sqrt(2) times that std. Each check allows 5 standard
    deviations: about 6e-7 false alarms per check (a few hundred checks here), while a wrong
    bound (e.g. the 1/fan_in vs 1/sqrt(fan_in) or a factor sqrt(3) mistake) is off by hundreds
    of sigmas. The seeds are fixed, so the outcome is deterministic.
    """
    seeds = INIT_SEEDS[arch]
    flax_m = _flax_init_moments(arch, seeds)
    torch_m = _torch_init_moments(arch, seeds)
    assert flax_m.keys() == torch_m.keys()
    weights = dict(torch_ref.create_model(arch).named_parameters())
    for name, p in weights.items():
        weight = weights[name.rsplit(".", 1)[0] + ".weight"]
        fan_in = weight[0].numel()  # in_channels × kernel area, or in_features
        b = 1.0 / math.sqrt(fan_in)
        n = seeds * p.numel()
        stats = {}
        for label, m in (("flax", flax_m[name]), ("torch", torch_m[name])):
            mean, mean_sq = m[:, 0].sum() / n, m[:, 1].sum() / n
            stats[label] = (mean, mean_sq, m[:, 2].max())
            assert abs(mean) <= SIGMAS * math.sqrt(b * b / 3 / n), (label, name)
            assert abs(mean_sq - b * b / 3) <= SIGMAS * math.sqrt(4 * b**4 / 45 / n), (label, name)
            # The bound itself: never exceeded (b rounded up to the next float32), and nearly
            # reached: P(max |w| < b(1 - 14/n)) = (1 - 14/n)^n ≈ e^-14 for n draws.
            assert m[:, 2].max() <= np.nextafter(np.float32(b), np.float32(1)), (label, name)
            assert m[:, 2].max() >= b * (1 - 14 / n), (label, name)
        (fm, fsq, _), (tm, tsq, _) = stats["flax"], stats["torch"]
        assert abs(fm - tm) <= SIGMAS * math.sqrt(2 * b * b / 3 / n), name
        assert abs(fsq - tsq) <= SIGMAS * math.sqrt(2 * 4 * b**4 / 45 / n), name


def test_batchnorm_initial_state_matches_torch() -> None:
    flax_state = convert.to_torch(jaxcnn.create_model("lenet", batchnorm=True))
    for name, value in torch_ref.create_model("lenet", batchnorm=True).state_dict().items():
        if ".1." in name or ".5." in name:  # the two BatchNorm1d layers
            assert np.array_equal(flax_state[name], value.numpy()), name


@pytest.mark.parametrize("create", [jaxcnn.create_model, torch_ref.create_model],
                         ids=["jaxcnn", "torch_ref"])
def test_create_model_errors(create) -> None:
    with pytest.raises(ValueError) as err:
        create("resnet")
    assert all(arch in str(err.value) for arch in jaxcnn.ARCHITECTURES)
    for arch in jaxcnn.ARCHITECTURES:
        with pytest.raises(ValueError) as err:
            create(arch, batch_norm=True)
        assert "batch_norm" in str(err.value)
        assert all(option in str(err.value) for option in jaxcnn.OPTIONS[arch])
        with pytest.raises(ValueError, match="pool"):
            create(arch, pool="min")
    with pytest.raises(ValueError, match="dropout"):
        create("classic", dropout=0.5)


SUMMARY_CASES = [(arch, options) for arch in jaxcnn.ARCHITECTURES
                 for options in ({}, {"batchnorm": True, "dropout": 0.5},
                                 {"in_channels": 3, "image_size": 32})
                 if set(options) <= set(jaxcnn.OPTIONS[arch])]


@pytest.mark.parametrize(("arch", "options"), SUMMARY_CASES, ids=str)
def test_summary(arch: str, options: dict) -> None:
    model = jaxcnn.create_model(arch, **options)
    size, channels = options.get("image_size", 28), options.get("in_channels", 1)
    text = jaxcnn.summary(model, (size, size, channels))
    assert text == jaxcnn.summary(model, (1, size, size, channels))
    for attr in [*model.torch_names, "pool"]:
        assert f"{attr} (" in text, attr
    total = param_count_jax(model)
    assert total == sum(p.numel() for p in torch_ref.create_model(arch, **options).parameters())
    assert text.splitlines()[-1].split() == ["total", f"{total:,}"]
    assert f"(1, {options.get('num_classes', 10)})" in text.splitlines()[-3]


def test_conv_output_size_matches_torch() -> None:
    """Against ``F.conv2d``'s and ``F.max_pool2d``'s actual output sizes over a grid."""
    checked = 0
    for size in range(1, 13):
        for kernel in range(1, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    for dilation in (1, 2):
                        x = torch.zeros(1, 1, size, size)
                        try:
                            expected = F.conv2d(x, torch.zeros(1, 1, kernel, kernel),
                                                stride=stride, padding=padding,
                                                dilation=dilation).shape[-1]
                        except RuntimeError:
                            with pytest.raises(ValueError):
                                jaxcnn.conv_output_size(size, kernel, stride, padding, dilation)
                            continue
                        got = jaxcnn.conv_output_size(size, kernel, stride, padding, dilation)
                        assert got == expected, (size, kernel, stride, padding, dilation)
                        if 2 * padding <= kernel:  # max_pool2d's own padding limit
                            pooled = F.max_pool2d(x, kernel, stride, padding, dilation).shape[-1]
                            assert got == pooled, (size, kernel, stride, padding, dilation)
                        checked += 1
    assert checked > 500


def _op_by_op(arch: str, seed: int, **options):
    """A model built as create_model built it before it compiled the construction: eagerly,
    one compiled program per initialiser."""
    from flax import nnx

    from jaxcnn.net.models import MODELS

    params_key, dropout_key = jax.random.split(jax.random.key(seed))
    return MODELS.model_class(arch, options)(
        **options, rngs=nnx.Rngs(params=params_key, dropout=dropout_key))


@pytest.mark.parametrize(("arch", "options"), [
    ("padded", {}), ("dropout", {"pool": "avg"}), ("classic", {}), ("lenet3x3", {"pool": "lp2"}),
    ("lenet", {"batchnorm": True, "dropout": 0.5}), ("lenet", {"in_channels": 3,
                                                                "image_size": 32})])
def test_compiled_construction_gives_the_op_by_op_weights(arch: str, options: dict) -> None:
    """create_model compiles the construction in one program; every parameter, batch statistic
    and RNG state is bit for bit what building it op by op gives, for any seed."""
    from flax import nnx

    for seed in (0, 11, 2**31 - 1):
        built, reference = jaxcnn.create_model(arch, seed=seed, **options), _op_by_op(
            arch, seed, **options)
        assert nnx.graphdef(built) == nnx.graphdef(reference)
        got, want = state_arrays(built), state_arrays(reference)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{arch} {name}")
