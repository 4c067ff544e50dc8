"""The seed study's report, from its records: ``seeds.md``, ``seeds.json`` and a PNG per variant.

:func:`analyse` turns the records (:mod:`jaxcnn.studies.seed_records`) into statistics
(:mod:`jaxcnn.studies.seed_stats`) per variant: per framework and epoch the median, quartiles and
range
of test accuracy (and of test loss and train accuracy); where each figure the notebook printed
falls among each framework's seeds; the two-sample test of the frameworks' final accuracies with
the shift it could have detected; and the phenomena the README explains: dead output classes,
the epoch a run leaves the chance-level plateau, and the spread of ``padded``'s notebook loss
against the corrected one. :func:`write_report` writes them as Markdown, JSON and plots.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxcnn.studies import notebook_figures as notebooks
from jaxcnn.studies import seed_stats
from jaxcnn.studies.seed_study import DEFAULT_VARIANTS, variant_recipe
from jaxcnn.training.recipes import get_recipe

NAMES = {"torch": "PyTorch", "jax": "JAX"}
ORDER = ("torch", "jax")  # PyTorch, the original, is the reference of every comparison
CURVES = ("test_accuracy", "test_loss", "train_accuracy")
RELU_OUTPUT = ("dropout",)  # architectures whose class scores pass a ReLU: a unit can go silent
ALPHA, POWER = 0.05, 0.8


def _by_variant(records: Sequence[dict]) -> dict[str, dict[str, list[dict]]]:
    """records[variant][framework], variants in the default order then as found, seeds sorted."""
    found = list(dict.fromkeys(r["variant"] for r in records))
    ordered = [v for v in DEFAULT_VARIANTS if v in found] + [v for v in found
                                                             if v not in DEFAULT_VARIANTS]
    table: dict[str, dict[str, list[dict]]] = {}
    for variant in ordered:
        table[variant] = {}
        for framework in ORDER:
            rows = sorted((r for r in records
                           if r["variant"] == variant and r["framework"] == framework),
                          key=lambda r: r["seed"])
            if rows:
                table[variant][framework] = rows
    return table


def _curve(rows: list[dict], metric: str) -> np.ndarray:
    """(seeds, epochs) array of ``metric``."""
    return np.array([[e[metric] for e in r["epochs"]] for r in rows], dtype=np.float64)


def is_full_recipe(variant: str, settings: dict) -> bool:
    """Whether ``settings`` are the notebook's own recipe on the whole data sets."""
    recipe = variant_recipe(variant)
    return (settings["epochs"] == recipe.epochs and settings["train_subset"] is None
            and settings["test_subset"] is None)


def _framework_stats(rows: list[dict]) -> dict:
    epochs = len(rows[0]["epochs"])
    curves = {m: _curve(rows, m) for m in CURVES}
    return {"n": len(rows), "seeds": [r["seed"] for r in rows],
            "seconds_per_seed": float(np.mean([r["seconds"] for r in rows])),
            "per_epoch": [{"epoch": e + 1, **{m: seed_stats.describe(curves[m][:, e])
                                              for m in CURVES}} for e in range(epochs)],
            "final": [float(v) for v in curves["test_accuracy"][:, -1]]}


def _notebook(variant: str, frameworks: dict[str, list[dict]]) -> list[dict]:
    """Every figure the notebook printed for ``variant`` (at an epoch the runs reached), placed
    among each framework's seeds."""
    placed = []
    for figure in notebooks.figures_for(variant):
        entry = {k: getattr(figure, k) for k in ("notebook", "metric", "epoch", "printed",
                                                 "value", "low", "high", "note")}
        entry["placements"] = {}
        for framework, rows in frameworks.items():
            curve = _curve(rows, figure.metric)
            if figure.epoch > curve.shape[1]:
                continue
            p = seed_stats.place(curve[:, figure.epoch - 1], figure.low, figure.high)
            entry["placements"][framework] = {
                "n": p.n, "below": p.below, "within": p.within, "above": p.above,
                "percentile": p.percentile,
                "words": seed_stats.placement_words(_figure_text(figure), p,
                                                    f"{NAMES[framework]} seeds")}
        if entry["placements"]:
            placed.append(entry)
    return placed


