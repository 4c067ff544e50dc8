"""The pooling study: architectures × pooling × data set × seeds, with statistics and a plot.

Every cell trains its seeds as one program (:class:`jaxcnn.studies.multiseed.MultiSeedEngine`) with
the
architecture's notebook recipe (optimizer, learning rate, batch size, loss, normalisation), on
the cell's data set, for ``epochs`` epochs (the recipes' own with ``epochs=None``). Seed *s* gives
the same initial weights, batch order and dropout stream whatever the pooling (pools have no
parameters), so the max and avg results of one seed are *paired*: their difference is tested
with a paired t-test on the per-seed differences. Welch's t-test, which ignores the pairing, is
reported beside it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from jax.sharding import Mesh
from scipy import stats

from jaxcnn.net.registry import create_model
from jaxcnn.runtime.figures import pyplot
from jaxcnn.studies.multiseed import MultiSeedEngine, seed_batches
from jaxcnn.studies.study_data import Data
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import Recipe, get_recipe

CHANCE_CEILING = 0.2  # twice chance for 10 classes
# Study rows: an architecture with its notebook loss, and padded with the corrected loss too.
VARIANTS: dict[str, tuple[str, str | None]] = {
    "padded": ("padded", None),
    "padded+log_nll": ("padded", "log_nll"),
    "dropout": ("dropout", None),
    "classic": ("classic", None),
    "lenet3x3": ("lenet3x3", None),
    "lenet": ("lenet", None),
}


@dataclasses.dataclass(frozen=True)
class Training:
    """How long a row trains: ``epochs`` epochs over the first ``train_subset`` training images;
    ``None`` keeps the recipe's epochs or the whole training set."""

    epochs: int | None = None
    train_subset: int | None = None


# The default grid (scripts/compare_pooling.py): seeds per cell and each row's training. The
# Adam recipes (batch 10) learn in a few thousand images; the SGD recipes need whole epochs, and
# lenet (lr 1e-3, no momentum) several, to leave the chance plateau. Measured to keep the
# default run under 30 minutes on the 2-core development machine (docs/pooling.md).
DEFAULT_SEEDS = 5
DEFAULT_TRAINING: dict[str, Training] = {
    "padded": Training(1, 6000),
    "padded+log_nll": Training(1, 6000),
    "dropout": Training(1, None),
    "classic": Training(1, None),
    "lenet3x3": Training(1, 6000),
    "lenet": Training(10, None),
}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell: a variant (architecture and loss), a pooling and a data set."""

    variant: str
    pool: str
    dataset: str

    def recipe(self, epochs: int | None) -> Recipe:
        arch, loss = VARIANTS[self.variant]
        base = get_recipe(arch)
        return base.replace(dataset=self.dataset, epochs=epochs or base.epochs,
                            loss=loss or base.loss, model_options={"pool": self.pool})


def grid(variants: Sequence[str], pools: Sequence[str], datasets: Sequence[str]) -> list[Cell]:
    """Every cell, data set outermost; ``ValueError`` naming an unknown variant."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown --archs {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return [Cell(v, p, d) for d in datasets for v in variants for p in pools]


def train_cell(cell: Cell, seeds: Sequence[int], data: Data, training: Training, *,
               mesh: Mesh | None = None, progress: bool = True) -> dict:
    """Train ``cell``'s seeds together for ``training``; per-seed test accuracies and the wall
    time."""
    recipe = cell.recipe(training.epochs)
    train_x, train_y, test_x, test_y = data.get(recipe.dataset, recipe.normalization)
    if training.train_subset is not None:
        train_x, train_y = train_x[:training.train_subset], train_y[:training.train_subset]
    models = [create_model(recipe.arch, seed=s, **recipe.model_options) for s in seeds]
    engine = MultiSeedEngine(models[0], make_optimizer(recipe),
                             get_loss(recipe.loss), mesh=mesh)
    state = engine.stack_states(models)
    train_x, train_y, test_x, test_y = engine.put((train_x, train_y, test_x, test_y))
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        batches = seed_batches(int(train_x.shape[0]), recipe.batch_size, seeds, epoch=epoch)
        state, _ = engine.train_epoch(state, train_x, train_y, batches, epoch=epoch + 1,
                                      progress=progress)
    accuracy = engine.evaluate(state, test_x, test_y)["accuracy"]
    return {**dataclasses.asdict(cell), "epochs": recipe.epochs,
            "batch_size": recipe.batch_size, "train_examples": int(train_x.shape[0]),
            "seeds": list(seeds), "accuracy": [float(a) for a in accuracy],
            "seconds": time.perf_counter() - start}


