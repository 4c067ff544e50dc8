"""The headline: training speed where users train, from real ``scripts/train.py`` processes.

Per architecture and batch size, ``pairs`` pairs of processes ``python scripts/train.py --arch A
--framework {jax,torch} --epochs 2 --subset N --no-progress --out DIR [--batch-size B]`` run one
at a time, the frameworks alternating (pair 1 starts with JAX, pair 2 with PyTorch, ...), each
exactly as a user types it (no environment changes but a cache folder of the benchmark's own).
Training throughput is read from the run's files: the second epoch's training seconds
(``metrics.jsonl`` "seconds", evaluation excluded) over its images (``config.json``
``data.train_examples``). Start-up is the first metrics row's ``startup_seconds`` (process start
to the first training step dispatched, compilation included): every cell's JAX processes share a
fresh cache folder (``JAXCNN_CACHE_DIR``: convolution plans and XLA's compilation cache), so the
first pair's process is a first run with empty caches and the later ones run cached. A tiny first
run per architecture (``--epochs 1 --subset 640``, empty caches) gives the whole command's wall
time.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from jaxcnn.bench import processes
from jaxcnn.bench.measure import spread
from jaxcnn.conv.choice import CACHE_ENV_VAR
from jaxcnn.conv.choice import ENV_VAR as CONV_ENV_VAR
from jaxcnn.data import data_dir_for
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.training import rundir
from jaxcnn.training.protocol import EVAL_BATCH
from jaxcnn.training.recipes import get_recipe

FRAMEWORKS = ("jax", "torch")
TRAIN_SCRIPT = processes.REPO_ROOT / "scripts" / "train.py"
# Training images per epoch (--subset) where none is given: about 2-10 s per epoch on a 2-core
# CPU (the sizes issue 22 measured with).
DEFAULT_SUBSETS = {"lenet": 19200, "classic": 19200, "lenet3x3": 6000, "dropout": 9600,
                   "padded": 6000}
TINY_SUBSET = 640
# What the benchmark keeps out of the processes' environment: a forced plan, another cache
# (JAXCNN_CACHE_DIR is set to the benchmark's own).
DROPPED_ENV = (CONV_ENV_VAR, "JAX_COMPILATION_CACHE_DIR", "JAXCNN_COMPILATION_CACHE")


@dataclass
class TrainRunsConfig:
    """What the headline measures; ``None`` batch size: the recipe's; subset ``None``: the
    whole training set."""

    archs: Sequence[str] = ARCHITECTURES
    batch_sizes: Sequence[int | None] = (None,)
    pairs: int = 3
    epochs: int = 2  # throughput from the last one
    subsets: dict[str, int | None] = field(default_factory=lambda: dict(DEFAULT_SUBSETS))
    tiny_pairs: int = 1  # tiny first runs per architecture and framework (0: none)
    tiny_subset: int = TINY_SUBSET
    data_dirs: dict[str, str] = field(default_factory=dict)

    def cells(self) -> list[tuple[str, int]]:
        """(architecture, batch size) pairs, in order, batch sizes resolved."""
        out = []
        for arch in self.archs:
            recipe_batch = get_recipe(arch).batch_size
            out += [(arch, size) for size in dict.fromkeys(b or recipe_batch
                                                           for b in self.batch_sizes)]
        return out


def train_command(arch: str, framework: str, out: Path, *, epochs: int, subset: int | None,
                  batch_size: int | None = None, data_dir: str | None = None) -> list[str]:
    """``python scripts/train.py ...`` as a user would run it."""
    command = [sys.executable, str(TRAIN_SCRIPT), "--arch", arch, "--framework", framework,
               "--epochs", str(epochs), "--no-progress", "--out", str(out)]
    command += ["--subset", str(subset)] if subset else []
    command += ["--batch-size", str(batch_size)] if batch_size else []
    command += ["--data-dir", data_dir] if data_dir else []
    return command


def read_run(run_dir: Path) -> dict:
    """What a finished run's files say: per epoch its training seconds and images per second
    (``config.json``'s training images over ``metrics.jsonl``'s seconds), the start-up, the
    convolution plans chosen (JAX)."""
    config = rundir.read_config(run_dir)
    rows = rundir.read_metrics(run_dir)
    images = config["data"]["train_examples"]
    return {"train_images": images, "test_images": config["data"]["test_examples"],
            "epoch_seconds": [row["seconds"] for row in rows],
            "images_per_s": [images / row["seconds"] for row in rows],
            "eval_images_per_s": [row.get("eval_images_per_second") for row in rows],
            "startup_s": rows[0].get("startup_seconds") if rows else None,
            "plans": sorted({c["plan"] for c in config.get("conv", {}).get("choices", [])
                             if c.get("batch") == config["recipe"]["batch_size"]}),
            "device": config.get("device")}


def _run(command: list[str], cache: Path) -> dict:
    return processes.run(command, {CACHE_ENV_VAR: str(cache)}, drop=DROPPED_ENV)


def schedule(config: TrainRunsConfig) -> list[dict]:
    """Every process in the order it runs: per cell, ``pairs`` alternating pairs, then the tiny
    first runs (alternating too)."""
    out = []
    for arch, size in config.cells():
        for pair in range(config.pairs):
            order = FRAMEWORKS if pair % 2 == 0 else FRAMEWORKS[::-1]
            out += [{"kind": "train", "arch": arch, "batch_size": size, "pair": pair,
                     "framework": f} for f in order]
    for arch in config.archs:
        for pair in range(config.tiny_pairs):
            order = FRAMEWORKS if pair % 2 == 0 else FRAMEWORKS[::-1]
            out += [{"kind": "tiny", "arch": arch, "batch_size": get_recipe(arch).batch_size,
                     "pair": pair, "framework": f} for f in order]
    return out


def run_processes(config: TrainRunsConfig, tmp: Path,
                  log: Callable[[str], None] = print) -> list[dict]:
    """Run :func:`schedule`'s processes one at a time in ``tmp``; one record each, with what its
    run directory says under ``run``."""
    records = []
    bar = tqdm(schedule(config), desc="train.py processes", unit="process")
    for index, item in enumerate(bar):
        arch, size, framework = item["arch"], item["batch_size"], item["framework"]
        recipe = get_recipe(arch)
        tiny = item["kind"] == "tiny"
        name = f"{item['kind']}-{arch}-{size}-{framework}"
        out = tmp / f"{name}-pair{item['pair']}"
        # One cache per cell and framework, fresh at the first pair; every tiny run a fresh one.
        cache = tmp / ("cache-" + (f"{name}-pair{item['pair']}" if tiny else name))
        command = train_command(
            arch, framework, out, epochs=1 if tiny else config.epochs,
            subset=config.tiny_subset if tiny else config.subsets.get(arch),
            batch_size=None if size == recipe.batch_size else size,
            data_dir=data_dir_for(recipe.dataset, config.data_dirs))
        bar.set_postfix_str(name)
        record = {**item, "index": index, "run_dir": str(out),
                  "cache": "empty" if tiny or item["pair"] == 0 else "cached",
                  **_run(command, cache)}
        if record["returncode"] == 0:
            record["run"] = read_run(out)
        records.append(record)
        bar.write(_summary(record))
    return records


def _summary(record: dict) -> str:
    head = (f"[{record['index'] + 1}] {record['kind']} {record['arch']}:{record['batch_size']} "
            f"{record['framework']} pair {record['pair'] + 1}: ")
    tail = processes.surroundings(record)
    if "run" not in record:
        return head + processes.failure(record) + tail
    run = record["run"]
    startup = "—" if run["startup_s"] is None else f"{run['startup_s']:.2f} s"
    return (head + f"last epoch {run['images_per_s'][-1]:,.0f} img/s, start-up {startup}"
            + tail)


def _cell(records: list[dict], arch: str, size: int, train_flops: float,
          peak: float | None) -> dict:
    """One cell's figures over its processes (see the module docstring)."""
    mine = [r for r in records if r["kind"] == "train" and r["arch"] == arch
            and r["batch_size"] == size]
    out: dict = {"arch": arch, "batch_size": size,
                 "recipe_batch_size": size == get_recipe(arch).batch_size,
                 "processes": [r["index"] for r in mine],
                 "failures": [f"process {r['index'] + 1} ({r['framework']}) exited with "
                              f"{r['returncode']}: {r.get('error', '')}"
                              for r in mine if "run" not in r],
                 "train_flops_per_image": train_flops, "frameworks": {}}
    ok = [r for r in mine if "run" in r]
    if ok:
        out["train_images"] = ok[0]["run"]["train_images"]
    by_pair: dict[str, dict[int, float]] = {f: {} for f in FRAMEWORKS}
    for framework in FRAMEWORKS:
        runs = [r for r in ok if r["framework"] == framework]
        if not runs:
            out["frameworks"][framework] = {"status": "not run" if not mine else "failed"}
            continue
        speeds = [r["run"]["images_per_s"][-1] for r in runs]
        by_pair[framework] = {r["pair"]: s for r, s in zip(runs, speeds, strict=True)}
        result = {"status": "ok", "pairs": [r["pair"] for r in runs],
                  "epoch_seconds": [r["run"]["epoch_seconds"][-1] for r in runs],
                  "train_images_per_s": spread(speeds),
                  "load_before": spread([r["load_before"][0] for r in runs]),
                  "load_after": spread([r["load_after"][0] for r in runs])}
        for cache in ("empty", "cached"):
            startups = [r["run"]["startup_s"] for r in runs
                        if r["cache"] == cache and r["run"]["startup_s"] is not None]
            if startups:
                result[f"startup_{cache}_s"] = spread(startups)
        if peak:
            result["peak_fraction"] = result["train_images_per_s"]["median"] * train_flops / peak
        plans = sorted({p for r in runs for p in r["run"]["plans"]})
        if plans:
            result["plans"] = plans
        out["frameworks"][framework] = result
    jax_r, torch_r = out["frameworks"]["jax"], out["frameworks"]["torch"]
    if jax_r["status"] == torch_r["status"] == "ok":
        out["speedup"] = _speedup(jax_r["train_images_per_s"], torch_r["train_images_per_s"],
                                  by_pair["jax"], by_pair["torch"])
    return out