def _shown(n: dict) -> str:
    """A placed figure for a table: accuracies in %, losses to 4 decimals, and a figure that
    stands for an interval as printed."""
    if n["metric"] == "test_loss":
        return f"{n['value']:.4f}"
    return f"{100 * n['value']:.2f} %" if n["low"] == n["high"] else n["printed"]


def _figure_text(figure: notebooks.NotebookFigure) -> str:
    """The figure for a sentence: "Its test accuracy 67.84 % after epoch 10"."""
    if figure.metric == "test_loss":
        value = f"{figure.value:.4f}"
    elif figure.low == figure.high:
        value = f"{100 * figure.value:.2f} %"
    elif figure.high - figure.low < 1e-4:  # printed to 0.001 %: as printed
        value = figure.printed
    else:
        value = f"{figure.printed} ({100 * figure.low:.2f}–{100 * figure.high:.2f} %)"
    what = figure.metric.replace("_", " ")
    return f"Notebook {figure.notebook}'s {what} {value} after epoch {figure.epoch}"


def _headline(v: dict) -> dict | None:
    """The notebook's last printed test accuracy that the runs reached, placed; or None."""
    return next((n for n in reversed(v["notebook"]) if n["metric"] == "test_accuracy"), None)


def _parity(frameworks: dict[str, list[dict]]) -> dict | None:
    if not all(len(frameworks.get(f, [])) >= 2 for f in ORDER):
        return None
    torch_final, jax_final = (_curve(frameworks[f], "test_accuracy")[:, -1] for f in ORDER)
    result = seed_stats.compare(torch_final, jax_final)
    result["detectable_shift"] = seed_stats.detectable_shift(torch_final, jax_final,
                                                             alpha=ALPHA, power=POWER)
    return result


def _dead(variant: str, frameworks: dict[str, list[dict]]) -> dict:
    """Dead classes after the last epoch, among the seeds above chance (a run still at chance
    predicts one class or few: its other classes are "dead" without a dead unit)."""
    out = {}
    for framework, all_rows in frameworks.items():
        rows = [r for r in all_rows
                if r["epochs"][-1]["test_accuracy"] > seed_stats.ESCAPE_THRESHOLD]
        dead = [seed_stats.dead_classes(r["epochs"][-1]["class_correct"]) for r in rows]
        entry = {"n": len(rows), "at_chance": len(all_rows) - len(rows),
                 "seeds_with_dead": sum(1 for d in dead if d),
                 "per_seed": {r["seed"]: d for r, d in zip(rows, dead, strict=True) if d},
                 "histogram": dict(sorted(Counter(len(d) for d in dead).items())),
                 "classes": dict(sorted(Counter(c for d in dead for c in d).items()))}
        if variant.split("+")[0] in RELU_OUTPUT:
            entry["silent_units"] = {
                r["seed"]: [c for c, v in enumerate(r["epochs"][-1]["class_max_output"]) if v <= 0]
                for r in rows}
        out[framework] = entry
    return out


