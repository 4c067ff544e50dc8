"""The pooling study's outputs: Markdown tables, a plot, and the results as JSON and CSV."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from jaxcnn.runtime.figures import pyplot
from jaxcnn.studies.pooling_stats import (
    CHANCE_CEILING,
    NO_INTERVAL,
    near_chance,
    partly_at_chance,
    tabulate,
    verdict,
)


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.2f}"


def _interval(d: dict) -> str:
    """A difference's 95% CI in pp, or why there is none (one seed gives no spread)."""
    if math.isnan(d["ci_low"]):
        return f"none ({NO_INTERVAL})"
    return f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]"


def _p(p: float) -> str:
    return "—" if math.isnan(p) else f"{p:.3g}"


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
                     f"{_interval(d)} | {_p(d['p_paired'])} | {_p(d['p_welch'])} |")
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
