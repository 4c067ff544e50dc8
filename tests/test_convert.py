"""``jaxcnn.convert``: exact round trips in both directions, and all-or-nothing loading."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from flax import nnx
from helpers import VARIANTS

import jaxcnn
import torch_ref
from jaxcnn import convert


def trained_looking_torch(arch: str, options: dict) -> torch.nn.Module:
    """A PyTorch model whose BatchNorm statistics are no longer their initial 0, 1 and 0."""
    model = torch_ref.create_model(arch, seed=1, **options)
    size, channels = options.get("image_size", 28), options.get("in_channels", 1)
    generator = torch.Generator().manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(16, channels, size, size, generator=generator))
    return model


def flax_leaves(model: nnx.Module) -> list[np.ndarray]:
    """The model's parameters and batch statistics (not its RNG state)."""
    state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
    return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def assert_same_leaves(before: list[np.ndarray], after: list[np.ndarray]) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("variant", VARIANTS)
def test_torch_flax_torch_is_exact(variant: str) -> None:
    arch, options = VARIANTS[variant]
    torch_model = trained_looking_torch(arch, options)
    expected = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    flax_model = jaxcnn.create_model(arch, seed=2, **options)
    convert.from_torch(flax_model, torch_model.state_dict())
    back = convert.to_torch(flax_model)
    assert list(back) == list(expected)  # same names, same order as state_dict()
    for name, value in expected.items():
        assert back[name].dtype == value.dtype, name
        assert back[name].shape == value.shape, name
        assert np.array_equal(back[name], value), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_flax_torch_flax_is_exact(variant: str) -> None:
    arch, options = VARIANTS[variant]
    source = jaxcnn.create_model(arch, seed=3, **options)
    torch_model = torch_ref.create_model(arch, seed=4, **options)
    state = {k: torch.from_numpy(v) for k, v in convert.to_torch(source).items()}
    torch_model.load_state_dict(state, strict=True)
    target = jaxcnn.create_model(arch, seed=5, **options)
    convert.from_torch(target, torch_model.state_dict())
    assert_same_leaves(flax_leaves(source), flax_leaves(target))


def test_loaded_weights_are_copies() -> None:
    """In-place PyTorch updates after ``from_torch`` leave the Flax model alone."""
    torch_model = torch_ref.create_model("lenet")
    flax_model = jaxcnn.create_model("lenet")
    convert.from_torch(flax_model, torch_model.state_dict())
    before = flax_leaves(flax_model)
    with torch.no_grad():
        for p in torch_model.parameters():
            p.add_(1.0)
    assert_same_leaves(before, flax_leaves(flax_model))


def _last_weight(state: dict) -> str:
    return [k for k in state if k.endswith(".weight")][-1]


def _broken(state: dict, case: str) -> tuple[dict, str]:
    """A copy of ``state`` whose first layer holds valid new values, broken as ``case`` says."""
    state = {k: v.clone() for k, v in state.items()}
    first = next(iter(state))
    state[first] += 1.0  # valid, and different from the target model's values
    last = _last_weight(state)
    if case == "missing":
        del state[last]
        return state, last
    if case == "unexpected":
        state["extra.weight"] = torch.zeros(3)
        return state, "extra.weight"
    state[last] = torch.zeros(state[last].shape[0], state[last].shape[1] + 1)
    return state, last


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_state_dict_raises_and_loads_nothing(variant: str, case: str) -> None:
    arch, options = VARIANTS[variant]
    state, name = _broken(torch_ref.create_model(arch, seed=1, **options).state_dict(), case)
    flax_model = jaxcnn.create_model(arch, seed=2, **options)
    before = flax_leaves(flax_model)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        convert.from_torch(flax_model, state)
    assert_same_leaves(before, flax_leaves(flax_model))


def test_to_torch_matches_state_dict_layout() -> None:
    """Names, shapes and dtypes of ``to_torch`` are the PyTorch model's, option by option."""
    for arch, options in VARIANTS.values():
        expected = torch_ref.create_model(arch, **options).state_dict()
        state = convert.to_torch(jaxcnn.create_model(arch, **options))
        assert list(state) == list(expected), (arch, options)
        for name, value in expected.items():
            assert state[name].shape == tuple(value.shape), name
            assert state[name].dtype == value.numpy().dtype, name