def _speedup(jax_stats: dict, torch_stats: dict, jax_by_pair: dict, torch_by_pair: dict) -> dict:
    """JAX ÷ PyTorch: the ratio of the medians and the ratios of the processes run as a pair
    (same key in both ``*_by_pair``)."""
    paired = [jax_by_pair[k] / torch_by_pair[k] for k in sorted(jax_by_pair)
              if k in torch_by_pair]
    return {"ratio": jax_stats["median"] / torch_stats["median"], "paired": paired,
            "paired_min": min(paired, default=None), "paired_max": max(paired, default=None)}


def _inference(records: list[dict], arch: str) -> dict:
    """Test-set evaluation of ``arch`` after the last epoch (train.py's own, batch
    ``min(1000, test images)``), over every training process of the architecture, whatever its
    training batch; the ratio pairs the processes of the same cell and pair."""
    runs = [r for r in records if r["kind"] == "train" and r["arch"] == arch and "run" in r
            and r["run"]["eval_images_per_s"][-1]]
    out: dict = {"arch": arch, "eval_batch": sorted({min(EVAL_BATCH, r["run"]["test_images"])
                                                     for r in runs})}
    speeds: dict[str, dict[tuple, float]] = {}
    for framework in FRAMEWORKS:
        mine = {(r["batch_size"], r["pair"]): r["run"]["eval_images_per_s"][-1]
                for r in runs if r["framework"] == framework}
        speeds[framework] = mine
        if mine:
            out[framework] = {"eval_images_per_s": spread(list(mine.values()))}
    if speeds["jax"] and speeds["torch"]:
        out["speedup"] = _speedup(out["jax"]["eval_images_per_s"],
                                  out["torch"]["eval_images_per_s"], speeds["jax"],
                                  speeds["torch"])
    return out


