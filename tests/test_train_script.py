"""scripts/train.py end to end on the real data: run directory contents in both frameworks,
exact resume after SIGKILL, determinism, divergence, and argument and data errors.

Runs use ``--subset`` to stay small; each subprocess pays a few seconds of imports and XLA
compilation, so the runs are shared through module-scoped fixtures where a test only reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import safetensors.numpy
import torch
from data_helpers import REPO_ROOT, fashion_dir, require_idx
from helpers import state_arrays

import torch_ref
from jaxcnn import convert, create_model
from jaxcnn.cli import train as train_cli
from jaxcnn.data import batch_indices, load, preprocess
from jaxcnn.training.checkpoints import EpochCheckpoints
from jaxcnn.training.recipes import Recipe
from jaxcnn.training.run import load_data, load_data_building_model, make_trainer

TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"
METRIC_KEYS = {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
               "images_per_second", "global_step"}
TIMING_KEYS = {"seconds", "images_per_second", "startup_seconds", "eval_seconds",
               "eval_images_per_second"}


def train(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run scripts/train.py without progress bars; returns the finished process."""
    return subprocess.run([sys.executable, str(TRAIN_SCRIPT), *args, "--no-progress"],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def train_ok(*args: str) -> subprocess.CompletedProcess:
    result = train(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def load_script():
    """scripts/train.py's command line, to call ``main(argv)`` in-process (fast error checks)."""
    return train_cli


def read_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def read_weights(run_dir: Path) -> dict[str, np.ndarray]:
    return safetensors.numpy.load_file(run_dir / "model.safetensors")


def assert_same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def fashion() -> str:
    return str(require_idx(fashion_dir(), "Fashion-MNIST"))


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory, fashion) -> Path:
    run_dir = tmp_path_factory.mktemp("jax") / "run"
    train_ok("--arch", "lenet", "--epochs", "1", "--subset", "2000", "--data-dir", fashion,
             "--out", str(run_dir))
    return run_dir


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory, fashion) -> Path:
    run_dir = tmp_path_factory.mktemp("torch") / "run"
    train_ok("--arch", "lenet", "--framework", "torch", "--epochs", "1", "--subset", "1200",
             "--data-dir", fashion, "--out", str(run_dir))
    return run_dir


