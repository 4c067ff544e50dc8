"""Runs you can trust (issue 21): one writer per run directory, verified checkpoints and weights,
history kept, foreign files never overwritten, clean exits on Ctrl-C, SIGTERM and a full disk.

Real runs (lenet on Fashion-MNIST subsets), real processes for the two-writer cases and the
signals, real byte flips, a real full disk (a small tmpfs; skipped where it cannot be mounted).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from data_helpers import REPO_ROOT, fashion_dir, require_idx
from test_run_files import EVALUATE, TRAIN, call, snapshot

from jaxcnn.training.checkpoints import CheckpointError, EpochCheckpoints
from jaxcnn.training.runlock import RunLock

TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"


@pytest.fixture(scope="module")
def fashion() -> str:
    return str(require_idx(fashion_dir(), "Fashion-MNIST"))


def lenet(fashion: str, out: Path, *extra: str) -> list[str]:
    """train.py arguments of a small lenet run (2 epochs of 600 images unless ``extra`` says)."""
    return ["--arch", "lenet", "--subset", "600", "--epochs", "2", "--lr", "0.05",
            "--data-dir", fashion, "--out", str(out), "--no-progress", *extra]


def train_process(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRAIN_SCRIPT), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT)


def start(*args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TRAIN_SCRIPT), *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


@pytest.fixture(scope="module")
def original(tmp_path_factory, fashion) -> Path:
    run_dir = tmp_path_factory.mktemp("safety") / "run"
    result = train_process(*lenet(fashion, run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir


@pytest.fixture
def run(original, tmp_path) -> Path:
    return Path(shutil.copytree(original, tmp_path / "run"))


def epochs_of(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in
            (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_exit(result: tuple[int, str, str], code: int, *phrases: str) -> None:
    status, out, err = result
    assert status == code, out + err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def wait_for(predicate, process: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"training ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


# -- 1. one writer per run directory ----------------------------------------------------------
def test_second_writer_and_live_resume_are_refused(fashion, tmp_path):
    run_dir = tmp_path / "D"
    first = start(*lenet(fashion, run_dir, "--epochs", "3", "--seed", "1"))
    try:
        def paused(ready, what: str, *args: str) -> subprocess.CompletedProcess:
            """Run train.py ``args`` while ``first``, once ``ready``, is stopped holding its
            lock (as a long epoch would hold it)."""
            wait_for(ready, first, what)
            os.kill(first.pid, signal.SIGSTOP)
            try:
                return train_process(*args)
            finally:
                os.kill(first.pid, signal.SIGCONT)

        lock_file = run_dir / ".jaxcnn-lock"
        second = paused(lambda: lock_file.is_file() and lock_file.stat().st_size, "the lock",
                        *lenet(fashion, run_dir, "--seed", "2"))
        resumed = paused(lambda: (run_dir / "config.json").is_file(), "config.json",
                         "--resume", str(run_dir), "--epochs", "4", "--no-progress")
        out, err = first.communicate(timeout=240)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, out + err
    for result in (second, resumed):
        assert result.returncode == 2, result.stdout + result.stderr
        assert (f"error: {run_dir} is in use by another process (PID {first.pid}: "
                in result.stderr), result.stderr
        assert "Traceback" not in result.stderr
    assert epochs_of(run_dir) == [1, 2, 3]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["seed"] == 1 and "resumed" not in config


def test_evaluate_writing_into_a_locked_run_is_refused(run, fashion, capsys):
    lock = RunLock(run)  # another open file: conflicts like another process
    try:
        before = snapshot(run)
        assert_exit(call(EVALUATE, [str(run), "--data-dir", fashion, "--report"], capsys), 2,
                    f"error: {run} is in use by another process (PID {os.getpid()}: ")
        assert snapshot(run) == before
    finally:
        lock.release()
    code, out, err = call(EVALUATE, [str(run), "--data-dir", fashion, "--index", "1"], capsys)
    assert code == 0, out + err


# -- 2. verified checkpoints and weights -----------------------------------------------------
def largest_data_file(checkpoint: Path) -> Path:
    files = (checkpoint / "state" / "ocdbt.process_0" / "d").iterdir()
    return max(files, key=lambda p: p.stat().st_size)


def flip(path: Path, *offsets: float) -> None:
    """XOR-flip the bytes at these fractions of the file's length (size kept)."""
    data = bytearray(path.read_bytes())
    for fraction in offsets:
        data[int(fraction * (len(data) - 1))] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_checkpoint_bytes_fall_back_to_the_intact_one(run, original, capsys):
    flip(largest_data_file(run / "checkpoints" / "2"), 0.3, 0.5, 0.7)
    (run / "model.safetensors").unlink()
    code, out, err = call(TRAIN, ["--resume", str(run), "--no-progress"], capsys)
    assert code == 0, out + err
    assert (f"warning: {run / 'checkpoints' / '2'} does not hold the bytes it was saved with "
            "(SHA-256 mismatch in ") in err
    assert f"moved to {run / 'checkpoints.damaged' / '2'}" in err
    assert f"resumed from {run / 'checkpoints' / '1'} (epoch 1," in out
    ours, theirs = (safetensors.numpy.load_file(d / "model.safetensors") for d in (run, original))
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_one_flipped_byte_is_a_damaged_checkpoint(run):
    flip(largest_data_file(run / "checkpoints" / "1"), 0.5)
    checkpoints = EpochCheckpoints(run)
    try:
        with pytest.raises(CheckpointError, match="does not hold the bytes it was saved with"):
            checkpoints.restore(1)
        checkpoints.restore(2)  # the other one is intact
    finally:
        checkpoints.close()


