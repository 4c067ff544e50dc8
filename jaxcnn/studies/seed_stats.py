"""Statistics of a seed study: spreads, where a figure falls, two-sample parity, phenomena.

Everything here is a pure function of numbers (per-seed accuracies, per-class counts); the
training and the records are :mod:`jaxcnn.studies.seed_study`'s, the analysis
:mod:`jaxcnn.studies.seed_analysis`'s.

* :func:`describe`: median, quartiles (numpy's linear interpolation), min and max.
* :func:`place`: where a printed figure (an interval of values, see
:mod:`jaxcnn.studies.notebook_figures`)
  falls among the seeds: how many ended below, within and above it, and its mid-rank
  percentile ``100 * (below + within / 2) / n`` (``scipy.stats.percentileofscore``'s
  ``kind="mean"`` for a figure printed in full).
* :func:`compare`: the Mann–Whitney U test (two-sided) of two frameworks' final accuracies,
  with the Hodges–Lehmann shift estimate and the probability of superiority.
* :func:`detectable_shift`: the smallest shift of one framework's distribution that this test
  detects with the given power at this N, by simulation from the observed spread.
* :func:`spread_test`: Brown–Forsythe's test of equal spread (Levene's, centred on medians).
* :func:`dead_classes`, :func:`escape_epoch`: the phenomena the README explains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ESCAPE_THRESHOLD = 0.2  # twice chance for 10 classes


def describe(values: Sequence[float]) -> dict:
    """n, median, first and third quartile (linear interpolation), min and max."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("describe() needs at least one value")
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    return {"n": int(x.size), "median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(x.min()), "max": float(x.max())}


@dataclass(frozen=True)
class Placement:
    """Where a figure falls in a sample: counts below, within its interval, above."""

    n: int
    below: int
    within: int
    above: int

    @property
    def percentile(self) -> float:
        """Mid-rank percentile: 100 (below + within / 2) / n."""
        return 100.0 * (self.below + self.within / 2) / self.n


def place(values: Sequence[float], low: float, high: float | None = None) -> Placement:
    """Count the ``values`` below ``low``, within ``[low, high)`` and at or above ``high``;
    with ``high`` None (or equal to ``low``), "within" means equal to ``low``."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("place() needs at least one value")
    if high is None or high == low:
        within = np.isclose(x, low, rtol=0, atol=1e-12)
        below = (x < low) & ~within
    else:
        if high < low:
            raise ValueError(f"interval [{low}, {high}) is empty")
        within = (x >= low) & (x < high)
        below = x < low
    return Placement(int(x.size), int(below.sum()), int(within.sum()),
                     int(x.size - below.sum() - within.sum()))


def ordinal(k: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, ..."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def placement_words(printed: str, placement: Placement, population: str) -> str:
    """A plain sentence: "67.84 % is the 70th percentile of 20 PyTorch seeds (14 ended lower,
    0 the same, 6 higher)." ``population`` names the seeds ("PyTorch seeds")."""
    p, n = placement, placement.n
    counts = f"{p.below} ended lower, {p.within} the same, {p.above} higher"
    if p.below == n:
        where = f"is above all {n} {population}"
    elif p.above == n:
        where = f"is below all {n} {population}"
    else:
        where = f"is the {ordinal(round(p.percentile))} percentile of {n} {population}"
    return f"{printed} {where} ({counts})."


def compare(reference: Sequence[float], other: Sequence[float]) -> dict:
    """Mann–Whitney U test, two-sided, of ``other`` against ``reference`` (scipy's default
    method: exact for small samples without ties, else the normal approximation with tie and
    continuity corrections). Returns U (pairs where ``other`` is higher, ties counting one
    half), the p-value, the probability of superiority U / (n_ref n_other), the difference of
    medians and the Hodges–Lehmann shift (median of all pairwise differences other − ref)."""
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.size < 1 or b.size < 1:
        raise ValueError("compare() needs at least one value in each sample")
    result = stats.mannwhitneyu(b, a, alternative="two-sided")
    return {"test": "Mann-Whitney U, two-sided", "n_reference": int(a.size),
            "n_other": int(b.size), "u": float(result.statistic), "p": float(result.pvalue),
            "superiority": float(result.statistic) / (a.size * b.size),
            "median_difference": float(np.median(b) - np.median(a)),
            "hodges_lehmann": float(np.median(np.subtract.outer(b, a)))}


def detectable_shift(reference: Sequence[float], other: Sequence[float], *,
                     alpha: float = 0.05, power: float = 0.8, simulations: int = 2000,
                     seed: int = 0, sizes: tuple[int, int] | None = None) -> float:
    """The smallest shift δ that the Mann–Whitney test (two-sided, level ``alpha``) detects with
    probability ``power`` at these sample sizes, for the observed spread.

    The common shape is both samples pooled after centring each on its own median (so a real
    shift between them does not widen it). Each simulation draws ``n_ref`` values from that pool
    and ``n_other`` values from it shifted by δ (with replacement, the same draws for every δ);
    δ is found by bisection to 1e-6. ``sizes`` overrides (n_ref, n_other). Returns ``inf`` when
    no shift reaches the power at these sizes (samples too small for the test's level).
    """
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    pool = np.concatenate([a - np.median(a), b - np.median(b)])
    n_a, n_b = sizes or (a.size, b.size)
    rng = np.random.default_rng(seed)
    draws_a = pool[rng.integers(0, pool.size, (simulations, n_a))]
    draws_b = pool[rng.integers(0, pool.size, (simulations, n_b))]

    def reaches(delta: float) -> bool:
        p = stats.mannwhitneyu(draws_b + delta, draws_a, alternative="two-sided", axis=1,
                               method="asymptotic").pvalue
        return float(np.mean(p < alpha)) >= power

    hi = max(float(np.ptp(pool)), 1e-6)
    for _ in range(40):
        if reaches(hi):
            break
        hi *= 2
    else:
        return math.inf
    lo = 0.0
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def spread_test(first: Sequence[float], second: Sequence[float]) -> dict:
    """Brown–Forsythe test of equal spread (``scipy.stats.levene(center="median")``) and each
    sample's interquartile range and standard deviation (ddof 1)."""
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    constant = np.ptp(np.concatenate([a - np.median(a), b - np.median(b)])) == 0
    p = 1.0 if constant else float(stats.levene(a, b, center="median").pvalue)
    iqr = [float(np.subtract(*np.percentile(x, [75, 25]))) for x in (a, b)]
    std = [float(x.std(ddof=1)) if x.size > 1 else math.nan for x in (a, b)]
    return {"test": "Brown-Forsythe", "p": p, "iqr": iqr, "std": std}


def dead_classes(class_correct: Sequence[int]) -> list[int]:
    """Classes with no test image classified correctly (recall 0): a dead output class."""
    return [c for c, correct in enumerate(class_correct) if correct == 0]


def escape_epoch(test_accuracy: Sequence[float], threshold: float = ESCAPE_THRESHOLD
                 ) -> int | None:
    """The first epoch (from 1) whose test accuracy exceeds ``threshold``; None if none does."""
    return next((epoch for epoch, acc in enumerate(test_accuracy, 1) if acc > threshold), None)