def _tiny(records: list[dict], arch: str) -> dict:
    """The tiny first runs' whole-command wall times of ``arch``."""
    out: dict = {"arch": arch}
    for framework in FRAMEWORKS:
        runs = [r for r in records if r["kind"] == "tiny" and r["arch"] == arch
                and r["framework"] == framework and r["returncode"] == 0]
        if runs:
            out[framework] = {"wall_s": spread([r["wall_s"] for r in runs]),
                              "startup_s": spread([r["run"]["startup_s"] for r in runs])}
    if "jax" in out and "torch" in out:
        out["torch_over_jax"] = out["torch"]["wall_s"]["median"] / out["jax"]["wall_s"]["median"]
    return out


def run_train_runs(config: TrainRunsConfig, flops: dict[str, dict], peak: float | None,
                   log: Callable[[str], None] = print, keep: Path | None = None) -> dict:
    """Run the headline's processes and gather its figures; a JSON-ready dict. ``flops``: per
    architecture ``{"train": FLOPs per training image, ...}``; ``peak``: the float32 peak
    FLOP/s (None off a CPU). Run directories and caches go to a temporary folder, or ``keep``."""
    if config.pairs < 1:
        raise ValueError("pairs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="jaxcnn-train-runs-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        records = run_processes(config, folder, log)
    cells = [_cell(records, arch, size, flops[arch]["train"], peak)
             for arch, size in config.cells()]
    inference = [_inference(records, arch) for arch in config.archs]
    tiny = [_tiny(records, arch) for arch in config.archs] if config.tiny_pairs else []
    devices = {r["framework"]: r["run"]["device"] for r in records if "run" in r}
    return {"method": method(config), "devices": devices, "pairs": config.pairs,
            "epochs": config.epochs,
            "subsets": {a: config.subsets.get(a) for a in config.archs},
            "tiny_subset": config.tiny_subset, "results": cells, "tiny": tiny,
            "inference": inference,
            "processes": records}


def method(config: TrainRunsConfig) -> str:
    """How the headline was measured, in words (for bench.md)."""
    return (f"Real `scripts/train.py` processes, one at a time, {config.pairs} alternating "
            f"JAX/PyTorch pair(s) per architecture and batch size, each `--epochs "
            f"{config.epochs} --no-progress` on `--subset N` training images as a user runs it "
            "(`--framework torch`: the PyTorch loop users get, with the allocator settings "
            "jaxcnn gives every process). Training img/s = the images of an epoch "
            "(config.json) over the last epoch's training seconds (metrics.jsonl "
            "\"seconds\", evaluation excluded); median and min–max over the processes. JAX ÷ "
            "PyTorch = the ratio of the medians, in brackets the range of the per-pair ratios. "
            "Start-up = process start to the first training step dispatched (metrics.jsonl "
            "\"startup_seconds\"; JAX: compilation included): a cell's first JAX process runs "
            "with empty caches (its own JAXCNN_CACHE_DIR: convolution plans and XLA's "
            "compilation cache), the later ones with the cache it left. The tiny first run: "
            f"`--epochs 1 --subset {config.tiny_subset}`, empty caches, the whole command's "
            "wall time. The load average (1 min) is read before and after every process.")

