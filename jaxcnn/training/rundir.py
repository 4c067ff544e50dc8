"""The files of a run directory: ``config.json``, ``metrics.jsonl`` and ``model.safetensors``.

Checkpoints live beside them in ``checkpoints/`` (:mod:`jaxcnn.training.checkpoints`); the report
and its PNGs are written by :mod:`jaxcnn.training.report`. The readers raise :class:`RunFileError`,
whose message names the file, says what is wrong with it and what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import safetensors.numpy

from jaxcnn.training.recipes import Recipe

CONFIG = "config.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
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


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a killed process leaves the old file or the new)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


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
        return safetensors.numpy.load_file(os.fspath(path))
    except Exception as err:  # safetensors raises its own error types
        raise RunFileError(path, f"cannot be read as safetensors ({_reason(err)})") from err


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


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    _replace_text(run_dir / METRICS, "".join(json.dumps(row) + "\n" for row in rows))


def append_metrics(run_dir: Path, row: dict) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")


def write_weights(run_dir: Path, state_dict: dict[str, np.ndarray]) -> Path:
    """Save a state_dict (PyTorch names and layouts) as ``model.safetensors``."""
    path = run_dir / WEIGHTS
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in state_dict.items()},
                                os.fspath(path))
    return path
