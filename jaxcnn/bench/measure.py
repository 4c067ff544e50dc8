"""Time the variants side by side: per architecture and batch size, every variant is set up and
warmed (compiled) first, then each repeat trains every variant over the same batches and runs
every variant's inference, in an order rotated from repeat to repeat.

Throughput is images per second of wall time over the measured images (a whole epoch, or the
first ``train_images``). Compilation is the first (warm-up) pass's time minus what the same
images take in the steady state. Ratios are jaxcnn's throughput over the variant's, taken repeat
by repeat (both timed in the same repeat, seconds apart), then the median.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jaxcnn import conv
from jaxcnn.bench import machine
from jaxcnn.bench.variants import DEFAULT_VARIANTS, VARIANTS, Case, Unavailable, torchvision_root
from jaxcnn.data import Dataset, batch_indices, load, preprocess
from jaxcnn.flops import forward_flops, train_flops
from jaxcnn.options import ARCHITECTURES
from jaxcnn.recipes import get_recipe
from jaxcnn.registry import create_model

ALL_DATASETS = "*"


@dataclass
class BenchConfig:
    """What to measure; ``None`` batch sizes / images mean the recipe's / the whole split."""

    archs: Sequence[str] = ARCHITECTURES
    batch_sizes: Sequence[int | None] = (None, 128, 512)  # None: the recipe's own
    repeats: int = 5
    train_images: int | None = None
    test_images: int | None = None
    variants: Sequence[str] = DEFAULT_VARIANTS
    data_dirs: dict[str, str] = field(default_factory=dict)


def parse_data_dirs(values: Sequence[str]) -> dict[str, str]:
    """``--data-dir`` values, ``DIR`` (every data set) or ``DATASET=DIR``, as a mapping."""
    dirs = {}
    for value in values:
        name, sep, path = value.partition("=") if "=" in value else ("", "", value)
        dirs[name if sep else ALL_DATASETS] = path
    return dirs


def data_dir_for(dataset: str, dirs: dict[str, str]) -> str | None:
    return dirs.get(dataset, dirs.get(ALL_DATASETS))


def baseline_key() -> str:
    """The variant that is jaxcnn as ``scripts/train.py`` runs it on this backend."""
    return f"jax-{conv.requested()}"


def spread(values: Sequence[float]) -> dict:
    """Median, min, max and every value."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": list(values)}


def first_images(ds: Dataset, n: int | None) -> Dataset:
    """The first ``n`` images of ``ds`` (all when None)."""
    return ds if n is None else dataclasses.replace(ds, images=ds.images[:n],
                                                     labels=ds.labels[:n])


def _measure_case(case: Case, keys: Sequence[str], repeats: int,
                  log: Callable[[str], None]) -> dict[str, dict]:
    recipe, n = case.recipe, len(case.train[1])
    size = recipe.batch_size
    # Warm-up: a whole pass, as the first epoch of a run (the engine compiles for the shapes of
    # an epoch's index matrix, so a shorter pass would compile again when measured).
    warm = batch_indices(n, size, seed=recipe.seed, epoch=0)
    ready, out = {}, {}
    for key in keys:
        variant = VARIANTS[key]()
        try:
            variant.setup(case)
            first_train, first_infer = variant.train(warm), variant.infer()
        except Unavailable as err:
            out[key] = {"name": variant.name, "status": f"not available: {err}"}
            log(f"  {variant.name}: not available: {err}")
            continue
        ready[key] = (variant, first_train, first_infer)
    train = {k: [] for k in ready}
    infer = {k: [] for k in ready}
    order = list(ready)
    for repeat in range(repeats):
        batches = batch_indices(n, size, seed=recipe.seed, epoch=repeat + 1)
        turn = order[repeat % len(order):] + order[:repeat % len(order)] if order else []
        for key in turn:
            train[key].append(n / ready[key][0].train(batches))
        for key in turn:
            infer[key].append(len(case.test[1]) / ready[key][0].infer())
    for key, (variant, first_train, first_infer) in ready.items():
        steady = statistics.median(train[key])
        out[key] = {
            "name": variant.name, "status": "ok",
            "train_images_per_s": spread(train[key]),
            "infer_images_per_s": spread(infer[key]),
            "compile_s": max(0.0, first_train - n / steady),
            "infer_compile_s": max(0.0, first_infer - len(case.test[1])
                                   / statistics.median(infer[key])),
        }
        log(f"  {variant.name}: train {steady:,.0f} img/s, infer "
            f"{statistics.median(infer[key]):,.0f} img/s, compile {out[key]['compile_s']:.2f} s")
    _add_ratios(out, train, infer)
    return out


def _add_ratios(out: dict, train: dict, infer: dict) -> None:
    """jaxcnn's throughput over each variant's, per repeat, then the median."""
    base = baseline_key()
    if base not in train:
        return
    for key in train:
        for kind, values in (("train", train), ("infer", infer)):
            ratios = [b / v for b, v in zip(values[base], values[key], strict=True)]
            out[key][f"jaxcnn_speedup_{kind}"] = spread(ratios)


def run_benchmark(config: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Measure every architecture, batch size and variant of ``config``; a JSON-ready dict."""
    info = machine.describe()
    log(f"device: jax {info['jax_devices']}, torch {info['torch_device']}, "
        f"{info['threads']} threads, load {info['load_average']}")
    rows, data = [], {}
    with tempfile.TemporaryDirectory(prefix="jaxcnn-bench-") as tmp:
        for arch in config.archs:
            recipe = get_recipe(arch)
            if recipe.dataset not in data:
                folder = data_dir_for(recipe.dataset, config.data_dirs)
                raw = (load(recipe.dataset, "train", data_dir=folder),
                       load(recipe.dataset, "test", data_dir=folder))
                data[recipe.dataset] = (*raw, torchvision_root(raw[0], Path(tmp) / recipe.dataset))
            full_train, full_test, tv_root = data[recipe.dataset]
            raw_train = first_images(full_train, config.train_images)
            raw_test = first_images(full_test, config.test_images)
            model = create_model(arch, **recipe.model_options)
            shape = raw_train.images.shape[1:]
            flops = {"train": train_flops(model, shape), "forward": forward_flops(model, shape)}
            splits = [(preprocess(ds.images, recipe.normalization), ds.labels)
                      for ds in (raw_train, raw_test)]
            sizes = dict.fromkeys(b or recipe.batch_size for b in config.batch_sizes)
            for size in sizes:
                log(f"{arch}, batch {size}, {len(raw_train)} training images:")
                case = Case(recipe.replace(batch_size=size), *splits, raw_train, raw_test, tv_root)
                variants = _measure_case(case, config.variants, config.repeats, log)
                _add_peak_fraction(variants, flops, info.get("peak_flops"))
                rows.append({"arch": arch, "batch_size": size,
                             "recipe_batch_size": size == recipe.batch_size,
                             "train_images": len(raw_train),
                             "whole_epoch": len(raw_train) == len(full_train),
                             "test_images": len(raw_test), "flops_per_image": flops,
                             "variants": variants})
                gc.collect()
    return {"machine": info, "baseline": baseline_key(), "repeats": config.repeats,
            "results": rows}


def _add_peak_fraction(variants: dict, flops: dict, peak: float | None) -> None:
    if not peak:
        return
    for result in variants.values():
        if result["status"] == "ok":
            result["train_peak_fraction"] = (
                result["train_images_per_s"]["median"] * flops["train"] / peak)
            result["infer_peak_fraction"] = (
                result["infer_images_per_s"]["median"] * flops["forward"] / peak)