def check_run_files(run_dir: Path, framework: str, subset: int) -> tuple[Recipe, dict]:
    """Check config.json, metrics.jsonl and report.md; return the recipe and the config."""
    config = json.loads((run_dir / "config.json").read_text())
    recipe = Recipe(**config["recipe"])
    assert recipe == Recipe("lenet", "fashion_mnist", "none", "cross_entropy", "sgd", 1e-3,
                            batch_size=64, epochs=1)
    assert config["framework"] == framework
    assert config["data"]["train_examples"] == subset
    assert config["data"]["test_examples"] == subset // 6
    assert {"jax", "flax", "optax", "torch"} <= config["versions"].keys()
    assert config["device"] and "scripts/train.py" in config["command"]

    rows = read_rows(run_dir)
    assert [row["epoch"] for row in rows] == [1]
    row = rows[0]
    assert METRIC_KEYS <= row.keys()
    assert 0 < row["train_loss"] < 3 and 0 < row["test_loss"] < 3
    assert 0 <= row["train_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1
    assert row["seconds"] > 0
    assert row["images_per_second"] == pytest.approx(subset / row["seconds"])
    # the test-set evaluation after the epoch (batch 1000), timed apart from training
    assert row["eval_images_per_second"] == pytest.approx(subset // 6 / row["eval_seconds"])
    assert row["global_step"] == -(-subset // 64)
    # This process's start to its first training step (imports, data, model, compilation).
    assert 0 < row["startup_seconds"] < 600

    report = (run_dir / "report.md").read_text()
    images = re.findall(r"\]\(([^)\s]+\.png)\)", report)
    assert images, "report.md references no PNG"
    for image in images:
        assert (run_dir / image).is_file(), image
    return recipe, config


def fashion_test_inputs(fashion: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    test = load("fashion_mnist", "test", data_dir=fashion)
    return preprocess(test.images[:n], "none"), test.labels[:n]


def torch_outputs(weights: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    model = torch_ref.create_model("lenet")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()


def test_jax_run_writes_every_output(jax_run, fashion):
    recipe, _ = check_run_files(jax_run, "jax", 2000)
    checkpoints = EpochCheckpoints(jax_run)
    assert checkpoints.epochs() == [1]
    state, meta = checkpoints.restore(1)
    assert meta["epoch"] == 1 and meta["global_step"] == 32

    # The checkpoint restores into a fresh trainer; its predictions are the safetensors'.
    images, labels = fashion_test_inputs(fashion, 500)
    trainer = make_trainer("jax", recipe, *load_data(recipe, data_dir=fashion, subset=2000))
    trainer.load_checkpoint_state(state)
    assert trainer.global_step == 32
    jax_out = trainer.engine.predict(trainer.state, images)
    weights = read_weights(jax_run)
    assert_same_weights(weights, trainer.state_dict())
    torch_out = torch_outputs(weights, images)
    np.testing.assert_array_equal(jax_out.argmax(1), torch_out.argmax(1))
    np.testing.assert_allclose(jax_out, torch_out, atol=1e-5, rtol=0)
    assert np.mean(jax_out.argmax(1) == labels) > 0  # real images, real labels


def test_torch_run_writes_every_output(torch_run, fashion):
    recipe, config = check_run_files(torch_run, "torch", 1200)
    assert config["device"].startswith("torch")
    checkpoints = EpochCheckpoints(torch_run)
    assert checkpoints.epochs() == [1]
    state, meta = checkpoints.restore(1)
    assert meta["global_step"] == 19 and meta["framework"] == "torch"
    weights = read_weights(torch_run)
    assert_same_weights(weights, state["model"])

    images, _ = fashion_test_inputs(fashion, 500)
    torch_out = torch_outputs(weights, images)
    jax_model = create_model("lenet")
    convert.from_torch(jax_model, weights)
    jax_model.eval()
    jax_out = np.asarray(jax_model(images))
    np.testing.assert_array_equal(jax_out.argmax(1), torch_out.argmax(1))
    np.testing.assert_allclose(jax_out, torch_out, atol=1e-5, rtol=0)


def test_same_seed_gives_identical_runs(jax_run, fashion, tmp_path):
    again = tmp_path / "again"
    train_ok("--arch", "lenet", "--epochs", "1", "--subset", "2000", "--data-dir", fashion,
             "--out", str(again))
    assert without_timing(read_rows(again)) == without_timing(read_rows(jax_run))
    assert_same_weights(read_weights(again), read_weights(jax_run))


def wait_for(predicate, what: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"training ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(fashion, tmp_path):
    args = ["--arch", "lenet", "--epochs", "3", "--subset", "24000", "--data-dir", fashion]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_ok(*args, "--out", str(straight))

    # Progress bars on (to a file) to see the second epoch under way, then SIGKILL it.
    log = tmp_path / "killed.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, str(TRAIN_SCRIPT), *args, "--out",
                                    str(killed)], stdout=subprocess.DEVNULL, stderr=stderr,
                                   cwd=REPO_ROOT)
        try:
            wait_for(lambda: (killed / "checkpoints" / "1").is_dir(), "checkpoint 1", process)
            in_epoch_2 = re.compile(r"epoch 2: +\d+%\|[^|]*\| *([1-9]\d*)/(\d+)")
            wait_for(lambda: in_epoch_2.search(log.read_text()), "epoch 2 progress", process)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    steps_done, steps_total = map(int, in_epoch_2.findall(log.read_text())[-1])
    assert steps_done < steps_total
    assert EpochCheckpoints(killed).epochs() == [1]
    assert not (killed / "model.safetensors").exists()

    resumed = train_ok("--resume", str(killed))
    assert "resumed from" in resumed.stdout and "epoch 1" in resumed.stdout
    assert EpochCheckpoints(killed).epochs() == [1, 2, 3]
    assert_same_weights(read_weights(killed), read_weights(straight))
    assert without_timing(read_rows(killed)) == without_timing(read_rows(straight))
    config = json.loads((killed / "config.json").read_text())
    assert config["resumed"][0]["after_epoch"] == 1


def assert_diverged(result: subprocess.CompletedProcess, epoch: int) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(rf"NaN or infinite at epoch {epoch}, global step \d+", result.stderr)


def test_exploding_learning_rate_stops_cleanly(fashion, tmp_path):
    run_dir = tmp_path / "run"
    result = train("--arch", "lenet", "--lr", "1e6", "--epochs", "2", "--subset", "2000",
                   "--data-dir", fashion, "--out", str(run_dir))
    assert_diverged(result, epoch=1)
    assert "no epoch completed, so there is no checkpoint to continue from" in result.stderr
    assert "train in a new directory (another --out)" in result.stderr
    assert EpochCheckpoints(run_dir).epochs() == []
    assert read_rows(run_dir) == []
    assert not (run_dir / "model.safetensors").exists()


def test_divergence_keeps_the_previous_checkpoint(jax_run, tmp_path):
    # The run of jax_run, continued for a second epoch with an exploding learning rate.
    run_dir = tmp_path / "run"
    shutil.copytree(jax_run, run_dir)
    (run_dir / "model.safetensors").unlink()
    config = json.loads((run_dir / "config.json").read_text())
    config["recipe"]["lr"] = 1e6
    (run_dir / "config.json").write_text(json.dumps(config))

    result = train("--resume", str(run_dir), "--epochs", "2")
    assert_diverged(result, epoch=2)
    assert f"the checkpoints up to epoch 1 are kept in {run_dir / 'checkpoints'}" in result.stderr
    assert EpochCheckpoints(run_dir).epochs() == [1]
    assert read_rows(run_dir) == read_rows(jax_run)
    kept, original = (EpochCheckpoints(d).restore(1)[0] for d in (run_dir, jax_run))
    jax.tree.map(np.testing.assert_array_equal, kept, original)
    assert not (run_dir / "model.safetensors").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--arch", "resnet"], r"argument --arch: invalid choice: 'resnet'"),
    (["--arch", "lenet", "--epochs", "0"], r"argument --epochs: must be a positive integer"),
    (["--arch", "lenet", "--epochs", "-3"], r"argument --epochs: must be a positive integer"),
    (["--arch", "lenet", "--lr", "nan"], r"argument --lr: must be a finite number > 0"),
    (["--arch", "lenet", "--lr", "0"], r"argument --lr: must be a finite number > 0"),
    (["--arch", "lenet", "--lr", "fast"], r"argument --lr: 'fast' is not a number"),
    (["--arch", "lenet", "--batch-size", "1.5"], r"argument --batch-size: '1.5' is not a number"),
    (["--arch", "classic", "--batchnorm"], r"unknown option\(s\) batchnorm for 'classic'"),
    (["--arch", "lenet", "--optimizer", "adam", "--momentum", "0.9"],
     r"momentum applies to the sgd optimizer only"),
    ([], r"--arch is required"),
    (["--resume", "/no/such/run"], r"--resume /no/such/run: no run there"),
])
def test_bad_arguments_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_resume_rejects_recipe_changes(jax_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(["--resume", str(jax_run), "--lr", "0.1", "--framework", "torch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "only --epochs may change" in err and "lr: 0.001 -> 0.1" in err
    assert "framework: 'jax' -> 'torch'" in err


def test_empty_data_dir_is_a_data_error(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(tmp_path)  # no ./data
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache/jaxcnn
    monkeypatch.delenv("JAXCNN_DATA_DIR", raising=False)
    code = load_script().main(["--arch", "classic", "--data-dir", str(empty),
                               "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No mnist train data found") and str(empty) in err
    assert not (tmp_path / "run").exists()


def test_torch_resume_with_dropout_matches_uninterrupted_run(fashion, tmp_path):
    args = ["--arch", "lenet", "--framework", "torch", "--dropout", "0.3", "--subset", "600",
            "--data-dir", fashion]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_ok(*args, "--epochs", "2", "--out", str(straight))
    train_ok(*args, "--epochs", "1", "--out", str(resumed))
    train_ok("--resume", str(resumed), "--epochs", "2")
    assert_same_weights(read_weights(resumed), read_weights(straight))
    assert without_timing(read_rows(resumed)) == without_timing(read_rows(straight))


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_data_loaded_while_the_model_builds_is_the_same(fashion, framework):
    """train.py's start-up (data in a thread while the JAX model builds) gives the data sets of
    load_data and the model create_model gives the recipe."""
    recipe = Recipe("lenet", "fashion_mnist", "none", "cross_entropy", "sgd", 0.05, batch_size=64,
                    epochs=1, seed=3, model_options={"dropout": 0.5})
    train_set, test, model = load_data_building_model(framework, recipe, data_dir=fashion,
                                                      subset=640)
    for got, want in zip((train_set, test), load_data(recipe, data_dir=fashion, subset=640),
                         strict=True):
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.source == want.source
    if framework == "torch":
        assert model is None
        return
    got, want = state_arrays(model), state_arrays(create_model("lenet", seed=3, dropout=0.5))
    assert got.keys() == want.keys()  # the dropout stream's key included
    for path in want:
        np.testing.assert_array_equal(got[path], want[path], err_msg=path)
    trainer = make_trainer("jax", recipe, train_set, test, model=model)
    assert_same_weights(trainer.state_dict(),
                        make_trainer("jax", recipe, train_set, test).state_dict())


def test_jax_checkpoint_restores_the_dropout_rng(fashion, tmp_path):
    recipe = Recipe("lenet", "fashion_mnist", "none", "cross_entropy", "sgd", 0.05, batch_size=64,
                    epochs=2, model_options={"dropout": 0.5, "batchnorm": True})
    data = load_data(recipe, data_dir=fashion, subset=640)
    batches = [batch_indices(640, 64, seed=0, epoch=e) for e in (0, 1)]
    first = make_trainer("jax", recipe, *data)
    first.train_epoch(batches[0], epoch=1, progress=False)
    checkpoints = EpochCheckpoints(tmp_path)
    checkpoints.save(1, first.checkpoint_state(), {"global_step": first.global_step})
    second = make_trainer("jax", recipe, *data)
    second.load_checkpoint_state(checkpoints.restore(1)[0])
    assert second.global_step == first.global_step == 10
    assert first.train_epoch(batches[1], epoch=2, progress=False) == second.train_epoch(
        batches[1], epoch=2, progress=False)
    assert_same_weights(first.state_dict(), second.state_dict())


WITHOUT_TORCH = """
import runpy, sys
for name in ("torch", "torchvision", "torch_ref"):  # None in sys.modules: ImportError on import
    sys.modules[name] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_jax_training_needs_no_torch(fashion, tmp_path):
    """What the README's quick start installs (``pip install -e .``, no torch extra) trains."""
    def without_torch(script: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", WITHOUT_TORCH, f"scripts/{script}.py",
                               *args], capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)

    run_dir = tmp_path / "run"
    result = without_torch("train", "--arch", "lenet", "--epochs", "1", "--subset", "640",
                           "--data-dir", fashion, "--out", str(run_dir), "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "report.md").is_file()
    assert without_torch("evaluate", str(run_dir), "--data-dir", fashion).returncode == 0

    # Where torch is needed, the block works and the scripts say what to install.
    blocked = without_torch("train", "--arch", "lenet", "--framework", "torch", "--data-dir",
                            fashion, "--out", str(tmp_path / "torch"))
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "framework": "torch"}))
    blocked_evaluation = without_torch("evaluate", str(run_dir), "--data-dir", fashion)
    for result in (blocked, blocked_evaluation):
        assert result.returncode == 2, result.stderr
        assert "needs PyTorch, an optional extra: pip install -e '.[torch]'" in result.stderr
        assert "Traceback" not in result.stderr
