"""Measure every variant in processes of its own, one process at a time, and gather the figures.

Each process (:mod:`jaxcnn.bench.worker`) runs one variant alone: by default one (variant,
architecture, batch size) cell per process (``isolate="cell"``), or one variant over all cells
(``isolate="variant"``: fewer process starts, for smoke runs). Every process is one repeat:
``repeats`` processes per cell, never two at once; within a repeat the variants' order rotates
from cell to cell and repeat to repeat, so that drift of the machine hits all alike. The load
average is read just before and just after each process.

Per cell and variant the report gives the median and the range (min–max) over the processes of:
training throughput (images per second over the measured images: a whole epoch, or the first
``train_images``, after a warm-up pass that carries the compilation), inference throughput (batch
1000, eval mode), and start-up (set-up incl. the convolution plan's timing, plus compilation of
training and inference). jaxcnn's speedup over a variant is the ratio of the medians; its range
is that of the ratios of the processes of the same repeat.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from jaxcnn.bench import machine, processes
from jaxcnn.bench.cases import data_dir_args
from jaxcnn.bench.flops import forward_flops, train_flops
from jaxcnn.bench.variants import BASELINE, DEFAULT_VARIANTS, VARIANTS, framework
from jaxcnn.data import data_dir_for, load_splits
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.net.registry import create_model
from jaxcnn.training.recipes import get_recipe

ISOLATE = ("cell", "variant")
# Figures gathered per process; each becomes median / min / max / values over the processes.
_STATS = ("train_images_per_s", "infer_images_per_s", "compile_s", "infer_compile_s",
          "setup_s", "startup_s", "plan_timing_s")


@dataclass
class BenchConfig:
    """What to measure; ``None`` batch sizes / images mean the recipe's / the whole split."""

    archs: Sequence[str] = ARCHITECTURES
    batch_sizes: Sequence[int | None] = (None, 128, 512)  # None: the recipe's own
    repeats: int = 3
    train_images: int | None = None
    test_images: int | None = None
    variants: Sequence[str] = DEFAULT_VARIANTS
    data_dirs: dict[str, str] = field(default_factory=dict)
    isolate: str = "cell"  # one process per cell and variant; "variant": per variant
    plan_cache: str = "empty"  # "empty": every jax process times its plans; "user": the cache

    def cells(self) -> list[tuple[str, int]]:
        """(architecture, batch size) pairs, in order, batch sizes resolved."""
        out = []
        for arch in self.archs:
            recipe_batch = get_recipe(arch).batch_size
            out += [(arch, size) for size in dict.fromkeys(b or recipe_batch
                                                           for b in self.batch_sizes)]
        return out


