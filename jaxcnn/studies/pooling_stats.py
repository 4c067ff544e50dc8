"""The pooling study's statistics: per-cell spreads, max against avg, cells at chance, verdict.

The max and avg results of one seed are *paired*: their difference is tested with a paired t-test
on the per-seed differences. Welch's t-test, which ignores the pairing, is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

CHANCE_CEILING = 0.2  # twice chance for 10 classes
NO_INTERVAL = "needs 2 or more seeds"  # why one seed gives no interval and no test


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
        if math.isnan(d["p_paired"]):
            lines.append(f"- {d['dataset']}, notebook loss: max − avg = "
                         f"{100 * d['mean_diff']:+.2f} pp from one seed: no interval and no "
                         f"test can be estimated (a paired t-test {NO_INTERVAL}), so this says "
                         "nothing about which pooling is better.")
            continue
        sig = d["p_paired"] < alpha
        better = "max" if d["mean_diff"] > 0 else "avg"
        lines.append(
            f"- {d['dataset']}, notebook loss: max − avg = {100 * d['mean_diff']:+.2f} pp "
            f"(95% CI [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}], paired t-test "
            f"p = {d['p_paired']:.3g}): "
            + (f"{better} pooling is significantly better at the 5% level."
               if sig else "no significant difference at the 5% level."))
    significant = [d for d in diffs if d["p_paired"] < alpha]
    if diffs and all(math.isnan(d["p_paired"]) for d in diffs):
        lines.append(f"- No comparison can be tested with one seed per cell ({NO_INTERVAL}; "
                     "use --seeds 2 or more).")
        diffs = []
    if diffs:
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
