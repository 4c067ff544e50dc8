"""The seed study's report, from its records: ``seeds.md``, ``seeds.json`` and a PNG per variant.

The statistics come from :func:`jaxcnn.studies.seed_analysis.analyse`, the plots from
:mod:`jaxcnn.studies.seed_plots`; this module writes the Markdown and JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from jaxcnn.studies import seed_stats
from jaxcnn.studies.seed_analysis import (
    ALPHA,
    NAMES,
    ORDER,
    POWER,
    RELU_OUTPUT,
    analyse,
    by_variant,
    headline_figure,
)
from jaxcnn.studies.seed_plots import plot_name, plot_variant


def _shown(n: dict) -> str:
    """A placed figure for a table: accuracies in %, losses to 4 decimals, and a figure that
    stands for an interval as printed."""
    if n["metric"] == "test_loss":
        return f"{n['value']:.4f}"
    return f"{100 * n['value']:.2f} %" if n["low"] == n["high"] else n["printed"]


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
        head = headline_figure(v)
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
        placed = headline_figure(v)
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


# -- writing -------------------------------------------------------------------------------------
def write_report(records: Sequence[dict], out: Path, *, command: str | None = None) -> Path:
    """``seeds.md``, ``seeds.json`` and ``seeds-<variant>.png`` in ``out``; the Markdown path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(records)
    (out / "seeds.json").write_text(json.dumps(_finite({"command": command, **analysis}),
                                               indent=1, allow_nan=False) + "\n")
    for variant, frameworks in by_variant(records).items():
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
