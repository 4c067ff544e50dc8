"""The files of a run directory: ``config.json``, ``metrics.jsonl`` and ``model.safetensors``.

Checkpoints live beside them in ``checkpoints/`` (:mod:`jaxcnn.training.checkpoints`); the report
and its PNGs are written by :mod:`jaxcnn.training.report`. The readers raise :class:`RunFileError`,
whose message names the file, says what is wrong with it and what to do. Every file is replaced
atomically (a killed process leaves the old file or the new one); a full disk is a
:class:`jaxcnn.runtime.diskfull.DiskFull`. ``model.safetensors`` records the SHA-256 of its
tensors in its header metadata (:func:`jaxcnn.training.digest.tensors_digest`), checked when it
is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from jaxcnn.runtime.diskfull import writing
from jaxcnn.training import digest
from jaxcnn.training.recipes import Recipe

CONFIG = "config.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
WEIGHTS_DIGEST = "sha256"  # the key of the tensors' digest in model.safetensors' metadata
METRIC_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
# What to do about a damaged file, by name ({run} is the run directory).
REMEDIES = {
    CONFIG: "it holds the run's recipe, written when the run started: restore it from a copy, "
            "or train the run again in a new directory (--out)",
    METRICS: "repair that line or delete it (each line is one epoch's JSON row; a deleted "
             "row is missing from the run's history and report)",
    WEIGHTS: "once training has ended, `python scripts/train.py --resume {run}` writes it "
             "again from the run's last intact checkpoint",
}


class RunFileError(ValueError):
    """A file of a run directory that is missing or cannot be used."""

    def __init__(self, path: Path, problem: str, remedy: str | None = None):
        remedy = REMEDIES.get(path.name, "") if remedy is None else remedy
        remedy = remedy.replace("{run}", str(path.parent))
        super().__init__(f"{path} {problem}" + (f"; {remedy}" if remedy else ""))
        self.path = path


def _replace(path: Path, write, needed: int | None = None) -> None:
    """``write(partial_path)``, then rename the partial file over ``path`` (atomic); a failed
    write removes the partial file and leaves ``path`` as it was."""
    partial = path.with_name(path.name + ".partial")
    try:
        with writing(path, needed):
            write(partial)
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a killed process leaves the old file or the new)."""
    _replace(path, lambda partial: partial.write_text(text), len(text.encode()))


def write_config(run_dir: Path, config: dict) -> None:
    _replace_text(run_dir / CONFIG, json.dumps(config, indent=2) + "\n")


def read_config(run_dir: Path) -> dict:
    """The run's config (a JSON object); :class:`RunFileError` if missing or unreadable."""
    config = _read_json(run_dir / CONFIG)
    if not isinstance(config, dict):
        raise RunFileError(run_dir / CONFIG, f"holds a JSON {type(config).__name__}, not the "
                                             "run's config object")
    return config