def _escape(variant: str, frameworks: dict[str, list[dict]]) -> dict | None:
    """Plateau-escape epochs, where some seed was still at or below the threshold after
    epoch 1; the notebook's own where it printed every epoch's test accuracy from epoch 1."""
    curves = {f: _curve(rows, "test_accuracy") for f, rows in frameworks.items()}
    if all(c[:, 0].min() > seed_stats.ESCAPE_THRESHOLD for c in curves.values()):
        return None
    figures = notebooks.figures_for(variant, "test_accuracy")
    printed = [f.value for f in figures]
    consecutive = [f.epoch for f in figures] == list(range(1, len(figures) + 1))
    run_epochs = next(iter(curves.values())).shape[1]
    out: dict = {"threshold": seed_stats.ESCAPE_THRESHOLD, "epochs": run_epochs,
                 "notebook": seed_stats.escape_epoch(printed) if consecutive else None}
    for framework, curve in curves.items():
        epochs = [seed_stats.escape_epoch(row) for row in curve]
        never = run_epochs + 1  # ranked after every epoch
        entry = {"per_seed": {r["seed"]: e for r, e in zip(frameworks[framework], epochs,
                                                            strict=True)},
                 "histogram": dict(sorted(Counter(e or 0 for e in epochs).items())),
                 "never": sum(e is None for e in epochs),
                 "median": float(np.median([e or never for e in epochs]))}
        if out["notebook"] is not None and out["notebook"] <= run_epochs:
            p = seed_stats.place([e or never for e in epochs], out["notebook"])
            entry["notebook_percentile"] = p.percentile
            entry["notebook_words"] = seed_stats.placement_words(
                f"The notebook's epoch {out['notebook']}", p, f"{NAMES[framework]} seeds")
        out[framework] = entry
    return out


def _loss_pairs(table: dict[str, dict[str, list[dict]]]) -> list[dict]:
    """Each variant with its notebook's loss against the same variant with another loss
    (``padded`` against ``padded+log_nll``): the spread of their final test accuracies."""
    pairs = []
    for base, other in itertools.permutations(table, 2):
        rb, ro = variant_recipe(base), variant_recipe(other)
        if rb.loss != get_recipe(rb.arch).loss or ro.loss == rb.loss or ro.replace(
                loss=rb.loss) != rb:
            continue
        entry = {"notebook_loss": base, "other_loss": other, "frameworks": {}}
        for framework in ORDER:
            rows_a, rows_b = table[base].get(framework, []), table[other].get(framework, [])
            if len(rows_a) >= 2 and len(rows_b) >= 2:
                a = _curve(rows_a, "test_accuracy")[:, -1]
                b = _curve(rows_b, "test_accuracy")[:, -1]
                entry["frameworks"][framework] = {
                    **seed_stats.spread_test(a, b),
                    "describe": [seed_stats.describe(a), seed_stats.describe(b)]}
        if entry["frameworks"]:
            pairs.append(entry)
    return pairs


def analyse(records: Sequence[dict]) -> dict:
    """Every statistic of the report, JSON-serialisable."""
    table = _by_variant(records)
    variants = {}
    for variant, frameworks in table.items():
        settings = next(iter(frameworks.values()))[0]["settings"]
        variants[variant] = {
            "settings": settings, "full_recipe": is_full_recipe(variant, settings),
            "train_examples": next(iter(frameworks.values()))[0]["train_examples"],
            "frameworks": {f: _framework_stats(rows) for f, rows in frameworks.items()},
            "notebook": _notebook(variant, frameworks),
            "parity": _parity(frameworks),
            "dead_classes": _dead(variant, frameworks),
            "plateau_escape": _escape(variant, frameworks),
        }
    return {"variants": variants, "loss_pairs": _loss_pairs(table),
            "methods": {"alpha": ALPHA, "power": POWER,
                        "escape_threshold": seed_stats.ESCAPE_THRESHOLD}}


# -- Markdown --------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _spread(d: dict, scale: float = 100, digits: int = 2) -> str:
    """median [q1–q3] (min–max)."""
    f = f"{{:.{digits}f}}"
    return (f"{f.format(scale * d['median'])} [{f.format(scale * d['q1'])}–"
            f"{f.format(scale * d['q3'])}] ({f.format(scale * d['min'])}–"
            f"{f.format(scale * d['max'])})")


def _recipe_line(variant: str, v: dict) -> str:
    s = v["settings"]
    options = ", ".join(f"{k} {val}" for k, val in s["model_options"].items())
    momentum = f" momentum {s['momentum']:g}" if s["momentum"] else ""
    line = (f"{s['dataset']}, {s['loss']} loss, {s['optimizer']} lr {s['lr']:g}{momentum}, "
            f"batch {s['batch_size']}, {s['epochs']} epoch(s) on {v['train_examples']:,} "
            f"training images" + (f", {options}" if options else ""))
    if not v["full_recipe"]:
        line += (". **Shortened** (not the notebook's full recipe and data): the notebook's "
                 "figures are shown for reference, not for comparison")
    return line


