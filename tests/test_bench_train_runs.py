"""The benchmark's headline (real scripts/train.py processes) and its per-layer breakdown: the
report's structure, and every figure traced back to the run files it was read from (no timing
is asserted); the FLOP counts the share of peak rests on."""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from data_helpers import REPO_ROOT
from flax import nnx
from helpers import data_dir

from jaxcnn.bench import layers as bench_layers
from jaxcnn.bench.flops import arch_flops, layer_flops
from jaxcnn.bench.train_runs import TrainRunsConfig, schedule
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.net.registry import create_model
from jaxcnn.training.recipes import get_recipe
from torch_ref import create_model as create_torch_model

ARCH = "classic"  # batch 50: 13 steps an epoch on 640 images
SUBSET = 640


def test_layer_flops_count_every_conv_and_linear_layer():
    # lenet: conv1 6x24x24 outputs of 5x5x1, conv2 16x8x8 of 5x5x6, fc 256->120->84->10.
    assert layer_flops(create_model("lenet"), (28, 28, 1)) == [
        2 * 6 * 24 * 24 * 25, 2 * 16 * 8 * 8 * 150, 2 * 256 * 120, 2 * 120 * 84, 2 * 84 * 10]
    flops = arch_flops("lenet")
    assert flops["forward"] == 563_280 and flops["train"] == 3 * 563_280 - 2 * 6 * 24 * 24 * 25


def test_schedule_alternates_the_frameworks():
    config = TrainRunsConfig(archs=("lenet", "classic"), batch_sizes=(None, 128), pairs=3,
                             tiny_pairs=2)
    plan = schedule(config)
    train = [p for p in plan if p["kind"] == "train"]
    assert len(train) == 2 * 2 * 3 * 2
    cell = [p for p in train if (p["arch"], p["batch_size"]) == ("lenet", 64)]
    assert [(p["pair"], p["framework"]) for p in cell] == [
        (0, "jax"), (0, "torch"), (1, "torch"), (1, "jax"), (2, "jax"), (2, "torch")]
    tiny = [p for p in plan if p["kind"] == "tiny"]
    assert [(p["arch"], p["framework"]) for p in tiny] == [
        ("lenet", "jax"), ("lenet", "torch"), ("lenet", "torch"), ("lenet", "jax"),
        ("classic", "jax"), ("classic", "torch"), ("classic", "torch"), ("classic", "jax")]
    assert plan.index(tiny[0]) == len(train)  # the tiny runs come last


def _quick_timer():
    return functools.partial(bench_layers.time_ms, rounds=1, min_seconds=0.0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_layer_is_timed_in_both_frameworks(arch):
    batch = 4
    jax_cell = bench_layers.jax_cell(arch, batch, timer=_quick_timer())
    torch_cell = bench_layers.torch_cell(arch, batch, timer=_quick_timer())
    model = create_model(arch, **get_recipe(arch).model_options)
    jax_names = [".".join(map(str, path)) for path, node in nnx.iter_graph(model)
                 if isinstance(node, nnx.Conv | nnx.Linear)]
    torch_names = [name for name, module in create_torch_model(arch).named_modules()
                   if isinstance(module, torch.nn.Conv2d | torch.nn.Linear)]
    assert sorted(x["name"] for x in jax_cell["layers"]) == sorted(jax_names)
    assert sorted(x["name"] for x in torch_cell["layers"]) == sorted(torch_names)
    assert [x["torch_name"] for x in jax_cell["layers"]] == [x["name"] for x in
                                                             torch_cell["layers"]]
    for jax_layer, torch_layer in zip(jax_cell["layers"], torch_cell["layers"], strict=True):
        assert jax_layer["kind"] == torch_layer["kind"]
        assert jax_layer["flops_per_image"] == torch_layer["flops_per_image"] > 0
        assert jax_layer["plan"] == jax_cell["plan"]  # JAXCNN_CONV pinned by conftest
    assert [x["flops_per_image"] for x in jax_cell["layers"]] == layer_flops(
        model, bench_layers.image_shape(arch))
    for cell in (jax_cell, torch_cell):
        first, *rest = cell["layers"]
        assert first["input_grad_ms"] is None  # training never needs the data's gradient
        for layer in cell["layers"]:
            assert layer["forward_ms"] > 0 and layer["weight_grad_ms"] > 0
            assert layer["fused_ms"] > 0
        assert all(layer["input_grad_ms"] > 0 for layer in rest)


@pytest.fixture(scope="module")
def headline(tmp_path_factory):
    mnist = data_dir("mnist")
    if not mnist.is_dir():
        pytest.skip(f"real MNIST not available in {mnist}")
    out = tmp_path_factory.mktemp("bench")
    runs = tmp_path_factory.mktemp("runs")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "bench.py"), "--arch", ARCH,
               "--batch-sizes", "recipe", "--pairs", "1", "--subset", str(SUBSET),
               "--tiny-pairs", "1", "--layers", "--runs-dir", str(runs), "--out", str(out),
               "--data-dir", f"mnist={mnist}"]
    subprocess.run(command, check=True, cwd=REPO_ROOT, timeout=1500, env=dict(os.environ))
    return json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text(), runs