def spread(values: Sequence[float]) -> dict:
    """Median, min, max and every value."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": list(values)}


def baseline(variants: Sequence[str]) -> str | None:
    """The numerator of the ratios: ``jax`` (scripts/train.py's default) when measured, else
    the first JAX variant."""
    if BASELINE in variants:
        return BASELINE
    return next((v for v in variants if framework(v) == "jax"), None)


def schedule(config: BenchConfig) -> list[tuple[int, str, list[tuple[str, int]]]]:
    """(repeat, variant, cells) for every process, in the order they run."""
    cells, variants = config.cells(), list(config.variants)
    out = []
    for repeat in range(config.repeats):
        if config.isolate == "variant":
            turn = repeat % len(variants)
            out += [(repeat, v, cells) for v in variants[turn:] + variants[:turn]]
            continue
        for i, cell in enumerate(cells):
            turn = (repeat + i) % len(variants)
            out += [(repeat, v, [cell]) for v in variants[turn:] + variants[:turn]]
    return out


def _worker_args(config: BenchConfig, variant: str, cells: list[tuple[str, int]],
                 out: Path) -> list[str]:
    args = ["--variant", variant]
    for arch, size in cells:
        args += ["--cell", f"{arch}:{size}"]
    if config.train_images:
        args += ["--train-images", str(config.train_images)]
    if config.test_images:
        args += ["--test-images", str(config.test_images)]
    if framework(variant) == "jax":
        args += ["--plan-cache", config.plan_cache]
    return [*args, *data_dir_args(config.data_dirs), "--out", str(out)]


def run_processes(config: BenchConfig, log: Callable[[str], None] = print) -> list[dict]:
    """Run :func:`schedule`'s processes one after the other; one record per process (the
    worker's JSON under ``result`` when it succeeded)."""
    plan = schedule(config)
    records = []
    with tempfile.TemporaryDirectory(prefix="jaxcnn-bench-") as tmp:
        bar = tqdm(plan, desc="benchmark processes", unit="process")
        for index, (repeat, variant, cells) in enumerate(bar):
            bar.set_postfix_str(f"{variant} {' '.join(f'{a}:{b}' for a, b in cells)}")
            out = Path(tmp) / f"process-{index}.json"
            env = processes.TORCH_ENV if framework(variant) == "torch" else {}
            record = processes.run(
                processes.worker_command(_worker_args(config, variant, cells, out)), env)
            record.update(index=index, repeat=repeat, variant=variant,
                          cells=[f"{a}:{b}" for a, b in cells])
            if record["returncode"] == 0:
                record["result"] = json.loads(out.read_text())
                # Interpreter start, imports and exit: what the worker could not time itself.
                record["outside_s"] = record["wall_s"] - record["result"]["in_process_s"]
            records.append(record)
            bar.write(_summary(record))
    return records


def _summary(record: dict) -> str:
    head = (f"[{record['index'] + 1}] {record['variant']} {' '.join(record['cells'])}, "
            f"repeat {record['repeat'] + 1}: ")
    tail = processes.surroundings(record)
    if "result" not in record:
        return head + processes.failure(record) + tail
    parts = []
    for cell in record["result"]["cells"]:
        if cell["status"] != "ok":
            parts.append(f"{cell['arch']}:{cell['batch_size']} {cell['status']}")
            continue
        plan = cell.get("plans", {}).get("train", {}).get("plan")
        parts.append(f"{cell['arch']}:{cell['batch_size']} train "
                     f"{cell['train_images_per_s']:,.0f} img/s, infer "
                     f"{cell['infer_images_per_s']:,.0f} img/s, start-up "
                     f"{cell['startup_s']:.2f} s" + (f", plan {plan}" if plan else ""))
    return head + "; ".join(parts) + tail


def _gather(records: list[dict], arch: str, size: int, variant: str) -> dict:
    """One cell's figures over its processes."""
    runs, failures = [], []
    for record in records:
        if record["variant"] != variant or f"{arch}:{size}" not in record["cells"]:
            continue
        if "result" not in record:
            failures.append(f"process {record['index']} failed: {record.get('error', '')}")
            continue
        cell = next(c for c in record["result"]["cells"]
                    if (c["arch"], c["batch_size"]) == (arch, size))
        if cell["status"] != "ok":
            failures.append(cell["status"])
            continue
        runs.append((record, cell))
    name = VARIANTS[variant]().name
    if not runs:
        return {"name": name, "status": failures[0] if failures else "not run"}
    out = {"name": name, "status": "ok", "processes": [r["index"] for r, _ in runs],
           "repeats": [r["repeat"] for r, _ in runs], "failures": failures,
           "load_before": spread([r["load_before"][0] for r, _ in runs]),
           "load_after": spread([r["load_after"][0] for r, _ in runs])}
    for key in _STATS:
        if key in runs[0][1]:
            out[key] = spread([c[key] for _, c in runs])
    if "plans" in runs[0][1]:
        out["plans"] = {kind: sorted({c["plans"][kind]["plan"] for _, c in runs})
                        for kind in runs[0][1]["plans"]}
    return out


def _add_ratios(variants: dict, base: str | None) -> None:
    """jaxcnn's throughput over each variant's: the ratio of the medians, and the range of the
    ratios of processes of the same repeat."""
    own = variants.get(base or "", {})
    if own.get("status") != "ok":
        return
    for result in variants.values():
        if result["status"] != "ok":
            continue
        for kind in ("train", "infer"):
            key = f"{kind}_images_per_s"
            mine = dict(zip(own["repeats"], own[key]["values"], strict=True))
            paired = [mine[r] / v for r, v in zip(result["repeats"], result[key]["values"],
                                                  strict=True) if r in mine]
            result[f"jaxcnn_speedup_{kind}"] = {
                "ratio": own[key]["median"] / result[key]["median"],
                "paired_min": min(paired, default=None), "paired_max": max(paired, default=None),
                "paired": paired}


def _add_peak_fraction(variants: dict, flops: dict, peak: float | None) -> None:
    if not peak:
        return
    for result in variants.values():
        if result["status"] == "ok":
            result["train_peak_fraction"] = (
                result["train_images_per_s"]["median"] * flops["train"] / peak)
            result["infer_peak_fraction"] = (
                result["infer_images_per_s"]["median"] * flops["forward"] / peak)


def _process_info(records: list[dict], kind: str) -> dict:
    """The first successful ``kind`` (jax / torch) process's own description."""
    return next((r["result"]["process"] for r in records
                 if "result" in r and framework(r["variant"]) == kind), {})


def run_benchmark(config: BenchConfig, log: Callable[[str], None] = print,
                  info: dict | None = None) -> dict:
    """Measure every architecture, batch size and variant of ``config`` in processes of their
    own; a JSON-ready dict. ``info``: :func:`machine.describe`'s (described here when None).
    Raises ``DataError`` (before any process starts) when a data set cannot be read."""
    if config.isolate not in ISOLATE:
        raise ValueError(f"isolate={config.isolate!r}: choose one of {', '.join(ISOLATE)}")
    info = info or machine.describe()
    log(f"device: jax {info['jax_devices']}, {info['threads']} cores, load "
        f"{', '.join(f'{x:.2f}' for x in info['load_average'])}")
    sizes, flops = {}, {}
    for arch in config.archs:  # read every data set here first: a bad folder fails at once
        recipe = get_recipe(arch)
        if recipe.dataset not in sizes:
            train, test = load_splits(recipe.dataset,
                                      data_dir=data_dir_for(recipe.dataset, config.data_dirs))
            sizes[recipe.dataset] = (len(train), len(test), train.images.shape[1:])
        model = create_model(arch, **recipe.model_options)
        shape = sizes[recipe.dataset][2]
        flops[arch] = {"train": train_flops(model, shape), "forward": forward_flops(model, shape)}
    records = run_processes(config, log)
    torch_info = _process_info(records, "torch")
    info.update(torch_device=torch_info.get("torch_device"),
                torch_threads=torch_info.get("torch_threads"),
                jax_allocator=_process_info(records, "jax").get("allocator"),
                torch_allocator=torch_info.get("allocator"))
    base = baseline(config.variants)
    rows = []
    for arch, size in config.cells():
        recipe = get_recipe(arch)
        n_train, n_test, _ = sizes[recipe.dataset]
        train_images = min(n_train, config.train_images or n_train)
        variants = {v: _gather(records, arch, size, v) for v in config.variants}
        _add_ratios(variants, base)
        _add_peak_fraction(variants, flops[arch], info.get("peak_flops"))
        rows.append({"arch": arch, "batch_size": size,
                     "recipe_batch_size": size == recipe.batch_size,
                     "train_images": train_images, "whole_epoch": train_images == n_train,
                     "test_images": min(n_test, config.test_images or n_test),
                     "flops_per_image": flops[arch], "variants": variants})
    return {"machine": info, "baseline": base, "repeats": config.repeats,
            "isolate": config.isolate, "plan_cache": config.plan_cache,
            "method": method(config), "results": rows, "processes": records}


def method(config: BenchConfig) -> str:
    """How the figures were measured, in words (for bench.md)."""
    per = ("one (variant, architecture, batch size) per process" if config.isolate == "cell"
           else "one variant per process, all its architectures and batch sizes in turn")
    cache = ("an empty convolution plan cache in every process (JAXCNN_CACHE_DIR: the plan "
             "timing of a first run is in the start-up)" if config.plan_cache == "empty"
             else "the user's convolution plan cache (start-up without the plan timing when "
                  "it is cached)")
    return (f"Every variant runs in fresh processes of its own ({per}), one process at a time, "
            f"{config.repeats} processes (repeats) per cell; medians over the processes, min–max "
            "in brackets. In each process: set-up, one warm-up training pass over the measured "
            "images (it carries the compilation), one measured pass over the same number of "
            "images; inference over the test images at batch 1000 (all at once when fewer) "
            "in eval mode, one warm-up pass and the median of 3 measured ones. PyTorch runs with "
            "as many threads as the cores available and with "
            "glibc's default allocator (JAXCNN_MALLOC=default); the JAX processes with jaxcnn's "
            f"allocator settings and {cache}. \"jaxcnn ×\": the median throughput of "
            f"`{baseline(config.variants)}` over the variant's, with the range of the ratios "
            "of the processes of the same repeat. The load average (1 min) is read before and "
            "after every process.")
