"""scripts/device_check.py: its dry run on the CPU (every section, tiny sizes, real data and
real PyTorch models) writes a complete report; a section that fails or does not fit the time
budget is recorded, and the others still run.

What the GPU run measures is not tested here (no GPU): only that the same code paths run and
report what they should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import REPO_ROOT, fashion_dir, mnist_dir, require_idx

from jaxcnn.devcheck import SECTIONS
from jaxcnn.devcheck.render import render
from jaxcnn.devcheck.runner import Budget, Runner

SCRIPT = REPO_ROOT / "scripts" / "device_check.py"


def data_root(tmp_path: Path) -> Path:
    """A folder laid out as the GPU run's ``.devdata``: ``<dir>/mnist`` and
    ``<dir>/fashion_mnist`` (links to the real IDX files)."""
    root = tmp_path / "devdata"
    root.mkdir()
    (root / "mnist").symlink_to(require_idx(mnist_dir(), "MNIST"))
    (root / "fashion_mnist").symlink_to(require_idx(fashion_dir(), "Fashion-MNIST"))
    return root


def run_script(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO_ROOT)


@pytest.mark.slow
def test_dry_run_reports_every_section(tmp_path):
    out = tmp_path / "out"
    result = run_script("--dry-run", "--data-dir", str(data_root(tmp_path)), "--out", str(out),
                        "--budget-s", "1200")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[device_check" in result.stdout  # progress lines
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["mode"] == "dry-run" and report["meta"]["backend"] == "cpu"
    sections = report["sections"]
    assert list(sections) == list(SECTIONS)
    assert {name: entry["status"] for name, entry in sections.items()} == dict.fromkeys(
        SECTIONS, "ok")

    env = sections["environment"]["result"]
    assert env["versions"]["jax"] and env["versions"]["torch"]
    assert env["gpu_memory"].startswith("XLA_PYTHON_CLIENT_PREALLOCATE=")

    parity = sections["parity"]["result"]["architectures"]
    assert parity  # the dry run's architectures, each measured under both policies
    for arch, row in parity.items():
        assert row["grad_images"] > 0, arch
        for policy in ("highest", "tf32"):
            figures = row[policy]
            assert figures["setting"]["policy"] == policy
            # On a CPU both policies are float32: the two frameworks agree to rounding.
            assert 0 <= figures["forward_max_abs"] < 1e-5, (arch, policy, figures)
            assert 0 <= figures["grad_max_abs"] < 1e-5, (arch, policy, figures)
            assert 0 <= figures["grad_max_rel"] < 1e-4, (arch, policy, figures)

    diagnosis = sections["gradient_diagnosis"]["result"]
    assert set(diagnosis) == {"default"}  # the autotuning-off child runs on a GPU only
    cases = diagnosis["default"]["cases"]
    assert set(cases) == {"padded-max", "padded-lp2", "padded-avg", "lenet"}
    for name, case in cases.items():
        assert case["grad_images"] > 0 and case["elements_outside_tolerance"] == 0, name
        for layer, errors in case["layers"].items():  # float32 on a CPU: near float64
            for side in ("jax", "torch"):
                assert 0 < errors[side]["max_rel"] < 1e-5, (name, layer, side, errors)
                assert errors[side]["sign_flips"] == 0, (name, layer, side, errors)
        for param, gaps in case["gradients"].items():
            assert 0 < gaps["jax_vs_f64"] < 1e-5 and 0 < gaps["torch_vs_f64"] < 1e-4, (
                name, param, gaps)

    recipe = sections["recipe"]["result"]
    assert recipe["arch"] == "lenet" and len(recipe["epoch_seconds"]) == recipe["epochs"] == 1
    assert 0 <= recipe["final_test_accuracy"] <= 1
    assert recipe["precision"]["policy"] == "default"

    for key, row in sections["throughput"]["result"]["rows"].items():
        for framework in ("jax", "torch"):
            assert row[framework]["train_images_per_s"] > 0, (key, framework)
            assert row[framework]["infer_images_per_s"] > 0, (key, framework)
        assert row["jax_over_torch_train"] > 0

    lengths = sections["steps_per_call"]["result"]["rows"]["lenet"]["by_length"]
    assert set(lengths) == {"1", "8"}
    assert all(v["steps_per_s"] > 0 and v["infer_images_per_s"] > 0 for v in lengths.values())

    seeds = sections["multiseed"]["result"]
    assert seeds["sequential_s"] > 0 and seeds["vmap"]["vmap_speedup"] > 0

    markdown = (out / "report.md").read_text()
    assert "## parity" in markdown and "| padded |" in markdown
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]


def test_no_budget_skips_every_section_and_still_writes_the_report(tmp_path):
    out = tmp_path / "out"
    result = run_script("--dry-run", "--out", str(out), "--budget-s", "0", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert {e["status"] for e in report["sections"].values()} == {"skipped: budget"}
    assert "skipped: budget" in (out / "report.md").read_text()


def test_bad_data_dir_is_exit_2(tmp_path):
    result = run_script("--dry-run", "--out", str(tmp_path / "o"), "--data-dir",
                        str(tmp_path / "missing"), timeout=300)
    assert result.returncode == 2 and "--data-dir" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_failing_section_is_recorded_and_the_next_one_runs(tmp_path):
    runner = Runner(tmp_path, Budget(60), {"mode": "test"}, render)

    def broken():
        raise ZeroDivisionError("division by zero in the section")

    runner.run("first", 0, broken)
    runner.run("second", 0, lambda: {"value": 1.5})
    runner.run("third", 1e9, lambda: {"value": 2})
    report = json.loads((tmp_path / "report.json").read_text())
    first, second, third = (report["sections"][k] for k in ("first", "second", "third"))
    assert first["status"] == "error" and "ZeroDivisionError" in first["error"]
    assert "in broken" in first["traceback"]
    assert second == {"status": "ok", "result": {"value": 1.5}, "seconds": second["seconds"]}
    assert third["status"] == "skipped: budget" and "result" not in third
    assert "ZeroDivisionError" in (tmp_path / "report.md").read_text()
