"""The files of a run directory: ``config.json``, ``metrics.jsonl`` and ``model.safetensors``.

Checkpoints live beside them in ``checkpoints/`` (:mod:`jaxcnn.checkpoints`); the report and
its PNGs are written by :mod:`jaxcnn.report`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import safetensors.numpy

CONFIG = "config.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a killed process leaves the old file or the new)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def write_config(run_dir: Path, config: dict) -> None:
    _replace_text(run_dir / CONFIG, json.dumps(config, indent=2) + "\n")


def read_config(run_dir: Path) -> dict:
    """The run's config; ``FileNotFoundError`` if ``run_dir`` holds none."""
    return json.loads((run_dir / CONFIG).read_text())


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-epoch rows written so far (none if the file is missing)."""
    path = run_dir / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
