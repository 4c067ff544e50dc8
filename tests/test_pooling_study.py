"""The pooling study: grid, default training, statistics and outputs (mostly on given results)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from helpers import data_dir
from scipy import stats

from jaxcnn.cli import compare_pooling  # scripts/compare_pooling.py's command line
from jaxcnn.studies.pooling_report import write_outputs
from jaxcnn.studies.pooling_stats import (
    compare,
    describe,
    near_chance,
    partly_at_chance,
    tabulate,
    verdict,
)
from jaxcnn.studies.pooling_study import (
    DEFAULT_TRAINING,
    VARIANTS,
    Cell,
    Training,
    grid,
    train_cell,
)
from jaxcnn.studies.study_data import Data


@pytest.mark.parametrize(("argv", "expected"), [
    ([], DEFAULT_TRAINING),
    (["--epochs", "2"], {v: Training(2, t.train_subset) for v, t in DEFAULT_TRAINING.items()}),
    (["--train-subset", "500"], {v: Training(t.epochs, 500) for v, t in DEFAULT_TRAINING.items()}),
    (["--epochs", "2", "--train-subset", "500", "--full"], {v: Training() for v in VARIANTS}),
])
def test_each_row_trains_for_its_default_unless_told(argv, expected) -> None:
    script = compare_pooling
    assert script.training(script.build_parser().parse_args(argv)) == expected
    assert set(DEFAULT_TRAINING) == set(VARIANTS)


def test_a_cell_trains_on_its_rows_subset_for_its_epochs() -> None:
    data = Data({"mnist": str(data_dir("mnist"))}, None, test_subset=500)
    result = train_cell(Cell("lenet3x3", "max", "mnist"), [0, 1], data, Training(2, 300),
                        progress=False)
    assert (result["epochs"], result["train_examples"], result["seeds"]) == (2, 300, [0, 1])
    assert len(result["accuracy"]) == 2 and result["accuracy"][0] != result["accuracy"][1]
    assert min(result["accuracy"]) > 0.3  # 60 Adam steps of batch 10: far above chance


def test_grid_and_recipes() -> None:
    cells = grid(["padded", "padded+log_nll", "lenet"], ["max", "avg"], ["mnist"])
    assert len(cells) == 6
    corrected = next(c for c in cells if c.variant == "padded+log_nll").recipe(epochs=1)
    assert (corrected.arch, corrected.loss, corrected.epochs) == ("padded", "log_nll", 1)
    lenet = next(c for c in cells if c.variant == "lenet" and c.pool == "avg").recipe(None)
    assert (lenet.dataset, lenet.epochs, lenet.model_options) == ("mnist", 10, {"pool": "avg"})
    with pytest.raises(ValueError, match="resnet"):
        grid(["resnet"], ["max"], ["mnist"])


def test_describe_is_student_t() -> None:
    d = describe([0.90, 0.92, 0.91, 0.95])
    half = stats.t.ppf(0.975, 3) * d["std"] / 2
    assert d["mean"] == pytest.approx(0.92)
    assert d["std"] == pytest.approx(0.021602, rel=1e-4)  # ddof 1
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.92 - half, 0.92 + half))
    assert math.isnan(describe([0.9])["std"])


def test_compare_is_paired() -> None:
    a, b = [0.91, 0.95, 0.89, 0.93], [0.90, 0.94, 0.885, 0.915]
    c = compare(a, b)
    assert c["mean_diff"] == pytest.approx(0.01)
    assert c["p_paired"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert c["p_welch"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert c["p_paired"] < 0.05 < c["p_welch"]  # pairing removes the seeds' spread


def test_outputs(tmp_path: Path) -> None:
    runs = [{"dataset": d, "variant": "classic", "pool": p, "epochs": 1, "batch_size": 50,
             "train_examples": 100, "seeds": [0, 1, 2], "seconds": 1.0,
             "accuracy": [base + 0.01 * i for i in range(3)]}
            for d in ("mnist", "fashion_mnist") for p, base in (("max", 0.9), ("avg", 0.88))]
    write_outputs(runs, tmp_path, command="python scripts/compare_pooling.py", wall_seconds=60)
    for name in ("results.json", "results.csv", "table.md", "summary.md", "pooling.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 12 and rows[0]["seed"] == "0"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [d["mean_diff"] for d in saved["max_minus_avg"]] == pytest.approx([0.02, 0.02])
    summary = (tmp_path / "summary.md").read_text()
    assert "paired t-test" in summary and "| mnist | classic | +2.00 |" in summary


def test_rows_near_chance_are_named_in_the_verdict() -> None:
    cells = [{"dataset": "mnist", "variant": v, "pool": p, "mean": m}
             for v, p, m in (("lenet", "max", 0.11), ("lenet", "avg", 0.19),
                             ("classic", "max", 0.15), ("classic", "avg", 0.21))]
    assert near_chance(cells) == [("mnist", "lenet")]
    words = verdict([], untrained=near_chance(cells))
    assert "Not trained enough to compare" in words and "lenet on mnist" in words
    assert "Not trained enough" not in verdict([])


def test_seeds_still_at_chance_are_counted_and_named(tmp_path: Path) -> None:
    runs = [{"dataset": "fashion_mnist", "variant": v, "pool": p, "epochs": 1, "batch_size": 64,
             "train_examples": 3000, "seeds": [0, 1, 2, 3], "seconds": 1.0, "accuracy": acc}
            for v, p, acc in (("lenet", "max", [0.10, 0.10, 0.42, 0.55]),
                              ("lenet", "avg", [0.10, 0.38, 0.41, 0.47]),
                              ("dropout", "max", [0.10, 0.10, 0.10, 0.11]),
                              ("dropout", "avg", [0.10, 0.12, 0.10, 0.10]),
                              ("classic", "max", [0.8, 0.82, 0.85, 0.9]),
                              ("classic", "avg", [0.78, 0.8, 0.83, 0.88]))]
    cells, _ = tabulate(runs)
    assert [c["at_chance"] for c in cells] == [2, 1, 4, 4, 0, 0]
    assert near_chance(cells) == [("fashion_mnist", "dropout")]
    assert partly_at_chance(cells) == [("fashion_mnist", "lenet", "max: 2 of 4, avg: 1 of 4")]
    write_outputs(runs, tmp_path, command="python scripts/compare_pooling.py", wall_seconds=60)
    summary = (tmp_path / "summary.md").read_text()
    assert "Not trained enough to compare" in summary and "dropout on fashion_mnist" in summary
    assert "Some seeds still below 20 %" in summary
    assert "lenet on fashion_mnist (max: 2 of 4, avg: 1 of 4)" in summary
    assert "| fashion_mnist | lenet | 1 × 3,000 | max | 4 | 29.25 | " in summary
    assert "| 2 |" in summary


def test_one_seed_gives_no_interval_and_says_so(tmp_path: Path) -> None:
    """``--seeds 1`` printed ``[+nan, +nan] nan`` and "no significant difference" (issue 21)."""
    runs = [{"dataset": "mnist", "variant": "padded", "pool": p, "epochs": 1, "batch_size": 50,
             "train_examples": 100, "seeds": [0], "seconds": 1.0, "accuracy": [accuracy]}
            for p, accuracy in (("max", 0.9), ("avg", 0.88))]
    write_outputs(runs, tmp_path, command="python scripts/compare_pooling.py --seeds 1",
                  wall_seconds=60)
    for name in ("table.md", "summary.md"):
        text = (tmp_path / name).read_text()
        assert "nan" not in text.lower(), (name, text)
        assert "needs 2 or more seeds" in text, (name, text)
        assert "no significant difference" not in text, (name, text)
