"""The seed study's analysis: its records turned into statistics per variant.

:func:`analyse` turns the records (:mod:`jaxcnn.studies.seed_records`) into statistics
(:mod:`jaxcnn.studies.seed_stats`) per variant: per framework and epoch the median, quartiles and
range of test accuracy (and of test loss and train accuracy); where each figure the notebook
printed falls among each framework's seeds; the two-sample test of the frameworks' final
accuracies with the shift it could have detected; and the phenomena the README explains: dead
output classes, the epoch a run leaves the chance-level plateau, and the spread of ``padded``'s
notebook loss against the corrected one. :mod:`jaxcnn.studies.seed_report` writes them out.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

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


def by_variant(records: Sequence[dict]) -> dict[str, dict[str, list[dict]]]:
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


def metric_curve(rows: list[dict], metric: str) -> np.ndarray:
    """(seeds, epochs) array of ``metric``."""
    return np.array([[e[metric] for e in r["epochs"]] for r in rows], dtype=np.float64)


def is_full_recipe(variant: str, settings: dict) -> bool:
    """Whether ``settings`` are the notebook's own recipe on the whole data sets."""
    recipe = variant_recipe(variant)
    return (settings["epochs"] == recipe.epochs and settings["train_subset"] is None
            and settings["test_subset"] is None)


def _framework_stats(rows: list[dict]) -> dict:
    epochs = len(rows[0]["epochs"])
    curves = {m: metric_curve(rows, m) for m in CURVES}
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
            curve = metric_curve(rows, figure.metric)
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


# -- Markdown --------------------------------------------------------------------------------------
def headline_figure(v: dict) -> dict | None:
    """The notebook's last printed test accuracy that the runs reached, placed; or None."""
    return next((n for n in reversed(v["notebook"]) if n["metric"] == "test_accuracy"), None)


def _parity(frameworks: dict[str, list[dict]]) -> dict | None:
    if not all(len(frameworks.get(f, [])) >= 2 for f in ORDER):
        return None
    torch_final, jax_final = (metric_curve(frameworks[f], "test_accuracy")[:, -1] for f in ORDER)
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
    curves = {f: metric_curve(rows, "test_accuracy") for f, rows in frameworks.items()}
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
                a = metric_curve(rows_a, "test_accuracy")[:, -1]
                b = metric_curve(rows_b, "test_accuracy")[:, -1]
                entry["frameworks"][framework] = {
                    **seed_stats.spread_test(a, b),
                    "describe": [seed_stats.describe(a), seed_stats.describe(b)]}
        if entry["frameworks"]:
            pairs.append(entry)
    return pairs


def analyse(records: Sequence[dict]) -> dict:
    """Every statistic of the report, JSON-serialisable."""
    table = by_variant(records)
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