# -- statistics ----------------------------------------------------------------------------------
def describe(values: Sequence[float]) -> dict:
    """Mean, standard deviation (ddof 1) and the 95% Student-t confidence interval of the mean."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return {"n": len(x), "mean": mean, "std": math.nan, "ci_low": math.nan,
                "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(x) - 1)) * std / math.sqrt(len(x))
    return {"n": len(x), "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def compare(first: Sequence[float], second: Sequence[float]) -> dict:
    """``first − second`` over paired seeds: mean difference, its 95% CI, the paired t-test's
    p-value (the test used) and Welch's (unpaired, for reference)."""
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    diff = describe(a - b)
    if len(a) < 2 or np.all(a - b == (a - b)[0]):
        paired = math.nan if len(a) < 2 else (1.0 if diff["mean"] == 0 else 0.0)
    else:
        paired = float(stats.ttest_rel(a, b).pvalue)
    welch = (float(stats.ttest_ind(a, b, equal_var=False).pvalue)
             if len(a) >= 2 and (a.std() > 0 or b.std() > 0) else math.nan)
    return {"mean_diff": diff["mean"], "ci_low": diff["ci_low"], "ci_high": diff["ci_high"],
            "p_paired": paired, "p_welch": welch}


def tabulate(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per-cell statistics rows and per-(data set, variant) max − avg comparison rows."""
    cells = [{**{k: r[k] for k in ("dataset", "variant", "pool", "epochs", "train_examples")},
              **describe(r["accuracy"]),
              "at_chance": sum(1 for a in r["accuracy"] if a < CHANCE_CEILING)}
             for r in results]
    by = {(r["dataset"], r["variant"], r["pool"]): r["accuracy"] for r in results}
    diffs = [{"dataset": d, "variant": v, **compare(by[(d, v, "max")], by[(d, v, "avg")])}
             for d, v, p in by if p == "max" and (d, v, "avg") in by]
    return cells, diffs


# -- outputs ---------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.2f}"


def markdown_tables(cells: list[dict], diffs: list[dict]) -> str:
    """The per-cell table and the max − avg table, in Markdown (accuracies in %)."""
    lines = [f"| data set | arch | epochs × images | pool | n | mean acc % | ± std | 95% CI | "
             f"seeds < {100 * CHANCE_CEILING:.0f} % |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |"]
    for c in cells:
        lines.append(f"| {c['dataset']} | {c['variant']} | "
                     f"{c['epochs']} × {c['train_examples']:,} | {c['pool']} | {c['n']} | "
                     f"{_pct(c['mean'])} | {_pct(c['std'])} | "
                     f"[{_pct(c['ci_low'])}, {_pct(c['ci_high'])}] | {c['at_chance']} |")
    lines += ["", "| data set | arch | max − avg (pp) | 95% CI (pp) | paired t p | Welch p |",
              "| --- | --- | ---: | --- | ---: | ---: |"]
    for d in diffs:
        lines.append(f"| {d['dataset']} | {d['variant']} | {100 * d['mean_diff']:+.2f} | "
                     f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] | "
                     f"{d['p_paired']:.3g} | {d['p_welch']:.3g} |")
    return "\n".join(lines)


def near_chance(cells: list[dict], ceiling: float = CHANCE_CEILING) -> list[tuple[str, str]]:
    """(data set, arch) rows whose every pooling's mean accuracy stays below ``ceiling`` (twice
    chance for 10 classes): runs too short to have learnt anything to compare."""
    best: dict[tuple[str, str], float] = {}
    for c in cells:
        key = (c["dataset"], c["variant"])
        best[key] = max(best.get(key, 0.0), c["mean"])
    return [key for key, mean in best.items() if mean < ceiling]


def partly_at_chance(cells: list[dict]) -> list[tuple[str, str, str]]:
    """(data set, arch, "pool: k of n, ...") for rows not :func:`near_chance` as a whole in
    which some seeds still ended below the chance ceiling (``at_chance`` per cell)."""
    untrained = set(near_chance(cells))
    rows: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        key = (c["dataset"], c["variant"])
        if key not in untrained and c.get("at_chance"):
            rows.setdefault(key, []).append(f"{c['pool']}: {c['at_chance']} of {c['n']}")
    return [(d, v, ", ".join(parts)) for (d, v), parts in rows.items()]


def verdict(diffs: list[dict], alpha: float = 0.05, untrained: Sequence[tuple] = (),
            partly: Sequence[tuple] = ()) -> str:
    """Plain words on notebook 000's claim (avg pooling beats max) from the comparisons;
    ``untrained`` rows (see :func:`near_chance`) are named as saying nothing, ``partly``
    untrained rows (:func:`partly_at_chance`) as mixing trained and untrained seeds."""
    padded = [d for d in diffs if d["variant"] == "padded"]
    lines = ["Notebook 000 trained `padded` once with max pooling (0.875) and once with average "
             "pooling (0.894) and concluded that average pooling is better on MNIST. One run "
             "each cannot separate the pooling from the luck of the initial weights and the "
             "batch order; here every cell has several seeds."]
    for d in padded:
        sig = d["p_paired"] < alpha
        better = "max" if d["mean_diff"] > 0 else "avg"
        lines.append(
            f"- {d['dataset']}, notebook loss: max − avg = {100 * d['mean_diff']:+.2f} pp "
            f"(95% CI [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}], paired t-test "
            f"p = {d['p_paired']:.3g}): "
            + (f"{better} pooling is significantly better at the 5% level."
               if sig else "no significant difference at the 5% level."))
    significant = [d for d in diffs if d["p_paired"] < alpha]
    lines.append(f"- Over all {len(diffs)} architecture × data set comparisons, "
                 f"{len(significant)} are significant at 5% (uncorrected; with "
                 f"{len(diffs)} tests about {alpha * len(diffs):.1f} false positives are "
                 "expected by chance)"
                 + (": " + ", ".join(f"{d['variant']} on {d['dataset']} "
                                     f"({'max' if d['mean_diff'] > 0 else 'avg'} better)"
                                     for d in significant) if significant else "") + ".")
    if untrained:
        lines.append("- Not trained enough to compare (every pooling's mean below 20 %, chance "
                     "is 10 %): " + ", ".join(f"{v} on {d}" for d, v in untrained)
                     + ". Their differences are noise around chance; give them more "
                     "`--epochs` or `--full`.")
    if partly:
        lines.append("- Some seeds still below 20 % (not yet off the chance plateau): "
                     + "; ".join(f"{v} on {d} ({counts})" for d, v, counts in partly)
                     + ". Their max − avg differences mix trained and untrained seeds; more "
                       "`--epochs` would settle them.")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Per-seed accuracies (points) and means (bars), one panel per data set."""
    plt = pyplot()

    datasets = list(dict.fromkeys(r["dataset"] for r in results))
    variants = list(dict.fromkeys(r["variant"] for r in results))
    pools = list(dict.fromkeys(r["pool"] for r in results))
    fig, axes = plt.subplots(1, len(datasets), figsize=(1.6 * len(variants) * len(datasets) + 2,
                                                         4.2), squeeze=False)
    width = 0.8 / len(pools)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for j, pool in enumerate(pools):
            for i, variant in enumerate(variants):
                acc = [r["accuracy"] for r in results
                       if (r["dataset"], r["variant"], r["pool"]) == (dataset, variant, pool)]
                if not acc:
                    continue
                x = i + (j - (len(pools) - 1) / 2) * width
                values = 100 * np.asarray(acc[0])
                ax.scatter(np.full(len(values), x), values, s=14, color=colors[j], alpha=0.7,
                           label=pool if i == 0 else None)
                ax.hlines(values.mean(), x - width / 2.5, x + width / 2.5, color=colors[j])
        ax.set_xticks(range(len(variants)), variants, rotation=20)
        ax.set_title(dataset)
        ax.set_ylabel("test accuracy %")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title="pool")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(results: list[dict], out: Path, *, command: str, wall_seconds: float) -> dict:
    """results.json, results.csv, table.md, summary.md and pooling.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cells, diffs = tabulate(results)
    (out / "results.json").write_text(json.dumps(
        {"command": command, "wall_seconds": wall_seconds, "runs": results, "cells": cells,
         "max_minus_avg": diffs}, indent=1))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "variant", "pool", "seed", "test_accuracy", "epochs",
                         "train_examples"])
        for r in results:
            for seed, acc in zip(r["seeds"], r["accuracy"], strict=True):
                writer.writerow([r["dataset"], r["variant"], r["pool"], seed, acc, r["epochs"],
                                 r["train_examples"]])
    tables = markdown_tables(cells, diffs)
    words = verdict(diffs, untrained=near_chance(cells), partly=partly_at_chance(cells))
    (out / "table.md").write_text(tables + "\n")
    plot(results, out / "pooling.png")
    summary = (f"# Pooling study\n\nCommand: `{command}` ({wall_seconds / 60:.1f} min).\n\n"
               f"{tables}\n\n![per-seed accuracies](pooling.png)\n\n## What the data show\n\n"
               f"{words}\n\nThe max − avg difference is tested with a paired t-test "
               "(seed s has the same initial weights, batch order and dropout stream under "
               "both poolings, so the per-seed differences remove the seed's own luck); "
               "Welch's unpaired t-test is given for reference.\n")
    (out / "summary.md").write_text(summary)
    return {"cells": cells, "diffs": diffs}


def run_study(cells: Sequence[Cell], seeds: Sequence[int], data: Data,
              training: Mapping[str, Training], *, mesh: Mesh | None = None,
              progress: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """Train every cell for its row's ``training[cell.variant]``; one result dict per cell."""
    results = []
    for index, cell in enumerate(cells, 1):
        result = train_cell(cell, seeds, data, training[cell.variant], mesh=mesh,
                            progress=progress)
        acc = describe(result["accuracy"])
        log(f"[{index}/{len(cells)}] {cell.dataset} {cell.variant} {cell.pool}: "
            f"{100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f} over {len(seeds)} seeds "
            f"({result['seconds']:.0f} s)")
        results.append(result)
    return results