def test_non_finite_weights_are_a_damaged_checkpoint(tmp_path):
    checkpoints = EpochCheckpoints(tmp_path)
    try:
        checkpoints.save(1, {"w": np.array([1.0, np.nan], np.float32)}, {})
        with pytest.raises(CheckpointError, match=r"holds NaN or infinite values \(in w\)"):
            checkpoints.restore(1)
    finally:
        checkpoints.close()


def test_flipped_weights_stop_evaluate(run, fashion, capsys):
    flip(run / "model.safetensors", 0.99)
    assert_exit(call(EVALUATE, [str(run), "--data-dir", fashion], capsys), 2,
                f"error: {run / 'model.safetensors'} does not hold the bytes it was saved with",
                f"python scripts/train.py --resume {run}` writes it again")


# -- 3. history kept -------------------------------------------------------------------------
HISTORY_DAMAGE = {
    "emptied": (lambda lines: [], "no row for epochs 1, 2", "--resume-from 0"),
    "deleted": (None, "no row for epochs 1, 2", "--resume-from 0"),
    "a row twice": (lambda lines: [lines[0], lines[0], lines[1]],
                    "more than one row for epoch 1", "--resume-from 0"),
    "second row lost": (lambda lines: [lines[0]], "no row for epoch 2", "--resume-from 1"),
}


@pytest.mark.parametrize("case", HISTORY_DAMAGE)
def test_history_must_match_the_checkpoint(run, case, capsys):
    damage, problem, advice = HISTORY_DAMAGE[case]
    path = run / "metrics.jsonl"
    if damage is None:
        path.unlink()
    else:
        path.write_text("".join(line + "\n" for line in damage(path.read_text().splitlines())))
    before = snapshot(run)
    assert_exit(call(TRAIN, ["--resume", str(run), "--epochs", "3", "--no-progress"], capsys), 2,
                f"error: {path} does not match the checkpoint of epoch 2 ({problem})",
                f"`--resume {run} {advice}`")
    assert snapshot(run) == before


def test_history_advice_works(run, capsys):
    path = run / "metrics.jsonl"
    path.write_text(path.read_text().splitlines()[0] + "\n")  # epoch 2's row lost
    code, out, err = call(TRAIN, ["--resume", str(run), "--resume-from", "1", "--no-progress"],
                          capsys)
    assert code == 0, out + err
    assert epochs_of(run) == [1, 2]


