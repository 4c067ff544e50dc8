"""scripts/bench.py --quick --isolated (the isolated-loop diagnostic) runs each variant in
processes of its own and writes sane JSON and Markdown (no timing is asserted); the process
schedule; the flags of the isolated loop need --isolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from data_helpers import REPO_ROOT
from helpers import data_dir

from jaxcnn.bench.measure import BenchConfig, schedule
from jaxcnn.conv import PLANS

ARCHS = ("classic", "lenet3x3")
VARIANTS = ("jax", "torch", "torch-notebook")  # one JAX variant: each JAX process compiles


def _positive_stats(stats: dict) -> None:
    assert stats["median"] > 0 and 0 < stats["min"] <= stats["median"] <= stats["max"]
    assert len(stats["values"]) == 2  # --quick: 2 repeats, one value per process


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    mnist = data_dir("mnist")
    if not mnist.is_dir():
        pytest.skip(f"real MNIST not available in {mnist}")
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "bench.py"), "--quick",
               "--no-headline", "--isolated", "--train-images", "100", "--test-images", "100",
               "--out", str(out),
               "--data-dir", f"mnist={mnist}", "--plan-cache", "user"]
    for arch in ARCHS:
        command += ["--arch", arch]
    for variant in VARIANTS:
        command += ["--variant", variant]
    # A plan cache of its own: the first JAX process times the plans, the second reads them.
    env = {**os.environ, "JAXCNN_CACHE_DIR": str(tmp_path_factory.mktemp("plans"))}
    subprocess.run(command, check=True, cwd=REPO_ROOT, timeout=900, env=env)
    return out


def test_json_schema(quick_run):
    full = json.loads((quick_run / "bench.json").read_text())
    machine, report = full["machine"], full["isolated"]
    assert "headline" not in full and "layers" not in full
    assert machine["threads"] >= 1 and machine["torch_threads"] == machine["threads"]
    assert machine["jax_devices"] and machine["versions"]["jax"]
    if machine["jax_backend"] == "cpu":
        assert machine["peak_flops"] > 0 and "FLOP/cycle" in machine["peak_derivation"]
    assert report["baseline"] == "jax" and report["repeats"] == 2
    assert report["isolate"] == "variant" and "own" in report["method"]
    rows = report["results"]
    assert [(r["arch"], r["recipe_batch_size"]) for r in rows] == [(a, True) for a in ARCHS]
    for row in rows:
        assert row["train_images"] == 100 and not row["whole_epoch"]
        assert row["flops_per_image"]["train"] > 2 * row["flops_per_image"]["forward"] > 0
        assert set(row["variants"]) == set(VARIANTS)
        for key, result in row["variants"].items():
            assert result["status"] == "ok", (key, result)
            assert sorted(result["repeats"]) == [0, 1] and not result["failures"]
            for name in ("train_images_per_s", "infer_images_per_s", "load_before"):
                _positive_stats(result[name])
            assert min(result["startup_s"]["values"]) >= 0
            assert result["jaxcnn_speedup_train"]["ratio"] > 0
            assert len(result["jaxcnn_speedup_infer"]["paired"]) == 2
            if machine["jax_backend"] == "cpu":
                assert 0 < result["train_peak_fraction"] < 1
        baseline = row["variants"]["jax"]
        assert baseline["jaxcnn_speedup_train"]["paired"] == [1.0, 1.0]
        assert set(baseline["plans"]) == {"train", "infer"}
        assert all(name in PLANS for names in baseline["plans"].values() for name in names)
        assert "plans" not in row["variants"]["torch"]


def test_one_variant_per_process(quick_run):
    report = json.loads((quick_run / "bench.json").read_text())["isolated"]
    records = report["processes"]
    assert Counter(r["variant"] for r in records) == dict.fromkeys(VARIANTS, 2)
    assert [r["index"] for r in records] == list(range(len(records)))
    for record in records:
        assert record["returncode"] == 0 and record["wall_s"] > record["outside_s"] > 0
        assert len(record["load_before"]) == len(record["load_after"]) == 3
        assert f"-m jaxcnn.bench.worker --variant {record['variant']} " in record["command"]
        process = record["result"]["process"]
        assert record["result"]["variant"] == record["variant"]
        assert [c["arch"] for c in record["result"]["cells"]] == list(ARCHS)
        if record["variant"].startswith("torch"):  # PyTorch as shipped, pinned threads
            assert record["command"].startswith("JAXCNN_MALLOC=default ")
            assert process["allocator"].startswith("glibc defaults")
            assert process["torch_threads"] == process["threads"]
        else:
            assert "torch_threads" not in process and "glibc defaults" not in process["allocator"]
    # Plan 'auto' whatever $JAXCNN_CONV says (the suite pins it): timed in the first JAX
    # process, read from the cache (no timing) in the second.
    first, second = (r["result"]["cells"] for r in records if r["variant"] == "jax")
    for cell in first:
        assert cell["plans"]["train"]["source"] == "measured" and cell["plan_timing_s"] > 0
    for cell in second:
        assert cell["plans"]["train"]["source"].startswith("cache")
        assert cell["plan_timing_s"] == 0


def test_markdown_tables(quick_run):
    text = (quick_run / "bench.md").read_text()
    for heading in ("## Diagnostic: the isolated training loop", "### Targets",
                    "### Throughput", "### Processes", "How it was measured"):
        assert heading in text
    assert "## Where users train" not in text
    assert "GFLOP/s" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    for arch in ARCHS:
        assert any(line.startswith(f"| {arch} | ") and ("(met)" in line or "(missed)" in line)
                   for line in lines)
        rows = [line for line in lines if line.startswith(f"| {arch} | ") and "(subset)" in line]
        assert len(rows) == len(VARIANTS)
    assert sum("jaxcnn.bench.worker" in line for line in lines) == 2 * len(VARIANTS)


def test_schedule_one_cell_per_process():
    config = BenchConfig(archs=("lenet", "classic"), batch_sizes=(None, 128),
                         variants=("jax", "torch"), repeats=3)
    plan = schedule(config)
    cells = [("lenet", 64), ("lenet", 128), ("classic", 50), ("classic", 128)]
    assert config.cells() == cells
    assert len(plan) == 3 * len(cells) * 2 and all(len(c) == 1 for _, _, c in plan)
    assert Counter((v, c[0]) for _, v, c in plan) == {(v, c): 3 for v in ("jax", "torch")
                                                      for c in cells}
    # Who runs first alternates, from cell to cell and repeat to repeat.
    firsts = [plan[i][1] for i in range(0, len(plan), 2)]
    assert firsts[:4] == ["jax", "torch", "jax", "torch"] and firsts[4:8] == ["torch", "jax"] * 2
    grouped = schedule(BenchConfig(archs=("lenet",), batch_sizes=(None,),
                                   variants=("jax", "torch"), repeats=2, isolate="variant"))
    assert [(r, v) for r, v, _ in grouped] == [(0, "jax"), (0, "torch"), (1, "torch"), (1, "jax")]


@pytest.mark.parametrize("flags", [["--variant", "jax"], ["--repeats", "2"],
                                   ["--train-images", "64"]])
def test_isolated_loop_flags_need_isolated(flags, capsys):
    from jaxcnn.cli import bench

    with pytest.raises(SystemExit) as stop:
        bench.main(flags)
    assert stop.value.code == 2 and "--isolated" in capsys.readouterr().err


def test_no_headline_needs_another_section(capsys):
    from jaxcnn.cli import bench

    with pytest.raises(SystemExit) as stop:
        bench.main(["--no-headline"])
    assert stop.value.code == 2 and "nothing to run" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["jaxcnn.bench.worker", "jaxcnn.bench.layers"])
@pytest.mark.parametrize("cell", ["lenet", "resnet:64", "lenet:0"])
def test_child_processes_refuse_a_bad_cell(module, cell, capsys):
    """Both child processes parse ``--cell ARCH:BATCH`` alike and name the bad value."""
    import importlib

    child = importlib.import_module(module)
    with pytest.raises(SystemExit) as stop:
        child.main(["--cell", cell])  # refused before the other required flags are missed
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--cell" in err
    assert repr("0" if cell == "lenet:0" else cell) in err


def test_cell_arg_parses_arch_and_batch():
    from jaxcnn.bench.processes import cell_arg

    assert cell_arg("padded:128") == ("padded", 128)
