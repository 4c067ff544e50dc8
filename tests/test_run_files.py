"""Damaged run directories: every file the scripts read, damaged for real in a copy of a real run.

A damaged checkpoint on ``--resume`` is reported by path and moved to ``checkpoints.damaged/``,
and the run continues from the newest intact one, ending with the weights of the undamaged run;
``--resume-from`` picks one. Every other damaged file (config.json, metrics.jsonl,
model.safetensors) is exit status 2 with a message naming the file, what is wrong and what to
do, and the failed attempt changes no file of the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from data_helpers import REPO_ROOT, fashion_dir, require_idx

from jaxcnn import convert, create_model
from jaxcnn.cli import evaluate as evaluate_cli
from jaxcnn.cli import train as train_cli

SCRIPTS = REPO_ROOT / "scripts"
EPOCHS = 3
TIMING = {"seconds", "images_per_second", "startup_seconds", "eval_seconds",
          "eval_images_per_second"}


TRAIN, EVALUATE = train_cli, evaluate_cli  # scripts/train.py's and evaluate.py's command lines


@pytest.fixture(scope="module")
def fashion() -> str:
    return str(require_idx(fashion_dir(), "Fashion-MNIST"))


@pytest.fixture(scope="module")
def original(tmp_path_factory, fashion) -> Path:
    """A real run: lenet, 3 epochs of 19 steps, a checkpoint after each."""
    run_dir = tmp_path_factory.mktemp("original") / "run"
    result = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--arch", "lenet",
                             "--epochs", str(EPOCHS), "--subset", "1200", "--lr", "0.05",
                             "--data-dir", fashion, "--out", str(run_dir), "--no-progress"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir


@pytest.fixture
def run(original, tmp_path) -> Path:
    """A copy of the original run, to damage."""
    return Path(shutil.copytree(original, tmp_path / "run"))


# -- damage ---------------------------------------------------------------------------------------
def scramble(path: Path) -> None:
    """Random bytes over a file, its size kept."""
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes())


def data_files(checkpoint: Path) -> list[Path]:
    """The array data files of an orbax (OCDBT) checkpoint."""
    files = sorted((checkpoint / "state" / "ocdbt.process_0" / "d").iterdir())
    assert files, f"no data files in {checkpoint}: orbax's layout changed?"
    return files


def scramble_data(checkpoint: Path) -> None:
    for path in data_files(checkpoint):
        scramble(path)


def delete_ocdbt(checkpoint: Path) -> None:
    shutil.rmtree(checkpoint / "state" / "ocdbt.process_0")


def truncate_data(checkpoint: Path) -> None:
    for path in data_files(checkpoint):
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


# -- helpers --------------------------------------------------------------------------------------
def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory, by relative path."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file()}


def call(script, argv: list[str], capsys) -> tuple[int, str, str]:
    """``script.main(argv)`` in this process: exit status, stdout, stderr."""
    try:
        code = script.main(argv)
    except SystemExit as exit_info:  # argparse errors
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def resume(run_dir: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return call(TRAIN, ["--resume", str(run_dir), "--no-progress", *extra], capsys)


def assert_refused(result: tuple[int, str, str], *phrases: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_outcome(run_dir: Path, original: Path) -> None:
    """The resumed run ends with the weights and metrics of the undamaged run, bit for bit."""
    ours, theirs = (safetensors.numpy.load_file(d / "model.safetensors")
                    for d in (run_dir, original))
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert rows(run_dir) == rows(original)
    initial = convert.to_torch(create_model("lenet", seed=0))
    assert max(float(np.max(np.abs(ours[k] - initial[k]))) for k in initial) > 1e-3  # trained


def checkpoint_epochs(run_dir: Path, folder: str = "checkpoints") -> list[int]:
    directory = run_dir / folder
    return sorted(int(p.name) for p in directory.iterdir()) if directory.is_dir() else []


# -- checkpoints ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_past_a_damaged_latest_checkpoint(run, original):
    """The issue's case, as a user runs it: random bytes over epoch 3's data files."""
    scramble_data(run / "checkpoints" / "3")
    result = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--resume", str(run),
                             "--no-progress"], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (f"warning: {run / 'checkpoints' / '3'} cannot be read whole (ValueError: "
            "FAILED_PRECONDITION: Error reading") in result.stderr
    assert f"moved to {run / 'checkpoints.damaged' / '3'}" in result.stderr
    assert f"resumed from {run / 'checkpoints' / '2'} (epoch 2, global step 38)" in result.stdout
    assert checkpoint_epochs(run) == [1, 2, 3]
    assert checkpoint_epochs(run, "checkpoints.damaged") == [3]
    assert snapshot(run / "checkpoints.damaged" / "3") != snapshot(run / "checkpoints" / "3")
    assert json.loads((run / "config.json").read_text())["resumed"][0]["after_epoch"] == 2
    assert_same_outcome(run, original)


@pytest.mark.slow
@pytest.mark.parametrize("damages", [
    {3: delete_ocdbt},
    {3: truncate_data, 2: delete_ocdbt},
])
def test_resume_from_the_newest_intact_checkpoint(run, original, damages, capsys):
    for epoch, damage in damages.items():
        damage(run / "checkpoints" / str(epoch))
    code, out, err = resume(run, capsys)
    assert code == 0, out + err
    assert "Traceback" not in err and "never retrieved" not in err  # orbax's late read errors
    intact = min(damages) - 1
    for epoch in damages:
        assert f"warning: {run / 'checkpoints' / str(epoch)} cannot be read whole (" in err
    assert f"resumed from {run / 'checkpoints' / str(intact)} (epoch {intact}," in out
    assert checkpoint_epochs(run, "checkpoints.damaged") == sorted(damages)
    assert_same_outcome(run, original)


@pytest.mark.slow
def test_every_checkpoint_damaged_then_start_over(run, original, capsys):
    for epoch in range(1, EPOCHS + 1):
        scramble_data(run / "checkpoints" / str(epoch))
    before = {k: v for k, v in snapshot(run).items() if not k.startswith("checkpoints")}
    assert_refused(resume(run, capsys), f"no checkpoint in {run / 'checkpoints'} can be read "
                   "whole", "add --resume-from 0")
    assert {k: v for k, v in snapshot(run).items() if not k.startswith("checkpoints")} == before
    assert checkpoint_epochs(run, "checkpoints.damaged") == [1, 2, 3]
    assert checkpoint_epochs(run) == []

    code, out, err = resume(run, capsys, "--resume-from", "0")
    assert code == 0, out + err
    assert "--resume-from 0: training again from the initial weights" in err
    assert "resumed from" not in out
    assert_same_outcome(run, original)


@pytest.mark.slow
def test_resume_from_an_earlier_epoch(run, original, capsys):
    code, out, err = resume(run, capsys, "--resume-from", "1")
    assert code == 0, out + err
    assert f"{run / 'checkpoints' / '3'} comes after --resume-from 1: moved to " \
           f"{run / 'checkpoints.superseded' / '3'}" in err
    assert f"resumed from {run / 'checkpoints' / '1'} (epoch 1," in out
    assert checkpoint_epochs(run, "checkpoints.superseded") == [2, 3]
    assert checkpoint_epochs(run) == [1, 2, 3]
    assert_same_outcome(run, original)


def test_resume_from_errors(run, capsys):
    before = snapshot(run)
    assert_refused(resume(run, capsys, "--resume-from", "7"),
                   f"--resume-from 7: {run / 'checkpoints'} holds no checkpoint of epoch 7 "
                   "(epochs with one: 1, 2, 3; 0 starts from the initial weights)")
    assert snapshot(run) == before

    assert_refused(call(TRAIN, ["--arch", "lenet", "--resume-from", "1"], capsys),
                   "--resume-from applies with --resume DIR")

    scramble_data(run / "checkpoints" / "2")
    assert_refused(resume(run, capsys, "--resume-from", "2"),
                   f"warning: {run / 'checkpoints' / '2'} cannot be read whole (",
                   "--resume-from 2: that checkpoint is damaged (moved aside); choose another "
                   "epoch (with one: 1, 3;")
    assert checkpoint_epochs(run) == [1, 3]  # the later ones stay where they were
    assert checkpoint_epochs(run, "checkpoints.damaged") == [2]


def test_checkpoint_that_does_not_fit_the_config(run, capsys):
    config = json.loads((run / "config.json").read_text())
    config["recipe"]["model_options"] = {"batchnorm": True}  # edited by hand: other parameters
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    assert_refused(resume(run, capsys), f"{run / 'checkpoints' / '3'} does not fit the run's "
                   "model and optimizer (checkpoint lacks", "was config.json edited")
    assert snapshot(run) == before


# -- config.json and metrics.jsonl ----------------------------------------------------------------
def set_recipe_field(name: str, value):
    def edit(text: str) -> str:
        config = json.loads(text)
        config["recipe"][name] = value
        return json.dumps(config)
    return edit


CONFIG_DAMAGE = {
    "not JSON": (lambda text: text.replace('"recipe":', '"recipe"'),
                 "is not valid JSON (Expecting ':' delimiter: line 2 column 12"),
    "empty": (lambda text: "", "is not valid JSON (Expecting value: line 1 column 1"),
    "a list": (lambda text: "[1, 2]", "holds a JSON list, not the run's config object"),
    "no recipe": (lambda text: json.dumps({"framework": "jax"}),
                  "is not a train.py run config (it lacks recipe, framework or data)"),
    "bad optimizer": (set_recipe_field("optimizer", "rmsprop"),
                      "holds no valid recipe (unknown optimizer 'rmsprop'"),
    "unknown field": (set_recipe_field("warmup", 3),
                      "holds no valid recipe (Recipe.__init__() got an unexpected keyword "
                      "argument 'warmup')"),
}


@pytest.mark.parametrize("case", CONFIG_DAMAGE)
def test_damaged_config_stops_resume(run, case, capsys):
    damage, message = CONFIG_DAMAGE[case]
    path = run / "config.json"
    path.write_text(damage(path.read_text()))
    before = snapshot(run)
    assert_refused(resume(run, capsys), f"error: {path} {message}",
                   "restore it from a copy, or train the run again in a new directory (--out)")
    assert snapshot(run) == before


def test_binary_config_stops_resume(run, capsys):
    scramble(run / "config.json")
    before = snapshot(run)
    assert_refused(resume(run, capsys), f"error: {run / 'config.json'} is not text (")
    assert snapshot(run) == before


METRICS_DAMAGE = {
    "cut line": (lambda lines: [lines[0], lines[1][:40], lines[2]], "line 2 is not valid JSON"),
    "not a row": (lambda lines: [lines[0], "[]", lines[2]],
                  "line 2 is not a metrics row (an object with an integer epoch and train_loss, "
                  "train_accuracy, test_loss, test_accuracy)"),
    "no loss": (lambda lines: [lines[0], json.dumps({"epoch": 2}), lines[2]],
                "line 2 is not a metrics row"),
}


@pytest.mark.parametrize("case", METRICS_DAMAGE)
def test_damaged_metrics_stop_resume_and_evaluate(run, fashion, case, capsys):
    damage, message = METRICS_DAMAGE[case]
    path = run / "metrics.jsonl"
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    before = snapshot(run)
    remedy = ("repair that line or delete it (each line is one epoch's JSON row; a deleted "
              "row is missing from the run's history and report)")
    assert_refused(resume(run, capsys), f"error: {path} {message}", remedy)
    assert_refused(call(EVALUATE, [str(run), "--data-dir", fashion, "--report"], capsys),
                   f"error: {path} {message}", remedy)
    assert snapshot(run) == before


# -- model.safetensors ----------------------------------------------------------------------------
def other_arch_weights(path: Path) -> None:
    weights = convert.to_torch(create_model("classic"))
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in weights.items()},
                                str(path))


WEIGHTS_DAMAGE = {
    "random bytes": (scramble, "cannot be read as safetensors (SafetensorError: "),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:1000]),
                  "cannot be read as safetensors (SafetensorError: "),
    "another model": (other_arch_weights, "does not hold the weights of the run's lenet ("),
    "missing": (Path.unlink, "is missing: the run may be incomplete or still running"),
}


@pytest.mark.parametrize("case", WEIGHTS_DAMAGE)
def test_damaged_weights_stop_evaluate(run, fashion, case, capsys):
    damage, message = WEIGHTS_DAMAGE[case]
    path = run / "model.safetensors"
    damage(path)
    before = snapshot(run)
    assert_refused(call(EVALUATE, [str(run), "--data-dir", fashion, "--report", "--index", "3"],
                        capsys),
                   f"error: {path} {message}", "once training has ended, `python "
                   f"scripts/train.py --resume {run}` writes it again from the run's last intact "
                   "checkpoint")
    assert snapshot(run) == before


@pytest.mark.slow
def test_resume_writes_damaged_weights_again(run, original, fashion, capsys):
    scramble(run / "model.safetensors")
    code, out, err = resume(run, capsys)
    assert code == 0, out + err
    assert f"resumed from {run / 'checkpoints' / '3'} (epoch 3," in out
    assert_same_outcome(run, original)
    code, out, err = call(EVALUATE, [str(run), "--data-dir", fashion], capsys)
    assert code == 0, out + err
    assert "test accuracy: " in out


def test_damaged_config_stops_evaluate(run, fashion, capsys):
    path = run / "config.json"
    path.write_text("{")
    before = snapshot(run)
    assert_refused(call(EVALUATE, [str(run), "--data-dir", fashion], capsys),
                   f"error: {path} is not valid JSON (Expecting property name")
    assert snapshot(run) == before
