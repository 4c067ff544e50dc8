"""scripts/bench.py --quick runs and writes sane JSON and Markdown (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from data_helpers import REPO_ROOT
from helpers import data_dir

from jaxcnn.bench.measure import baseline_key

ARCHS = ("classic", "lenet3x3")
VARIANTS = (baseline_key(), "torch", "torch-notebook")  # one JAX variant: compiles are slow


def _positive_stats(stats: dict) -> None:
    assert stats["median"] > 0 and 0 < stats["min"] <= stats["median"] <= stats["max"]
    assert len(stats["values"]) == 2  # --quick: 2 repeats


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    mnist = data_dir("mnist")
    if not mnist.is_dir():
        pytest.skip(f"real MNIST not available in {mnist}")
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "bench.py"), "--quick",
               "--train-images", "100", "--test-images", "100", "--out", str(out),
               "--data-dir", f"mnist={mnist}"]
    for arch in ARCHS:
        command += ["--arch", arch]
    for variant in VARIANTS:
        command += ["--variant", variant]
    subprocess.run(command, check=True, cwd=REPO_ROOT, timeout=600)
    return out


def test_json_schema(quick_run):
    report = json.loads((quick_run / "bench.json").read_text())
    machine = report["machine"]
    assert machine["threads"] >= 1 and machine["torch_threads"] == machine["threads"]
    assert machine["jax_devices"] and machine["versions"]["jax"]
    if machine["jax_backend"] == "cpu":
        assert machine["peak_flops"] > 0 and "FLOP/cycle" in machine["peak_derivation"]
    assert report["baseline"] == VARIANTS[0] and report["repeats"] == 2
    rows = report["results"]
    assert [(r["arch"], r["recipe_batch_size"]) for r in rows] == [(a, True) for a in ARCHS]
    for row in rows:
        assert row["train_images"] == 100 and not row["whole_epoch"]
        assert row["flops_per_image"]["train"] > 2 * row["flops_per_image"]["forward"] > 0
        assert set(row["variants"]) == set(VARIANTS)
        for key, result in row["variants"].items():
            assert result["status"] == "ok", (key, result)
            _positive_stats(result["train_images_per_s"])
            _positive_stats(result["infer_images_per_s"])
            assert result["compile_s"] >= 0 and result["infer_compile_s"] >= 0
            assert result["jaxcnn_speedup_train"]["median"] > 0
            if machine["jax_backend"] == "cpu":
                assert 0 < result["train_peak_fraction"] < 1
        baseline = row["variants"][report["baseline"]]
        assert baseline["jaxcnn_speedup_train"]["values"] == [1.0, 1.0]


def test_markdown_tables(quick_run):
    text = (quick_run / "bench.md").read_text()
    assert "## Targets" in text and "## Throughput" in text and "GFLOP/s" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    for arch in ARCHS:
        assert any(line.startswith(f"| {arch} | ") and ("(met)" in line or "(missed)" in line)
                   for line in lines)
        rows = [line for line in lines if line.startswith(f"| {arch} | ") and "(subset)" in line]
        assert len(rows) == len(VARIANTS)