def _metrics(run_dir: Path) -> tuple[dict, list[dict]]:
    config = json.loads((run_dir / "config.json").read_text())
    return config, [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]


@pytest.mark.slow
def test_headline_figures_come_from_the_run_files(headline):
    report, _, runs = headline
    head = report["headline"]
    assert head["pairs"] == 1 and head["epochs"] == 2 and head["subsets"] == {ARCH: SUBSET}
    records = head["processes"]
    assert [(r["kind"], r["framework"]) for r in records] == [
        ("train", "jax"), ("train", "torch"), ("tiny", "jax"), ("tiny", "torch")]
    speeds, evals = {}, {}
    for record in records:
        assert record["returncode"] == 0 and Path(record["run_dir"]).parent == runs
        assert len(record["load_before"]) == len(record["load_after"]) == 3
        tiny = record["kind"] == "tiny"
        assert (f"scripts/train.py --arch {ARCH} --framework {record['framework']} --epochs "
                f"{1 if tiny else 2} --no-progress") in record["command"]
        assert f"--subset {640 if tiny else SUBSET}" in record["command"]
        assert "--batch-size" not in record["command"]  # the recipe's own
        assert record["cache"] == "empty"  # the first (only) pair
        config, rows = _metrics(Path(record["run_dir"]))
        assert config["framework"] == record["framework"]
        assert [row["epoch"] for row in rows] == ([1] if tiny else [1, 2])
        images = config["data"]["train_examples"]
        assert images == SUBSET
        run = record["run"]
        assert run["epoch_seconds"] == [row["seconds"] for row in rows]
        assert run["images_per_s"][-1] == images / rows[-1]["seconds"]
        assert run["images_per_s"][-1] == pytest.approx(rows[-1]["images_per_second"])
        # Start-up: this process's start to its first step, inside its wall time.
        assert run["startup_s"] == rows[0]["startup_seconds"]
        assert 0 < run["startup_s"] < record["wall_s"]
        assert "startup_seconds" not in rows[-1] or len(rows) == 1
        assert run["eval_images_per_s"] == [row["eval_images_per_second"] for row in rows]
        if not tiny:
            speeds[record["framework"]] = run["images_per_s"][-1]
            evals[record["framework"]] = rows[-1]["eval_images_per_second"]
    (cell,) = head["results"]
    assert (cell["arch"], cell["batch_size"], cell["recipe_batch_size"]) == (
        ARCH, get_recipe(ARCH).batch_size, True)
    assert cell["train_images"] == SUBSET and not cell["failures"]
    peak = report["machine"]["peak_flops"]
    flops = arch_flops(ARCH)["train"]
    for framework, result in cell["frameworks"].items():
        assert result["status"] == "ok" and result["pairs"] == [0]
        assert result["train_images_per_s"]["values"] == [speeds[framework]]
        assert result["startup_empty_s"]["values"][0] > 0 and "startup_cached_s" not in result
        if peak:
            assert result["peak_fraction"] == pytest.approx(speeds[framework] * flops / peak)
    assert cell["frameworks"]["jax"]["plans"]  # the plan train.py chose, from config.json
    assert cell["speedup"]["ratio"] == pytest.approx(speeds["jax"] / speeds["torch"])
    assert cell["speedup"]["paired"] == [pytest.approx(speeds["jax"] / speeds["torch"])]
    (inference,) = head["inference"]
    assert inference["eval_batch"] == [min(1000, SUBSET // 6)]  # --subset keeps a sixth as test
    for framework, value in evals.items():
        assert inference[framework]["eval_images_per_s"]["values"] == [value]
    assert inference["speedup"]["paired"] == [pytest.approx(evals["jax"] / evals["torch"])]
    (tiny,) = head["tiny"]
    walls = {r["framework"]: r["wall_s"] for r in records if r["kind"] == "tiny"}
    assert tiny["jax"]["wall_s"]["median"] == walls["jax"]
    assert tiny["torch_over_jax"] == pytest.approx(walls["torch"] / walls["jax"])


@pytest.mark.slow
def test_cached_start_up_reads_the_first_runs_cache(tmp_path):
    # Two pairs: the second JAX process runs on the cache the first one left.
    from jaxcnn.bench.train_runs import run_train_runs

    mnist = data_dir("mnist")
    if not mnist.is_dir():
        pytest.skip(f"real MNIST not available in {mnist}")
    config = TrainRunsConfig(archs=(ARCH,), pairs=2, subsets={ARCH: 320}, tiny_pairs=0,
                             epochs=2, data_dirs={"mnist": str(mnist)})
    head = run_train_runs(config, {ARCH: arch_flops(ARCH)}, None, keep=tmp_path)
    jax_runs = [r for r in head["processes"] if r["framework"] == "jax"]
    assert [r["cache"] for r in jax_runs] == ["empty", "cached"]
    caches = {word for r in jax_runs for word in r["command"].split()
              if word.startswith("JAXCNN_CACHE_DIR=")}
    assert len(caches) == 1  # one cache folder for the cell, fresh before the first run
    assert any(Path(caches.pop().partition("=")[2]).iterdir())
    result = head["results"][0]["frameworks"]["jax"]
    assert result["startup_cached_s"]["values"] == [jax_runs[1]["run"]["startup_s"]]
    assert statistics.median(result["train_images_per_s"]["values"]) == \
        result["train_images_per_s"]["median"]
    assert head["results"][0]["speedup"]["paired_min"] > 0 and head["tiny"] == []


@pytest.mark.slow
def test_layers_section_has_every_layer_of_both_frameworks(headline):
    report, _, _ = headline
    (cell,) = report["layers"]["results"]
    assert (cell["arch"], cell["batch_size"]) == (ARCH, get_recipe(ARCH).batch_size)
    assert cell["jax_plan"] and cell["jax_plan_source"]
    model = create_model(ARCH)
    names = [".".join(map(str, path)) for path, node in nnx.iter_graph(model)
             if isinstance(node, nnx.Conv | nnx.Linear)]
    assert sorted(layer["name"] for layer in cell["layers"]) == sorted(names)
    for layer in cell["layers"]:
        assert layer["torch_name"] == model.torch_names[layer["name"]]
        for framework in ("jax", "torch"):
            assert layer[framework]["forward_ms"] > 0 and layer[framework]["fused_ms"] > 0
    processes = report["layers"]["processes"]
    assert [p["framework"] for p in processes] == ["jax", "torch"]
    assert all(p["returncode"] == 0 and "-m jaxcnn.bench.layers" in p["command"]
               for p in processes)


@pytest.mark.slow
def test_markdown_sections(headline):
    report, text, _ = headline
    for heading in ("## Where users train: scripts/train.py (the headline)",
                    "### Training throughput", "### Start-up to the first training step",
                    "### Inference", "### A tiny first run", "### Processes", "## Per layer"):
        assert heading in text
    assert "## Diagnostic" not in text  # the isolated loop only with --isolated
    rows = [line for line in text.splitlines() if line.startswith(f"| {ARCH} | ")]
    assert any("(recipe)" in line and ("met" in line or "missed" in line) for line in rows)
    assert sum("scripts/train.py" in line for line in text.splitlines()
               if line.startswith("| ")) == 4
    assert sum("**all layers**" in line for line in rows) == 1
