"""Seeded batch order: reproducible across runs and processes, DataLoader-shaped batches."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from data_helpers import REPO_ROOT

from jaxcnn.data import batch_indices, epoch_order, num_batches


def test_same_seed_same_order_and_a_permutation():
    a = epoch_order(1000, seed=7, epoch=3)
    np.testing.assert_array_equal(a, epoch_order(1000, seed=7, epoch=3))
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    assert a.dtype == np.int64


def test_different_seeds_and_epochs_differ():
    base = epoch_order(1000, seed=0, epoch=0)
    assert not np.array_equal(base, epoch_order(1000, seed=1, epoch=0))
    assert not np.array_equal(base, epoch_order(1000, seed=0, epoch=1))
    assert not np.array_equal(epoch_order(1000, seed=1, epoch=0), epoch_order(1000, seed=0,
                                                                               epoch=1))


def test_same_order_in_another_process():
    code = ("from jaxcnn.data import batch_indices; import numpy as np; "
            "print(np.concatenate(batch_indices(1000, 64, seed=42, epoch=5)).tolist())")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True)
    here = np.concatenate(batch_indices(1000, 64, seed=42, epoch=5)).tolist()
    assert out.stdout.strip() == str(here)


def test_pinned_order_does_not_drift():
    # PCG64 seeded by [seed, epoch]: NumPy keeps this stream stable across versions.
    assert epoch_order(10, seed=0, epoch=0).tolist() == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]


def test_partial_last_batch_kept_and_drop_last():
    batches = batch_indices(10, 4, seed=0, epoch=0)
    assert [len(b) for b in batches] == [4, 4, 2] and num_batches(10, 4) == 3
    np.testing.assert_array_equal(np.concatenate(batches), epoch_order(10, seed=0, epoch=0))
    dropped = batch_indices(10, 4, seed=0, epoch=0, drop_last=True)
    assert [len(b) for b in dropped] == [4, 4] and num_batches(10, 4, drop_last=True) == 2
    assert num_batches(8, 4) == 2 and num_batches(0, 4) == 0


def test_no_shuffle_is_in_order_like_a_dataloader():
    torch = pytest.importorskip("torch")
    batches = batch_indices(10, 4, seed=0, epoch=0, shuffle=False)
    loader = torch.utils.data.DataLoader(range(10), batch_size=4, shuffle=False)
    assert [b.tolist() for b in batches] == [b.tolist() for b in loader]


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"batch_size": 0}, {"seed": -1}, {"epoch": 1.5}])
def test_bad_arguments(kwargs):
    args = {"n": 10, "batch_size": 4, "seed": 0, "epoch": 0, **kwargs}
    with pytest.raises(ValueError, match="must be an integer"):
        batch_indices(args.pop("n"), args.pop("batch_size"), **args)