# -- 4. and 8. --out: never what is not ours, checked before the data loads ------------------
def test_out_holding_a_users_files_is_refused(tmp_path, fashion, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    (out / "model.safetensors").write_bytes(b"my weights")
    assert_exit(call(TRAIN, lenet(fashion, out), capsys), 2,
                f"--out {out} is not empty (it holds model.safetensors, report.md); a new run "
                "writes only into a missing or empty directory")
    assert snapshot(out) == {"report.md": b"my notes", "model.safetensors": b"my weights"}


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_unusable_out_is_refused_before_the_data_loads(tmp_path, read_only_dir, capsys):
    nowhere = tmp_path / "no-data"
    nowhere.mkdir()  # loading data from here fails: the --out error must come first
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, message in [
        (a_file, f"--out {a_file} is a file, not a directory"),
        (Path("/proc/jaxcnn-run"), "/proc/jaxcnn-run cannot be used as a run directory: "),
        (read_only_dir / "run", f"{read_only_dir / 'run'} cannot be used as a run directory: "
                                "Read-only file system"),
    ]:
        code, out_text, err = call(TRAIN, lenet(str(nowhere), out), capsys)
        assert_exit((code, out_text, err), 2, message, "choose")
        assert "run " not in out_text  # nothing loaded
    assert a_file.read_text() == "x"


def test_bad_conv_environment_is_refused_up_front(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXCNN_CONV", "bogus")
    code, out, err = call(TRAIN, lenet(str(tmp_path), tmp_path / "run"), capsys)
    assert_exit((code, out, err), 2, "JAXCNN_CONV='bogus': choose one of auto")
    assert not (tmp_path / "run").exists()


# -- 7. batch size larger than the data set --------------------------------------------------
def test_batch_larger_than_the_data_set_trains(tmp_path, fashion, monkeypatch, capsys):
    out = tmp_path / "run"
    # auto: the convolution plan is chosen by timing the batch size (bound by the data set)
    monkeypatch.setenv("JAXCNN_CONV", "auto")
    code, stdout, err = call(TRAIN, lenet(fashion, out, "--arch", "classic", "--dataset",
                                          "fashion_mnist", "--batch-size", "1000000000",
                                          "--epochs", "1", "--subset", "300"),
                             capsys)
    assert code == 0, stdout + err
    assert [json.loads(line)["global_step"] for line in
            (out / "metrics.jsonl").read_text().splitlines()] == [1]


# -- 6. a full disk --------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()

    def mount(size: str, remount: bool = False) -> None:
        options = f"remount,size={size}" if remount else f"size={size}"
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                capture_output=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")

    yield folder, mount
    subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.parametrize(("size", "full_at"), [("300k", "checkpoints/2"),
                                               ("700k", "model.safetensors")])
def test_full_disk_is_one_line_and_resumable(fashion, small_disk, size, full_at):
    folder, mount = small_disk
    mount(size)
    run_dir = folder / "run"
    result = train_process(*lenet(fashion, run_dir, "--arch", "classic", "--dataset",
                                  "fashion_mnist", "--epochs", "3"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: no space left on the device for {run_dir / full_at} "
                                    "("), result.stderr
    assert "needed); free some space there, then continue with: python scripts/train.py " \
        f"--resume {run_dir}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    mount("64m", remount=True)
    resumed = train_process("--resume", str(run_dir), "--no-progress")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert epochs_of(run_dir) == [1, 2, 3]


# -- 5. and 10. Ctrl-C and SIGTERM -----------------------------------------------------------
def test_ctrl_c_during_start_up(fashion, tmp_path):
    out = tmp_path / "run"
    process = start(*lenet(fashion, out))
    time.sleep(0.5)  # importing jax and the models
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted")
    assert "Traceback" not in stderr


def test_ctrl_c_during_a_checkpoint_write_then_resume(fashion, tmp_path):
    out = tmp_path / "run"
    process = start(*lenet(fashion, out, "--epochs", "40", "--subset", "300"))
    writing = []
    try:
        def saving() -> bool:
            found = list((out / "checkpoints").glob("*orbax-checkpoint-tmp*")) \
                if (out / "checkpoints").is_dir() else []
            writing.extend(found)
            return bool(found)

        wait_for(saving, process, "a checkpoint write")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted; continue with: python "
                                               f"scripts/train.py --resume {out}")
    epoch = int(writing[0].name.split(".")[0])
    assert EpochCheckpoints(out).epochs()[-1] == epoch  # the write was finished first
    resumed = train_process("--resume", str(out), "--epochs", str(epoch + 1), "--no-progress")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert epochs_of(out) == list(range(1, epoch + 2))


def test_sigterm_during_training_is_143_and_resumable(fashion, tmp_path):
    out = tmp_path / "run"
    process = start(*lenet(fashion, out, "--epochs", "40", "--subset", "300"))
    try:
        wait_for(lambda: (out / "checkpoints" / "1").is_dir(), process, "checkpoint 1")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 143, stdout + stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted; continue with: python "
                                               f"scripts/train.py --resume {out}")
    assert len(epochs_of(out)) >= EpochCheckpoints(out).epochs()[-1] >= 1