def read_recipe(run_dir: Path, config: dict) -> Recipe:
    """The validated recipe of ``config`` (``config["recipe"]``, else the config itself), read
    from ``run_dir``; :class:`RunFileError` naming config.json if it holds no valid recipe."""
    fields = config.get("recipe", config)
    try:
        return Recipe(**fields).validated()
    except (TypeError, ValueError) as err:
        raise RunFileError(run_dir / CONFIG, f"holds no valid recipe ({err})") from err


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-epoch rows written so far (none if the file is missing); :class:`RunFileError`
    naming the line if one is not a metrics row."""
    path = run_dir / METRICS
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RunFileError(path, f"line {number} is not valid JSON ({err})") from err
        if not (isinstance(row, dict) and isinstance(row.get("epoch"), int) and all(
                isinstance(row.get(k), int | float) for k in METRIC_FIELDS)):
            raise RunFileError(path, f"line {number} is not a metrics row (an object with an "
                                     f"integer epoch and {', '.join(METRIC_FIELDS)})")
        rows.append(row)
    return rows


def read_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The final weights (``model.safetensors``); :class:`RunFileError` if missing or not a
    safetensors file."""
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise RunFileError(path, "is missing: the run may be incomplete or still running "
                                 "(it is written at its end)")
    try:
        tensors = safetensors.numpy.load_file(os.fspath(path))
        with safetensors.safe_open(os.fspath(path), "numpy") as f:
            recorded = (f.metadata() or {}).get(WEIGHTS_DIGEST)
    except Exception as err:  # safetensors raises its own error types
        raise RunFileError(path, f"cannot be read as safetensors ({_reason(err)})") from err
    if recorded is not None and recorded != digest.tensors_digest(tensors):
        raise RunFileError(path, "does not hold the bytes it was saved with (the SHA-256 "
                                 "recorded in its header does not match its tensors)")
    if bad := digest.nonfinite(tensors):
        raise RunFileError(path, f"holds NaN or infinite values (in {digest.summarize(bad)})")
    return tensors


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise RunFileError(path, "is missing", "") from None
    except UnicodeDecodeError as err:
        raise RunFileError(path, f"is not text ({err})") from err
    except OSError as err:
        raise RunFileError(path, f"cannot be read ({err.strerror})") from err


def _read_json(path: Path):
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(path, f"is not valid JSON ({err})") from err


def _reason(err: Exception) -> str:
    """The first line of an exception's message, with its type."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def check_history(run_dir: Path, rows: list[dict], epoch: int) -> list[dict]:
    """The rows of epochs 1 to ``epoch`` (those a run resumed after ``epoch`` keeps); rows of
    later epochs, written before a checkpoint that was not completed or was set aside, are left
    out. :class:`RunFileError` if an epoch up to ``epoch`` has no row or several: the message
    names them and the checkpoint the rows do match."""
    def rows_until(last: int) -> list[dict]:
        return [row for row in rows if row["epoch"] <= last]

    kept = rows_until(epoch)
    epochs = [row["epoch"] for row in kept]
    if epochs == list(range(1, epoch + 1)):
        return kept
    missing = [e for e in range(1, epoch + 1) if e not in epochs]
    extra = sorted({e for e in epochs if epochs.count(e) > 1 or e < 1})
    problems = ([f"no row for epoch{'s' if len(missing) > 1 else ''} "
                 f"{', '.join(map(str, missing))}"] if missing else [])
    problems += ([f"more than one row for epoch{'s' if len(extra) > 1 else ''} "
                  f"{', '.join(map(str, extra))}"] if extra else [])
    problems += [] if missing or extra else ["its rows are out of order"]
    matching = [k for k in range(epoch - 1, -1, -1)
                if [row["epoch"] for row in rows_until(k)] == list(range(1, k + 1))]
    other = (f", or continue from the checkpoint its rows match with `--resume {run_dir} "
             f"--resume-from {matching[0]}` (later checkpoints move to checkpoints.superseded/)"
             if matching else "")
    raise RunFileError(
        run_dir / METRICS,
        f"does not match the checkpoint of epoch {epoch} ({'; '.join(problems)}): it must hold "
        f"one row per epoch, 1 to {epoch}, in order",
        f"restore it from a copy or repair it{other}")


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    _replace_text(run_dir / METRICS, "".join(json.dumps(row) + "\n" for row in rows))


def write_weights(run_dir: Path, state_dict: dict[str, np.ndarray]) -> Path:
    """Save a state_dict (PyTorch names and layouts) as ``model.safetensors``, with the SHA-256
    of its tensors in the header metadata."""
    path = run_dir / WEIGHTS
    tensors = {k: np.ascontiguousarray(v) for k, v in state_dict.items()}
    metadata = {WEIGHTS_DIGEST: digest.tensors_digest(tensors)}
    _replace(path, lambda partial: safetensors.numpy.save_file(tensors, os.fspath(partial),
                                                               metadata=metadata),
             digest.total_bytes(tensors))
    return path
