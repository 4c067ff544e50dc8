"""The seed study's report on constructed records with known statistics (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from jaxcnn.studies import notebook_figures as notebooks
from jaxcnn.studies.seed_analysis import analyse, is_full_recipe
from jaxcnn.studies.seed_report import markdown, write_report
from jaxcnn.studies.seed_study import settings, variant_recipe

CLASS_TOTAL = [1000] * 10


def record(variant: str, framework: str, seed: int, test_accuracy: list[float], *,
           dead: tuple[int, ...] = (), silent: tuple[int, ...] = (), epochs: int | None = None,
           train_subset: int | None = None) -> dict:
    """A record as seed_study writes it, with the given per-epoch test accuracies and the
    classes ``dead`` (none right) and ``silent`` (largest output 0) after the last epoch."""
    recipe = variant_recipe(variant, epochs=epochs or len(test_accuracy))
    rows = []
    for epoch, acc in enumerate(test_accuracy, 1):
        last = epoch == len(test_accuracy)
        correct = [0 if last and c in dead else int(acc * 1000) for c in range(10)]
        rows.append({"epoch": epoch, "train_loss": 2.0 - acc, "train_accuracy": acc + 0.01,
                     "test_loss": 2.3 - 1.5 * acc, "test_accuracy": acc,
                     "class_correct": correct, "class_predicted": CLASS_TOTAL,
                     "class_max_output": [0.0 if last and c in silent else 3.0
                                          for c in range(10)]})
    return {"variant": variant, "framework": framework, "seed": seed,
            "settings": settings(recipe, train_subset, None), "train_examples": 60000,
            "class_total": CLASS_TOTAL, "epochs": rows, "seconds": 10.0 + seed,
            "group": [seed], "group_seconds": 10.0, "mapping": None, "device": "cpu",
            "versions": {}, "finished": "2026-11-24T00:00:00"}


LENET_TORCH = [0.60 + 0.001 * i for i in range(14)] + [0.70 + 0.01 * i for i in range(6)]
LENET_JAX = [0.55 + 0.01 * i for i in range(20)]


def lenet_records() -> list[dict]:
    out = []
    for framework, finals in (("torch", LENET_TORCH), ("jax", LENET_JAX)):
        for seed, final in enumerate(finals):
            escape = 2 + seed % 4  # leaves the plateau at epoch 2, 3, 4 or 5
            curve = [0.1 if e < escape else 0.3 + (final - 0.3) * e / 10 for e in range(1, 10)]
            out.append(record("lenet", framework, seed, [*curve, final]))
    return out


def test_notebook_figures_are_as_printed() -> None:
    lenet = notebooks.figures_for("lenet", "test_accuracy")
    assert [f.epoch for f in lenet] == list(range(1, 11))
    assert lenet[-1].value == 0.6784 and notebooks.headline("lenet") == lenet[-1]
    assert [round(100 * f.value, 2) for f in lenet[:3]] == [18.54, 19.15, 27.27]
    assert notebooks.figures_for("lenet", "test_loss")[-1].value == pytest.approx(0.86965,
                                                                                    abs=1e-5)
    classic = notebooks.headline("classic")
    assert (classic.low, classic.high, classic.epoch) == (0.98, 0.99, 5)
    padded = notebooks.headline("padded")
    assert padded.low == pytest.approx(0.8745) and padded.high == pytest.approx(0.8755)
    assert [f.value for f in notebooks.figures_for("lenet3x3", "train_accuracy")] == [
        0.94245, 0.9799, 0.98515, 0.98863, 0.99027]
    for f in notebooks.FIGURES:
        assert f.low <= f.value <= f.high and f.metric in notebooks.METRICS, f


def test_lenet_statistics() -> None:
    analysis = analyse(lenet_records())
    v = analysis["variants"]["lenet"]
    assert v["full_recipe"]
    final = v["frameworks"]["torch"]["per_epoch"][-1]["test_accuracy"]
    assert final["median"] == pytest.approx(np.median(LENET_TORCH))
    assert (final["min"], final["max"]) == pytest.approx((0.60, 0.75))
    head = next(n for n in v["notebook"] if (n["metric"], n["epoch"]) == ("test_accuracy", 10))
    assert head["placements"]["torch"]["percentile"] == pytest.approx(70.0)
    assert head["placements"]["torch"]["words"] == (
        "Notebook 004's test accuracy 67.84 % after epoch 10 is the 70th percentile of 20 "
        "PyTorch seeds (14 ended lower, 0 the same, 6 higher).")
    assert head["placements"]["jax"]["percentile"] == pytest.approx(
        stats.percentileofscore(LENET_JAX, 0.6784, kind="mean"))
    parity = v["parity"]
    expected = stats.mannwhitneyu(LENET_JAX, LENET_TORCH, alternative="two-sided")
    assert parity["p"] == pytest.approx(expected.pvalue)
    assert 0 < parity["detectable_shift"] < 0.2
    escape = v["plateau_escape"]
    assert escape["notebook"] == 3
    assert escape["torch"]["histogram"] == {2: 5, 3: 5, 4: 5, 5: 5}
    assert escape["torch"]["never"] == 0 and escape["torch"]["median"] == 3.5
    assert escape["torch"]["notebook_percentile"] == pytest.approx(37.5)  # 5 below, 5 equal
    assert v["dead_classes"]["torch"]["seeds_with_dead"] == 0


def test_dead_classes_and_silent_units_of_dropout() -> None:
    records = [record("dropout", "torch", s, [0.9, 0.97], dead=d, silent=d, epochs=2)
               for s, d in enumerate([(), (3,), (), (3, 7), ()])]
    records += [record("dropout", "jax", s, [0.9, 0.975], dead=d, silent=d, epochs=2)
                for s, d in enumerate([(7,), (), (), (), ()])]
    v = analyse(records)["variants"]["dropout"]
    dead = v["dead_classes"]["torch"]
    assert dead["seeds_with_dead"] == 2 and dead["histogram"] == {0: 3, 1: 1, 2: 1}
    assert dead["classes"] == {3: 2, 7: 1} and dead["per_seed"] == {1: [3], 3: [3, 7]}
    assert dead["silent_units"][3] == [3, 7]
    assert v["dead_classes"]["jax"]["seeds_with_dead"] == 1
    assert not v["full_recipe"]  # 2 of 25 epochs
    text = markdown(analyse(records))
    assert "- PyTorch: 2 of 5 seeds (1 with 1, 1 with 2); class 3 in 2, class 7 in 1" in text
    assert "Shortened" in text


def test_padded_loss_spread_and_interval_figure() -> None:
    notebook_loss = [0.70, 0.98, 0.61, 0.975, 0.8749, 0.80]
    corrected = [0.985, 0.987, 0.986, 0.988, 0.984, 0.986]
    records = [record(v, "torch", s, [0.5, 0.6, acc])
               for v, accs in (("padded", notebook_loss), ("padded+log_nll", corrected))
               for s, acc in enumerate(accs)]
    analysis = analyse(records)
    (pair,) = analysis["loss_pairs"]
    assert (pair["notebook_loss"], pair["other_loss"]) == ("padded", "padded+log_nll")
    s = pair["frameworks"]["torch"]
    assert s["p"] == pytest.approx(stats.levene(notebook_loss, corrected, center="median").pvalue)
    head = next(n for n in analysis["variants"]["padded"]["notebook"] if n["epoch"] == 3)
    # 0.875 printed by round(acc, 3) stands for [0.8745, 0.8755), which holds 0.8749
    placed = head["placements"]["torch"]
    assert (placed["below"], placed["within"], placed["above"]) == (3, 1, 2)
    assert analysis["variants"]["padded"]["parity"] is None  # one framework only


def test_write_report(tmp_path: Path) -> None:
    records = lenet_records()
    path = write_report(records, tmp_path, command="python scripts/seeds.py --arch lenet")
    text = path.read_text()
    for needle in ("| lenet | 10 | 20 / 20 |", "Mann–Whitney U", "70th percentile",
                   "![per-seed curves of lenet](seeds-lenet.png)", "## Methods"):
        assert needle in text, needle
    saved = json.loads((tmp_path / "seeds.json").read_text(),
                       parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert saved["variants"]["lenet"]["frameworks"]["jax"]["n"] == 20
    assert (tmp_path / "seeds-lenet.png").stat().st_size > 10_000


def test_is_full_recipe() -> None:
    full = settings(variant_recipe("classic"), None, None)
    assert is_full_recipe("classic", full)
    assert not is_full_recipe("classic", {**full, "train_subset": 3000})
    assert not is_full_recipe("classic", {**full, "epochs": 2})
