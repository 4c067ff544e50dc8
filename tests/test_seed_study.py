"""The seed study's training on real data: a seed in a multi-seed group trains as it does alone
(and as ``scripts/train.py --seed`` trains it), interrupted studies resume to the same records,
the results file survives a kill, and bad input is refused.

Runs are small (1 epoch on the first few hundred images, a few hundred test images) to stay
fast; the subprocess test with SIGKILL is marked slow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from data_helpers import REPO_ROOT, fashion_dir, mnist_dir, require_idx

from jaxcnn.cli import seeds as seeds_cli
from jaxcnn.data import batch_indices, load
from jaxcnn.studies.seed_records import RecordsError, SeedRecords, SettingsConflict
from jaxcnn.studies.seed_study import (
    plan,
    run_study,
    settings,
    train_jax,
    train_torch,
    variant_recipe,
)
from jaxcnn.studies.study_data import Data
from jaxcnn.training.run import make_trainer

SCRIPT = REPO_ROOT / "scripts" / "seeds.py"
TIMING = {"seconds", "group_seconds", "finished"}
SMALL = {"epochs": 1, "train_subset": 640, "test_subset": 500}


@pytest.fixture(scope="module")
def fashion() -> dict[str, str]:
    return {"fashion_mnist": str(require_idx(fashion_dir(), "Fashion-MNIST"))}


def without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def read(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "seeds.jsonl").read_text().splitlines()]


# -- variants and the results file ---------------------------------------------------------------
def test_variants() -> None:
    assert variant_recipe("padded+avg").model_options == {"pool": "avg"}
    corrected = variant_recipe("padded+log_nll", epochs=1)
    assert (corrected.loss, corrected.epochs, corrected.model_options) == ("log_nll", 1, {})
    assert variant_recipe("lenet").epochs == 10
    with pytest.raises(ValueError, match="'softmax' in variant 'padded\\+softmax'"):
        variant_recipe("padded+softmax")
    with pytest.raises(ValueError, match="resnet"):
        variant_recipe("resnet")


def fake(variant: str, framework: str, seed: int, **changes) -> dict:
    recipe = variant_recipe(variant, epochs=1)
    return {"variant": variant, "framework": framework, "seed": seed,
            "settings": {**settings(recipe, 640, 500), **changes}}


def test_plan_alternates_frameworks_and_skips_done_seeds(tmp_path: Path) -> None:
    records = SeedRecords(tmp_path / "seeds.jsonl")
    for seed in (0, 3):
        records.append(fake("lenet", "jax", seed))
    records.append(fake("lenet", "torch", 1))
    tasks = plan(["lenet"], range(6), ["jax", "torch"], records, group_size=2)
    assert tasks == [("lenet", "jax", (1, 2)), ("lenet", "torch", (0, 2)),
                     ("lenet", "jax", (4, 5)), ("lenet", "torch", (3, 4)),
                     ("lenet", "torch", (5,))]


def test_a_line_cut_off_by_a_kill_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    whole = json.dumps(fake("lenet", "jax", 0)) + "\n"
    path.write_text(whole + json.dumps(fake("lenet", "jax", 1))[:40])
    records = SeedRecords(path)
    assert [r["seed"] for r in records.records] == [0]
    assert path.read_text() == whole  # appends start on a fresh line
    records.append(fake("lenet", "jax", 1))
    assert [r["seed"] for r in SeedRecords(path).records] == [0, 1]


def test_a_broken_line_and_other_settings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text("{not json\n" + json.dumps(fake("lenet", "jax", 0)) + "\n")
    with pytest.raises(RecordsError, match=f"{path}, line 1"):
        SeedRecords(path)
    path.write_text(json.dumps(fake("lenet", "jax", 0, train_subset=3000)) + "\n")
    records = SeedRecords(path)
    with pytest.raises(SettingsConflict, match="train_subset: 3000 there, 640 now"):
        records.check_settings("lenet", settings(variant_recipe("lenet", epochs=1), 640, 500))
    records.check_settings("classic", settings(variant_recipe("classic"), None, None))


# -- training ------------------------------------------------------------------------------------
def alone(framework: str, recipe, seed: int, where: str, n_train: int, n_test: int) -> list[dict]:
    """``seed`` trained alone by the trainer ``scripts/train.py --framework F --seed S`` uses
    (``jaxcnn.training.run.make_trainer``), on the first ``n_train`` / ``n_test`` images."""
    train, test = (load(recipe.dataset, split, data_dir=where) for split in ("train", "test"))
    train = dataclasses.replace(train, images=train.images[:n_train],
                                labels=train.labels[:n_train])
    test = dataclasses.replace(test, images=test.images[:n_test], labels=test.labels[:n_test])
    trainer = make_trainer(framework, recipe.replace(seed=seed), train, test)
    rows = []
    for epoch in range(1, recipe.epochs + 1):
        batches = batch_indices(n_train, recipe.batch_size, seed=seed, epoch=epoch - 1)
        metrics = trainer.train_epoch(batches, epoch=epoch, progress=False)
        evaluation = trainer.evaluate()
        rows.append({"train_loss": metrics.loss, "train_accuracy": metrics.accuracy,
                     "test_loss": evaluation.loss, "test_accuracy": evaluation.accuracy,
                     "class_predicted": np.bincount(evaluation.outputs.argmax(-1),
                                                    minlength=10).tolist()})
    return rows


@pytest.mark.parametrize("arch", ["classic", "dropout"])
def test_a_seed_in_a_group_trains_as_it_does_alone(arch: str) -> None:
    """classic (SGD, momentum 0.9; lr 0.01 to learn fast) and dropout (its Dropout2d draws from
    each seed's own stream) for 2 epochs on 1,000 MNIST images: seed 3 in the group (0, 3)
    against seed 3 trained alone by scripts/train.py's JAX trainer. The group's compiled program
    may round differently (tests/test_multiseed.py bounds the weights to 2.8e-6); here the
    metrics: losses to 1e-5 relative, at most one test image classified otherwise."""
    where = str(require_idx(mnist_dir(), "MNIST"))
    recipe = variant_recipe(arch, epochs=2).replace(lr=0.01 if arch == "classic" else 0.05)
    rows, _ = train_jax(recipe, (0, 3), Data({"mnist": where}, 1000, 600), progress=False)
    for mine, expected in zip(rows[1], alone("jax", recipe, 3, where, 1000, 600), strict=True):
        assert mine["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-5)
        assert mine["train_accuracy"] == pytest.approx(expected["train_accuracy"], abs=1e-3)
        assert mine["test_loss"] == pytest.approx(expected["test_loss"], rel=1e-5)
        assert abs(mine["test_accuracy"] - expected["test_accuracy"]) <= 1 / 600 + 1e-12
        assert np.abs(np.subtract(mine["class_predicted"],
                                  expected["class_predicted"])).sum() <= 2
    # it learnt something to compare (dropout, 2 epochs of 1,000 images: about 35 %, chance 10 %)
    assert {"classic": 0.5, "dropout": 0.2}[arch] < rows[1][-1]["test_accuracy"] < 1
    assert rows[0][-1]["test_loss"] != rows[1][-1]["test_loss"]  # and the seeds differ


def test_a_torch_seed_is_scripts_train_seed(fashion) -> None:
    recipe = variant_recipe("lenet3x3", epochs=1).replace(dataset="fashion_mnist")
    mine = train_torch(recipe, 5, Data(fashion, 300, 200), progress=False)
    expected = alone("torch", recipe, 5, fashion["fashion_mnist"], 300, 200)
    assert [{k: row[k] for k in exp} for row, exp in zip(mine, expected, strict=True)] == expected


def test_an_interrupted_study_resumes_to_the_same_records(fashion, tmp_path: Path) -> None:
    """JAX groups of 2 and PyTorch seed by seed; Ctrl-C right after the third seed is written
    (JAX 0 and 1, PyTorch 0), then the same call again, against the study run straight."""
    study = {"variants": ["lenet"], "seeds": [0, 1, 2, 3], "frameworks": ["jax", "torch"]}
    options = {**SMALL, "group_size": 2, "data_dirs": fashion, "progress": False}
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run_study(*study.values(), straight, **options, log=lambda line: None)

    lines: list[str] = []

    def interrupt_after_three(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(*study.values(), stopped, **options, log=interrupt_after_three)
    before = (stopped / "seeds.jsonl").read_text().splitlines()
    assert [(r["framework"], r["seed"]) for r in map(json.loads, before)] == [
        ("jax", 0), ("jax", 1), ("torch", 0)]

    log: list[str] = []
    run_study(*study.values(), stopped, **options, log=log.append)
    assert log[0].startswith("3 seed(s) already in") and len(log) == 6  # 5 trained, no more
    after = (stopped / "seeds.jsonl").read_text().splitlines()
    assert after[:3] == before  # the finished seeds are kept as they were, never retrained
    key = lambda r: (r["framework"], r["seed"])  # noqa: E731
    assert sorted(without_timing(read(stopped)), key=key) == sorted(
        without_timing(read(straight)), key=key)
    # nothing left to do: a third call trains nothing
    log.clear()
    run_study(*study.values(), stopped, **options, log=log.append)
    assert log == [f"8 seed(s) already in {stopped / 'seeds.jsonl'}: kept, not retrained"]


# -- the script ----------------------------------------------------------------------------------
def seeds_main(*argv: str) -> int:
    return seeds_cli.main(list(argv))  # scripts/seeds.py's command line


@pytest.mark.parametrize(("argv", "message"), [
    (["--arch", "padded+softmax"], "--arch: unknown part 'softmax'"),
    (["--seed-range", "5:5"], "START:STOP"),
    (["--seeds", "3", "--seed-range", "0:3"], "not allowed with"),
    (["--data-dir", "imagenet=/x"], "--data-dir 'imagenet=/x'"),
    (["--framework", "tf"], "invalid choice"),
])
def test_bad_arguments_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        seeds_main(*argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_results_file_with_other_settings_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "seeds.jsonl").write_text(json.dumps(fake("lenet", "jax", 0)) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        seeds_main("--arch", "lenet", "--seeds", "2", "--epochs", "2", "--out", str(tmp_path))
    assert exit_info.value.code == 2
    assert "epochs: 1 there, 2 now" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        seeds_main("--report-only", "--out", str(tmp_path / "empty"))
    assert "no seeds in" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_then_rerun_keeps_the_finished_seeds(fashion, tmp_path: Path) -> None:
    """scripts/seeds.py killed (SIGKILL) once its first seed is written, then run again with
    JAX added and PyTorch on one thread: the seeds written before the kill are kept as they
    were, the missing ones are trained (test_an_interrupted_study_resumes_to_the_same_records
    shows they equal a study run straight), and the report is written."""
    args = ["--arch", "lenet", "--seeds", "3", "--epochs", "1", "--train-subset", "640",
            "--test-subset", "500", "--data-dir", f"fashion_mnist={fashion['fashion_mnist']}",
            "--out", str(tmp_path / "killed"), "--no-progress"]
    results = tmp_path / "killed" / "seeds.jsonl"
    process = subprocess.Popen([sys.executable, str(SCRIPT), *args, "--framework", "torch"],
                               cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (results.exists() and results.read_text().count("\n") >= 1):
            assert process.poll() is None, "ended before its first seed was written"
            assert time.monotonic() < deadline, "no seed written in time"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    kept = results.read_text().splitlines()
    assert 1 <= len(kept) < 3
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--torch-threads", "1",
                           "--group-size", "1"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(kept)} seed(s) already in" in done.stdout + done.stderr
    records = read(tmp_path / "killed")
    assert results.read_text().splitlines()[:len(kept)] == kept
    assert sorted((r["framework"], r["seed"]) for r in records) == [
        (f, s) for f in ("jax", "torch") for s in range(3)]
    rerun_torch = [r for r in records[len(kept):] if r["framework"] == "torch"]
    assert rerun_torch and all(r["device"] == "torch cpu (1 threads)" for r in rerun_torch)
    report = (tmp_path / "killed" / "seeds.md").read_text()
    assert "| lenet (shortened) | 1 | 3 / 3 |" in report
    assert (tmp_path / "killed" / "seeds-lenet.png").exists()
