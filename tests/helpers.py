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

import numpy as np
import pytest

from jaxcnn.data import DataError, load, to_tensor
from jaxcnn.parity.gradients import (  # noqa: F401  (re-exported for the tests)
    away_from_kinks,
    jax_forward,
    jax_grads,
    jax_loss,
    torch_forward,
    torch_grads,
    torch_loss,
)
from jaxcnn.parity.variants import (  # noqa: F401  (re-exported for the tests)
    DATASETS,
    LOSSES,
    VARIANTS,
    example_batch,
    make_pair,
    param_count_jax,
    param_count_torch,
    rgb32,
    to_nchw,
)
from jaxcnn.parity.variants import inputs_for as _inputs_for

REPO_ROOT = Path(__file__).resolve().parents[1]


def host_array(leaf) -> np.ndarray:
    """A JAX state leaf on the host; an RNG key as its raw key data."""
    import jax

    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def state_arrays(model) -> dict[str, np.ndarray]:
    """Every array of an NNX model's state (parameters, statistics, RNG keys and counts) by path."""
    import jax
    from flax import nnx

    return {jax.tree_util.keystr(path): host_array(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(nnx.state(model))[0]}


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


def inputs_for(options: dict, name: str, start: int, count: int,
               test_set=real_test_set) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real test images from ``start`` (3-channel 32×32 ones when the options say so)."""
    return _inputs_for(options, name, start, count, test_set)