def _seed_ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] as "0–2, 5, 7–8"."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def _variant_section(variant: str, v: dict, png: str) -> list[str]:
    fw = v["frameworks"]
    lines = [f"## {variant}", "", _recipe_line(variant, v) + ".", ""]
    lines.append("Seeds: " + "; ".join(
        f"{NAMES[f]} {s['n']} (seeds {_seed_ranges(s['seeds'])}, {s['seconds_per_seed']:.0f} s "
        "per seed)" for f, s in fw.items()) + ".")
    lines += ["", f"![per-seed curves of {variant}]({png})", ""]
    # per-epoch table
    figures = {(n["metric"], n["epoch"]): _shown(n) for n in v["notebook"]}
    present = [f for f in ORDER if f in fw]
    lines += ["Test accuracy % per epoch: median [interquartile range] (min–max).", "",
              "| epoch | " + " | ".join(NAMES[f] for f in present) + " | notebook |",
              "| ---: | " + " | ".join("---" for _ in present) + " | --- |"]
    epochs = len(fw[present[0]]["per_epoch"])
    for e in range(epochs):
        cells = [_spread(fw[f]["per_epoch"][e]["test_accuracy"]) if e < len(
            fw[f]["per_epoch"]) else "—" for f in present]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " | "
                     + figures.get(("test_accuracy", e + 1), "") + " |")
    # where the notebook's figures fall
    if v["notebook"]:
        lines += ["", "**Where the notebook's figures fall.**", ""]
        head = _headline(v)
        if head:
            lines += [f"- {p['words']}" for p in head["placements"].values()] + [""]
        lines += ["| notebook | figure | epoch | value | "
                  + " | ".join(f"{NAMES[f]} percentile" for f in present) + " | note |",
                  "| --- | --- | ---: | --- | " + " | ".join("---:" for _ in present) + " | --- |"]
        for n in v["notebook"]:
            cells = [f"{n['placements'][f]['percentile']:.0f}" if f in n["placements"] else "—"
                     for f in present]
            lines.append(f"| {n['notebook']} | {n['metric'].replace('_', ' ')} | {n['epoch']} | "
                         f"{_shown(n)} | " + " | ".join(cells) + f" | {n['note']} |")
    # parity
    lines += ["", "**Do the frameworks train alike?**", ""]
    p = v["parity"]
    if p is None:
        lines.append("Needs at least 2 seeds in each framework.")
    else:
        unreachable = math.isinf(p["detectable_shift"])
        shift = ("none at this N" if unreachable else f"{100 * p['detectable_shift']:.2f} pp")
        verdict = (f"The frameworks' final accuracies differ at the {ALPHA:.0%} level."
                   if p["p"] < ALPHA else
                   "No difference detected, but at this N no shift could have been detected "
                   f"with {POWER:.0%} power." if unreachable else
                   "No difference detected: a shift of the whole distribution by "
                   f"{shift} or more would have been detected with {POWER:.0%} power.")
        lines.append(
            f"Final test accuracy, JAX − PyTorch: medians differ by "
            f"{100 * p['median_difference']:+.2f} pp, Hodges–Lehmann shift "
            f"{100 * p['hodges_lehmann']:+.2f} pp; Mann–Whitney U = {p['u']:.1f} "
            f"(P(JAX seed > PyTorch seed) = {p['superiority']:.2f}), p = {p['p']:.3g} "
            f"(n = {p['n_reference']} PyTorch, {p['n_other']} JAX). Smallest shift detectable "
            f"with {POWER:.0%} power at α = {ALPHA}: {shift}. {verdict}")
    lines += _phenomena(variant, v)
    return lines


