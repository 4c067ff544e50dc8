"""Data-parallel training: 4 (virtual CPU) devices give the weights of 1 device.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before jax is imported, so the
runs are subprocesses of ``scripts/train.py``. Measured on this machine: after 4 epochs of 5
steps (lenet, batch 64 with a last batch of 6 that runs replicated, SGD lr 0.05 momentum 0.9),
the largest parameter difference between 1 and 4 devices is 1.5e-8 (float32 summation order of
the all-reduced gradients); the test runs 2 epochs and bounds it at 5x that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_helpers import REPO_ROOT, fashion_dir, require_idx
from safetensors.numpy import load_file

TRAIN = REPO_ROOT / "scripts" / "train.py"
ENV = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
MEASURED = 1.5e-8
SUBSET = str(64 * 4 + 6)


def _train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRAIN), "--arch", "lenet", "--subset", SUBSET,
                           "--no-progress", *args], capture_output=True, text=True, env=ENV,
                          cwd=REPO_ROOT, timeout=300)


@pytest.mark.slow
def test_four_devices_train_the_weights_of_one(tmp_path: Path) -> None:
    data = str(require_idx(fashion_dir(), "Fashion-MNIST"))
    weights = {}
    for devices in (1, 4):
        out = tmp_path / f"d{devices}"
        result = _train("--data-dir", data, "--epochs", "2", "--lr", "0.05", "--momentum",
                        "0.9", "--devices", str(devices), "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        weights[devices] = load_file(out / "model.safetensors")
    diffs = {k: float(np.max(np.abs(weights[1][k] - weights[4][k]))) for k in weights[1]}
    print("max abs parameter difference, 1 vs 4 devices:", max(diffs.values()))
    assert max(diffs.values()) <= 5 * MEASURED, diffs
    moved = load_file(tmp_path / "d1" / "model.safetensors")["conv_stack.0.weight"]
    assert np.ptp(moved) > 0  # trained weights, not a trivial comparison


def test_batch_size_must_divide_by_devices() -> None:
    result = _train("--batch-size", "10", "--devices", "4", "--epochs", "1")
    assert result.returncode == 2
    assert "--batch-size 10" in result.stderr and "--devices 4" in result.stderr


def test_more_devices_than_visible_is_an_error() -> None:
    result = _train("--devices", "8", "--epochs", "1")
    assert result.returncode == 2
    assert "--devices 8" in result.stderr and "4 cpu device(s)" in result.stderr
