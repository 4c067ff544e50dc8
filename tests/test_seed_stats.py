"""The seed study's statistics on constructed inputs with known answers (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from jaxcnn.studies import notebook_figures as notebooks
from jaxcnn.studies.seed_stats import (
    Placement,
    compare,
    dead_classes,
    describe,
    detectable_shift,
    escape_epoch,
    ordinal,
    place,
    placement_words,
    spread_test,
)

NORMAL = stats.norm.ppf((np.arange(400) + 0.5) / 400)  # a sample with the normal's shape, σ ≈ 1


def test_describe() -> None:
    assert describe([5, 1, 4, 2, 3]) == {"n": 5, "median": 3.0, "q1": 2.0, "q3": 4.0,
                                         "min": 1.0, "max": 5.0}
    assert describe([1, 2, 3, 4])["q1"] == pytest.approx(1.75)  # linear interpolation
    with pytest.raises(ValueError):
        describe([])


@pytest.mark.parametrize("score", [0.05, 0.1, 0.25, 0.3, 0.55, 0.9, 1.0])
def test_place_of_a_point_is_scipys_mean_percentile(score: float) -> None:
    values = [0.1, 0.3, 0.3, 0.5, 0.6, 0.9, 0.2, 0.3]
    assert place(values, score).percentile == pytest.approx(
        stats.percentileofscore(values, score, kind="mean"))


def test_place_of_an_interval_counts_the_values_that_print_alike() -> None:
    # "98 %" printed with %d stands for [0.98, 0.99)
    p = place([0.975, 0.98, 0.985, 0.99, 0.995], 0.98, 0.99)
    assert p == Placement(n=5, below=1, within=2, above=2)
    assert p.percentile == pytest.approx(40.0)
    with pytest.raises(ValueError, match="empty"):
        place([0.5], 0.6, 0.5)


def test_ordinals() -> None:
    assert [ordinal(k) for k in (0, 1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 70, 101, 111, 112)] == [
        "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
        "70th", "101st", "111th", "112th"]


def test_placement_words() -> None:
    seeds = [0.60 + 0.001 * i for i in range(14)] + [0.70 + 0.01 * i for i in range(6)]
    words = placement_words("67.84 %", place(seeds, 0.6784), "PyTorch seeds")
    assert words == ("67.84 % is the 70th percentile of 20 PyTorch seeds (14 ended lower, "
                     "0 the same, 6 higher).")
    assert placement_words("x", place([0.1, 0.2], 0.3), "JAX seeds").startswith(
        "x is above all 2 JAX seeds")
    assert placement_words("x", place([0.1, 0.2], 0.05), "JAX seeds").startswith(
        "x is below all 2 JAX seeds")


def test_compare_by_hand() -> None:
    # Every "other" value beats every reference value: U = 3 * 3 = 9; the exact two-sided
    # p-value is 2 / C(6, 3) = 0.1; the pairwise differences 1..5 have median 3.
    c = compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert c["u"] == 9 and c["superiority"] == 1.0
    assert c["p"] == pytest.approx(0.1)
    assert c["hodges_lehmann"] == 3.0 and c["median_difference"] == 3.0


def test_compare_with_ties_is_scipys_test() -> None:
    torch_acc = [0.10, 0.10, 0.295, 0.31, 0.46, 0.10, 0.52, 0.38]
    jax_acc = [0.10, 0.462, 0.41, 0.10, 0.55, 0.49, 0.33, 0.60, 0.44]
    c = compare(torch_acc, jax_acc)
    expected = stats.mannwhitneyu(jax_acc, torch_acc, alternative="two-sided")
    assert (c["u"], c["p"]) == pytest.approx((expected.statistic, expected.pvalue))
    pairs = [(j > t) + 0.5 * (j == t) for j in jax_acc for t in torch_acc]
    assert c["u"] == pytest.approx(sum(pairs))  # U counts the pairs JAX wins, ties as 1/2
    assert (c["n_reference"], c["n_other"]) == (8, 9)


def test_detectable_shift_matches_normal_theory() -> None:
    # For normal data, a two-sided 5 % test with 80 % power at n = 20 per group detects
    # (z_.975 + z_.8) σ sqrt(2 / n) = 0.886 σ with the t-test; the U test needs 1 / sqrt(3 / π)
    # times that (its asymptotic efficiency), 0.907 σ, a little more at small n.
    normal_theory = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(2 / 20)
                     / math.sqrt(3 / math.pi))
    d = detectable_shift(NORMAL, NORMAL, sizes=(20, 20))
    assert normal_theory * 0.98 < d < normal_theory * 1.08
    # the test is rank-based: scaling the data scales the shift; 4x the seeds halve it
    assert detectable_shift(2 * NORMAL, 2 * NORMAL, sizes=(20, 20)) == pytest.approx(2 * d,
                                                                                      abs=3e-6)
    assert detectable_shift(NORMAL, NORMAL, sizes=(80, 80)) == pytest.approx(d / 2, rel=0.06)


def test_detectable_shift_edge_cases() -> None:
    assert detectable_shift([0.5] * 6, [0.5] * 6) <= 1e-6  # no spread: any shift shows
    assert math.isinf(detectable_shift([0.1, 0.2], [0.3, 0.1]))  # 2 + 2 seeds: never p < 0.05
    # a real shift between the samples does not widen the spread the shift is judged by
    assert detectable_shift(NORMAL, NORMAL + 5, sizes=(20, 20)) == pytest.approx(
        detectable_shift(NORMAL, NORMAL, sizes=(20, 20)), abs=1e-6)


def test_spread_test_is_brown_forsythe() -> None:
    wide, narrow = [0.5, 0.7, 0.9, 0.62, 0.77, 0.85], [0.97, 0.975, 0.98, 0.978, 0.972, 0.981]
    s = spread_test(wide, narrow)
    assert s["p"] == pytest.approx(stats.levene(wide, narrow, center="median").pvalue)
    assert s["iqr"][1] == pytest.approx(np.subtract(*np.percentile(narrow, [75, 25])))
    assert s["std"][0] == pytest.approx(np.std(wide, ddof=1))
    assert spread_test([0.5, 0.5], [0.7, 0.7])["p"] == 1.0


def test_dead_classes() -> None:
    assert dead_classes([980, 0, 1010, 995, 0, 880, 940, 1000, 950, 990]) == [1, 4]
    assert dead_classes([1] * 10) == []


def test_escape_epoch() -> None:
    assert escape_epoch([0.1, 0.2, 0.21, 0.5]) == 3  # "above 20 %": 0.2 itself is not
    assert escape_epoch([0.1, 0.1]) is None
    assert escape_epoch([0.95]) == 1
    printed = [f.value for f in notebooks.figures_for("lenet", "test_accuracy")]
    assert escape_epoch(printed) == 3  # notebook 004: 18.54, 19.15, 27.27 %
