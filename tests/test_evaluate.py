"""scripts/evaluate.py on hand-made run directories of both frameworks, and its errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from data_helpers import REPO_ROOT, fashion_dir, require_idx
from test_report import HISTORY, PNG_SIGNATURE, trained_lenet

import torch_ref
from jaxcnn.data import load, preprocess
from jaxcnn.net.convert import from_torch
from jaxcnn.net.registry import create_model
from jaxcnn.training.recipes import get_recipe

EVALUATE = REPO_ROOT / "scripts" / "evaluate.py"


def evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EVALUATE), *map(str, args)], capture_output=True,
                          text=True, timeout=180)


def printed_accuracy(stdout: str) -> tuple[int, int]:
    correct, total = re.search(r"test accuracy: (\d+)/(\d+) = ", stdout).groups()
    return int(correct), int(total)


@pytest.fixture(scope="module")
def fashion():
    directory = require_idx(fashion_dir(), "Fashion-MNIST")
    return directory, load("fashion_mnist", "test", data_dir=directory)


@pytest.fixture(scope="module")
def weights(fashion) -> dict[str, np.ndarray]:
    """A briefly trained LeNet's state_dict (PyTorch names and layouts)."""
    test = fashion[1]
    model = trained_lenet(test.images[:1000], test.labels[:1000])
    return {k: v.numpy() for k, v in model.state_dict().items()}


def make_run(run_dir: Path, framework: str, weights: dict, data_dir: Path | None) -> Path:
    run_dir.mkdir()
    config = {"recipe": get_recipe("lenet").to_dict(), "framework": framework,
              "data": {"data_dir": None if data_dir is None else str(data_dir), "subset": None}}
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in HISTORY))
    safetensors.numpy.save_file(weights, str(run_dir / "model.safetensors"))
    return run_dir


def test_torch_run(tmp_path, fashion, weights):
    directory, test = fashion
    run_dir = make_run(tmp_path / "run", "torch", weights, data_dir=None)
    result = evaluate(run_dir, "--index", "0", "--data-dir", directory)
    assert result.returncode == 0, result.stderr

    model = torch_ref.create_model("lenet").eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    with torch.no_grad():
        outputs = model(torch.from_numpy(preprocess(test.images, "none").transpose(0, 3, 1, 2)
                                         .copy())).numpy()
    predictions = outputs.argmax(1)
    assert printed_accuracy(result.stdout) == (int((predictions == test.labels).sum()), 10000)
    assert "confusion matrix (rows: true class, columns: predicted class)" in result.stdout
    names = test.class_names
    assert (f"test image #0: predicted {names[predictions[0]]}, true {names[test.labels[0]]}"
            in result.stdout)
    assert (run_dir / "prediction_0.png").read_bytes()[:8] == PNG_SIGNATURE


def test_jax_run_with_report(tmp_path, fashion, weights):
    directory, test = fashion
    run_dir = make_run(tmp_path / "run", "jax", weights, data_dir=directory)  # found via config
    result = evaluate(run_dir, "--report")
    assert result.returncode == 0, result.stderr

    model = create_model("lenet")
    from_torch(model, weights)
    model.eval()
    predictions = np.asarray(model(preprocess(test.images, "none"))).argmax(1)
    correct = int((predictions == test.labels).sum())
    assert printed_accuracy(result.stdout) == (correct, 10000)
    assert "(jax)" in result.stdout
    report = (run_dir / "report.md").read_text()
    assert f"{correct}/10000 = {correct / 100:.2f}%" in report


def test_bad_run_dir(tmp_path):
    missing = evaluate(tmp_path / "absent")
    assert missing.returncode == 2
    assert "absent is not a directory" in missing.stderr and "Traceback" not in missing.stderr

    (tmp_path / "config.json").write_text(json.dumps({"framework": "jax"}))
    (tmp_path / "metrics.jsonl").write_text("")
    incomplete = evaluate(tmp_path)
    assert incomplete.returncode == 2
    assert "model.safetensors is missing" in incomplete.stderr
    assert "still running" in incomplete.stderr and "Traceback" not in incomplete.stderr


def test_index_out_of_range(tmp_path, fashion, weights):
    run_dir = make_run(tmp_path / "run", "torch", weights, data_dir=fashion[0])
    result = evaluate(run_dir, "--index", "10000")
    assert result.returncode == 2
    assert "--index 10000 is out of range" in result.stderr and "Traceback" not in result.stderr
