"""N seeds trained stacked (vmapped or lax.map'ped) end with the weights each seed has alone.

Tolerances from measurement (this machine, jax 0.10.2): over 2 epochs of 13 steps (a last
partial batch included; the test runs 1 epoch) with SGD lr 0.01, momentum 0.9, ``lenet`` with
batch norm and dropout differs from the same seeds trained alone by at most 5.5e-7 in a
parameter, 5.5e-6 in a running batch-norm statistic and 1.04e-5 in a momentum buffer (the
vmapped convolutions and matmuls round differently); step counts and the dropout RNG keys and
counters are identical. Adam, or a learning rate at the edge of stability, amplifies such
rounding into larger differences (the README's parity section explains why), so the test uses
this SGD; the bounds are 5x the measurements.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from data_helpers import mnist_dir, require_idx
from helpers import host_array

from jaxcnn.data import batch_indices, load, preprocess
from jaxcnn.net.registry import create_model
from jaxcnn.studies.multiseed import MAPPINGS, MultiSeedEngine, seed_batches
from jaxcnn.training.engine import Engine
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import get_recipe

SEEDS = (0, 3, 7)
OPTIONS = {"batchnorm": True, "dropout": 0.5}
N, BATCH, EPOCHS = 16 * 12 + 5, 16, 1
PARAM_TOLERANCE = 5 * 5.5e-7
STATE_TOLERANCE = 5 * 1.04e-5  # momentum buffers and running batch-norm statistics


@pytest.fixture(scope="module")
def data():
    train = load("mnist", "train", data_dir=require_idx(mnist_dir(), "MNIST"))
    return jnp.asarray(preprocess(train.images[:N], "none")), jnp.asarray(train.labels[:N])


def _engine(cls, model, **kwargs):
    tx = make_optimizer(get_recipe("classic").replace(lr=0.01))  # sgd, momentum 0.9
    return cls(model, tx, get_loss("cross_entropy"), **kwargs)


@pytest.fixture(scope="module")
def alone(data):
    """Each seed trained alone by :class:`Engine`: (final state, last epoch's metrics, eval)."""
    images, labels = data
    single = _engine(Engine, create_model("lenet", **OPTIONS))
    results = []
    for seed in SEEDS:
        state = single.create_train_state(create_model("lenet", seed=seed, **OPTIONS))
        for epoch in range(EPOCHS):
            state, metrics = single.train_epoch(state, images, labels,
                                                batch_indices(N, BATCH, seed=seed, epoch=epoch),
                                                epoch=epoch + 1, progress=False)
        results.append((state, metrics, single.evaluate(state, images[:100], labels[:100])))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("mapping", MAPPINGS)
def test_each_seed_trains_as_it_would_alone(data, alone, mapping):
    images, labels = data
    models = [create_model("lenet", seed=s, **OPTIONS) for s in SEEDS]
    multi = _engine(MultiSeedEngine, models[0], mapping=mapping)
    state = multi.stack_states(models)
    for epoch in range(EPOCHS):
        state, together = multi.train_epoch(state, images, labels,
                                            seed_batches(N, BATCH, SEEDS, epoch=epoch),
                                            epoch=epoch + 1, progress=False)
    evaluation = multi.evaluate(state, images[:100], labels[:100])
    for i, (expected_state, metrics, expected) in enumerate(alone):
        mine = MultiSeedEngine.seed_state(state, i)
        for a, b in zip(jax.tree.leaves(expected_state.params), jax.tree.leaves(mine.params),
                        strict=True):
            np.testing.assert_allclose(host_array(b), host_array(a), rtol=0, atol=PARAM_TOLERANCE)
        exact = 0
        for a, b in zip(jax.tree.leaves(expected_state), jax.tree.leaves(mine), strict=True):
            if jnp.issubdtype(a.dtype, jnp.floating):
                np.testing.assert_allclose(host_array(b), host_array(a), rtol=0,
                                           atol=STATE_TOLERANCE)
            else:  # step, batch counts, the dropout stream's key and counter
                np.testing.assert_array_equal(host_array(b), host_array(a))
                exact += 1
        assert exact == 5
        assert together[i].examples == metrics.examples == N
        assert together[i].loss == pytest.approx(metrics.loss, rel=1e-5)
        assert evaluation["accuracy"][i] == pytest.approx(expected["accuracy"], abs=0.011)
    assert len({m.loss for m in together}) == len(SEEDS)  # the seeds really differ


def test_seed_batches_stacks_each_seeds_order():
    batches = seed_batches(10, 4, (1, 2), epoch=3)
    assert [b.shape for b in batches] == [(2, 4), (2, 4), (2, 2)]
    for row, seed in enumerate((1, 2)):
        alone = batch_indices(10, 4, seed=seed, epoch=3)
        for step, batch in enumerate(batches):
            np.testing.assert_array_equal(batch[row], alone[step])


def test_stack_states_needs_models_and_create_train_state_is_refused():
    model = create_model("classic")
    engine = _engine(MultiSeedEngine, model)
    with pytest.raises(ValueError, match="models"):
        engine.stack_states([])
    with pytest.raises(TypeError, match="stack_states"):
        engine.create_train_state(model)
    with pytest.raises(ValueError, match="mapping"):
        _engine(MultiSeedEngine, model, mapping="pmap")


@pytest.mark.parametrize("per_call", [3, 32])
def test_evaluation_runs_several_batches_per_dispatch_with_the_same_outputs(data, per_call):
    """With ``steps_per_call`` > 1 (the default on a GPU), evaluation runs up to that many full
    batches per dispatch (lax.map) and the partial last one alone: the outputs are those of one
    batch per dispatch, for one model and for stacked seeds (7 batches of 25 and one of 22)."""
    images, labels = data
    models = [create_model("lenet", seed=s, **OPTIONS) for s in SEEDS]
    one, chunked = (_engine(Engine, models[0], steps_per_call=k) for k in (1, per_call))
    state = one.create_train_state(models[0])
    expected = one.predict(state, images, batch_size=25)
    got = chunked.predict(state, images, batch_size=25)
    assert got.shape == expected.shape == (N, 10)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    multi_one, multi_chunked = (_engine(MultiSeedEngine, models[0], steps_per_call=k,
                                        mapping="vmap") for k in (1, per_call))
    stacked = multi_one.stack_states(models)
    expected = multi_one.evaluate(stacked, images, labels, batch_size=25)
    got = multi_chunked.evaluate(stacked, images, labels, batch_size=25)
    assert got["outputs"].shape == (len(SEEDS), N, 10)
    np.testing.assert_allclose(got["outputs"], expected["outputs"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got["accuracy"], expected["accuracy"])