def _phenomena(variant: str, v: dict) -> list[str]:
    lines = []
    dead = v["dead_classes"]
    relu = variant.split("+")[0] in RELU_OUTPUT
    if relu or any(d["seeds_with_dead"] for d in dead.values()):
        silent = (", and silent output units (the ReLU'd score is 0 on every test image)"
                  if relu else "")
        lines += ["", "**Dead output classes** (a class none of whose test images is classified "
                  f"correctly after the last epoch; among the seeds above 20 %){silent}:", ""]
        for f in ORDER:
            if f not in dead:
                continue
            d = dead[f]
            hist = ", ".join(f"{seeds} with {k}" for k, seeds in d["histogram"].items() if k)
            classes = ", ".join(f"class {c} in {k}" for c, k in d["classes"].items())
            text = (f"- {NAMES[f]}: {d['seeds_with_dead']} of {_seeds(d['n'])}"
                    + (f" ({hist}); {classes}" if d["seeds_with_dead"] else "")
                    + (f" ({_seeds(d['at_chance'])} still at chance left out)"
                       if d["at_chance"] else ""))
            if relu:
                text += ("; seeds with a silent unit: "
                         f"{sum(1 for units in d['silent_units'].values() if units)}")
            lines.append(text + ".")
    escape = v["plateau_escape"]
    if escape:
        lines += ["", f"**Leaving the plateau**: the first epoch with test accuracy above "
                  f"{100 * escape['threshold']:.0f} %"
                  + (f" (the notebook's: epoch {escape['notebook']})" if escape["notebook"]
                     else "") + ".", ""]
        for f in ORDER:
            if f not in escape:
                continue
            e = escape[f]
            parts = [f"epoch {k}: {_seeds(n)}" for k, n in e["histogram"].items() if k]
            if e["never"]:
                parts.append(f"not within the run: {_seeds(e['never'])}")
            median = (f"median epoch {e['median']:g}" if e["median"] <= escape["epochs"]
                      else "median: not within the run")
            lines.append(f"- {NAMES[f]}: {', '.join(parts)}; {median}."
                         + (f" {e['notebook_words']}" if "notebook_words" in e else ""))
    return lines


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _loss_pair_section(pair: dict) -> list[str]:
    lines = [f"## {pair['notebook_loss']}: the notebook's loss against "
             f"`{pair['other_loss']}`", "",
             "Final test accuracy %: median [interquartile range] (min–max), standard deviation; "
             "Brown–Forsythe test of equal spread.", "",
             "| framework | notebook loss | other loss | IQR ratio | std ratio | p |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for f, s in pair["frameworks"].items():
        a, b = s["describe"]
        iqr = s["iqr"][0] / s["iqr"][1] if s["iqr"][1] else math.inf
        std = s["std"][0] / s["std"][1] if s["std"][1] else math.inf
        lines.append(f"| {NAMES[f]} | {_spread(a)}, sd {100 * s['std'][0]:.2f} | {_spread(b)}, "
                     f"sd {100 * s['std'][1]:.2f} | {iqr:.1f} | {std:.1f} | {s['p']:.3g} |")
    return lines


def _summary_table(analysis: dict) -> list[str]:
    lines = ["| variant | epochs | seeds PyTorch / JAX | final acc % PyTorch | final acc % JAX | "
             "notebook | its percentile PyTorch / JAX | Mann–Whitney p | detectable shift |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for variant, v in analysis["variants"].items():
        fw = v["frameworks"]
        n = " / ".join(str(fw[f]["n"]) if f in fw else "0" for f in ORDER)
        med = [_pct(seed_stats.describe(fw[f]["final"])["median"]) if f in fw else "—"
               for f in ORDER]
        placed = _headline(v)
        nb = f"{_shown(placed)} (epoch {placed['epoch']})" if placed else "—"
        pct = " / ".join(f"{placed['placements'][f]['percentile']:.0f}"
                         if placed and f in placed["placements"] else "—" for f in ORDER)
        p = v["parity"]
        test = f"{p['p']:.3g}" if p else "—"
        shift = ("—" if not p else "∞" if math.isinf(p["detectable_shift"])
                 else f"{100 * p['detectable_shift']:.2f} pp")
        short = "" if v["full_recipe"] else " (shortened)"
        lines.append(f"| {variant}{short} | {v['settings']['epochs']} | {n} | {med[0]} | "
                     f"{med[1]} | {nb} | {pct} | {test} | {shift} |")
    return lines


METHODS = f"""## Methods

- **Spread**: median, interquartile range (numpy's linear interpolation) and min–max over seeds.
- **Percentile of a notebook figure**: a printed figure stands for the values that print the
  same (0.875 from `round(acc, 3)` is [0.8745, 0.8755); `98 %` from `%d` is [98 %, 99 %)); its
  percentile is the mid-rank `100 (lower + same / 2) / N`: 0 below every seed, 100 above all.
- **Parity test**: Mann–Whitney U (Wilcoxon rank-sum), two-sided, on the final test
  accuracies (scipy's default: exact without ties for small N, else the normal approximation
  with tie correction). Chosen because the distributions are not normal (a dead class or a
  late plateau escape makes them bimodal or skewed) and N is small, so a t-test's assumptions
  fail; the U test assumes nothing about their shape and, for a pure shift, loses at most 5 %
  of the t-test's efficiency under normality. The seeds of the two frameworks are independent
  draws (each framework's own initialisation), but seed s shares its batch order in both; any
  resulting correlation between the samples makes the unpaired test conservative.
- **Detectable shift**: the smallest shift δ of one framework's whole distribution that this
  test would detect with {POWER:.0%} power at α = {ALPHA}, at the observed N, by simulation:
  both samples are centred on their medians and pooled (the observed shape and spread);
  2,000 simulated studies draw N values for each framework from that pool (with
  replacement), one of them shifted by δ; δ found by bisection. "No difference detected"
  means only that a shift this large would probably have shown.
- **Dead class**: a class none of whose test images is classified correctly after the last
  epoch (recall 0). For `dropout`, whose class scores pass a ReLU, a *silent unit* is an output
  whose score is 0 on every test image (its largest value ≤ 0): it can never win, and its images
  go to the first of the tied classes. A run still at chance also predicts a single class, so
  for a run that did not learn, dead classes mean "never predicted", not a dead unit.
- **Plateau escape**: the first epoch whose test accuracy exceeds
  {100 * seed_stats.ESCAPE_THRESHOLD:.0f} % (twice chance); shown where some seed was not above
  it after epoch 1. Seeds that never leave it rank after the last epoch.
- **Spread of two losses**: Brown–Forsythe's test (Levene's test centred on medians) of equal
  spread of the final accuracies, robust to non-normal data.
"""


def markdown(analysis: dict, *, command: str | None = None) -> str:
    """The whole report in Markdown."""
    lines = ["# Seed study", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["Every seed trained with its recipe in both frameworks; test accuracy after every "
              "epoch. Final accuracies in %; the notebook's figure and its percentile among the "
              "seeds; the Mann–Whitney test of JAX against PyTorch and the smallest shift it "
              f"would detect with {POWER:.0%} power.", ""]
    lines += _summary_table(analysis)
    for variant, v in analysis["variants"].items():
        lines += [""] + _variant_section(variant, v, plot_name(variant))
    for pair in analysis["loss_pairs"]:
        lines += [""] + _loss_pair_section(pair)
    return "\n".join(lines) + "\n\n" + METHODS


# -- plots ---------------------------------------------------------------------------------------
def plot_name(variant: str) -> str:
    return f"seeds-{variant.replace('+', '-')}.png"


def plot_variant(variant: str, frameworks: dict[str, list[dict]], path: Path) -> Path:
    """Per-seed curves (thin) and medians (thick) of test accuracy, test loss and train
    accuracy by framework, with the notebook's printed figures (black), and the final test
    accuracies seed by seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    colors = {"torch": "tab:orange", "jax": "tab:blue"}
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    titles = {"test_accuracy": "test accuracy %", "test_loss": "test loss",
              "train_accuracy": "train accuracy % (train mode)"}
    epochs = len(next(iter(frameworks.values()))[0]["epochs"])
    for ax, metric in zip(axes[:3], CURVES, strict=True):
        scale = 1 if metric == "test_loss" else 100
        for framework in (f for f in ORDER if f in frameworks):
            curve = scale * _curve(frameworks[framework], metric)
            x = np.arange(1, epochs + 1)
            ax.plot(x, curve.T, color=colors[framework], alpha=0.3, lw=0.8, marker=".", ms=3)
            ax.plot(x, np.median(curve, axis=0), color=colors[framework], lw=2.4, marker="o",
                    ms=4, label=f"{NAMES[framework]} ({len(curve)} seeds; median thick)")
        _overlay(ax, [f for f in notebooks.figures_for(variant, metric) if f.epoch <= epochs],
                 scale)
        ax.set_title(titles[metric])
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, epochs + 0.5)
        if epochs <= 12:
            ax.set_xticks(range(1, epochs + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, _ = axes[0].get_legend_handles_labels()
    axes[0].legend(handles=handles, fontsize=8)
    ax = axes[3]
    for i, framework in enumerate(f for f in ORDER if f in frameworks):
        final = 100 * _curve(frameworks[framework], "test_accuracy")[:, -1]
        jitter = np.linspace(-0.18, 0.18, len(final)) if len(final) > 1 else np.zeros(1)
        ax.scatter(i + jitter, np.sort(final), s=16, color=colors[framework], alpha=0.8)
        ax.hlines(np.median(final), i - 0.3, i + 0.3, color=colors[framework], lw=2)
    head = notebooks.headline(variant)
    if head and head.epoch == epochs:
        ax.axhspan(100 * head.low, 100 * head.high, color="black", alpha=0.15, lw=0)
        ax.axhline(100 * head.value, color="black", ls="--", lw=1,
                   label=f"notebook {head.notebook}: {head.printed}")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(frameworks)), [NAMES[f] for f in ORDER if f in frameworks])
    ax.set_xlim(-0.6, len(frameworks) - 0.4)
    ax.set_title(f"final test accuracy % (epoch {epochs})")
    ax.grid(axis="y", alpha=0.3)
    first = next(iter(frameworks.values()))[0]
    short = ("" if is_full_recipe(variant, first["settings"]) else
             f" (shortened: {epochs} epoch(s) on {first['train_examples']:,} training images)")
    fig.suptitle(f"{variant}: per-seed training curves, notebook figures in black{short}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _overlay(ax, figures: list[notebooks.NotebookFigure], scale: float) -> None:
    """The notebook's figures as black points, with the interval of values that print alike."""
    if not figures:
        return
    x = [f.epoch for f in figures]
    y = [scale * f.value for f in figures]
    err = [[scale * (f.value - f.low) for f in figures], [scale * (f.high - f.value)
                                                          for f in figures]]
    handle = ax.errorbar(x, y, yerr=err, fmt="o", color="black", ms=4, capsize=3, zorder=5,
                         label=f"notebook {figures[0].notebook}")
    ax.legend(handles=[handle], fontsize=8)


# -- writing -------------------------------------------------------------------------------------
def write_report(records: Sequence[dict], out: Path, *, command: str | None = None) -> Path:
    """``seeds.md``, ``seeds.json`` and ``seeds-<variant>.png`` in ``out``; the Markdown path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(records)
    (out / "seeds.json").write_text(json.dumps(_finite({"command": command, **analysis}),
                                               indent=1, allow_nan=False) + "\n")
    for variant, frameworks in _by_variant(records).items():
        plot_variant(variant, frameworks, out / plot_name(variant))
    path = out / "seeds.md"
    path.write_text(markdown(analysis, command=command))
    return path


def _finite(value):
    """``value`` with every non-finite float replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
