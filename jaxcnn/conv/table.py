"""The table of measured plan choices shipped with jaxcnn (``jaxcnn/conv/choices.json``).

On a CPU, :func:`jaxcnn.conv.choice.prepare` times the candidate plans on the model itself
unless the choice is known. Timing costs seconds of compilation before a first run's first step,
so jaxcnn ships the choices measured on the machine kinds it was developed on: this table. A
machine is known by its :func:`fingerprint` (processor architecture, vendor, the instruction set
extensions that XLA's code generation uses, and the core count), a choice by the model's key
(:func:`jaxcnn.conv.choice.model_key`), the mode (training or evaluation) and the batch size.
A batch size missing from the table takes the choice of the nearest one within a factor of
:data:`NEAREST_RATIO`; anything else (another machine, another model, a batch far from every
entry) is timed as before.

``$JAXCNN_CONV_TABLE`` names another table file, or ``off`` to time every choice (and so refine
the user's cache on their own machine). ``python scripts/conv_table.py`` writes a table
(:mod:`jaxcnn.cli.conv_table`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import tempfile
from pathlib import Path

ENV_VAR = "JAXCNN_CONV_TABLE"
OFF = "off"
FORMAT = 1
SHIPPED = Path(__file__).with_name("choices.json")
NEAREST_RATIO = 2.0
# Instruction set extensions that change XLA:CPU's generated code (x86 and Arm names).
FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw",
            "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
            "amx_int8", "asimd", "asimddp", "sve", "sve2", "i8mm", "bf16")


class TableError(ValueError):
    """A table file that cannot be used (unreadable, not JSON, or not in :data:`FORMAT`)."""


def table_path() -> Path | None:
    """The table in use: ``$JAXCNN_CONV_TABLE`` if set (None for ``off``), else the shipped one."""
    name = os.environ.get(ENV_VAR, "")
    if name.strip().lower() == OFF:
        return None
    return Path(name) if name else SHIPPED


def _cpu_info() -> tuple[str, set[str]]:
    """The CPU vendor and its feature flags from ``/proc/cpuinfo`` (Linux; empty elsewhere)."""
    vendor, flags = "", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            name = name.strip()
            if name in ("vendor_id", "CPU implementer") and not vendor:
                vendor = value.strip()
            elif name in ("flags", "Features") and not flags:
                flags = set(value.split())
    return vendor, flags


@functools.cache
def fingerprint() -> str:
    """This machine's kind: architecture, CPU vendor, core count and :data:`FEATURES` present."""
    vendor, flags = _cpu_info()
    present = " ".join(f for f in FEATURES if f in flags)
    return (f"{platform.machine() or 'unknown'} {vendor or platform.processor() or 'unknown'} "
            f"{os.cpu_count()} cpus: {present or 'no known features'}")


def entry_key(model: str, batch: int, train: bool) -> str:
    """A choice's key within one machine's entries."""
    return f"{model}|{'train' if train else 'eval'}|batch {batch}"


def _parse_key(key: str) -> tuple[str, str, int]:
    model, mode, batch = key.rsplit("|", 2)
    return model, mode, int(batch.removeprefix("batch "))


def read(path: Path) -> dict:
    """The table in ``path`` (an empty one if the file does not exist); ``TableError`` naming
    the file when it is damaged or of another format."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"format": FORMAT, "machines": {}}
    except (OSError, ValueError) as error:
        raise TableError(f"{path}: {error}") from error
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or not isinstance(data.get("machines"), dict)
            or not all(isinstance(m, dict) and isinstance(m.get("choices"), dict)
                       for m in data["machines"].values())):
        raise TableError(f"{path}: not a plan table of format {FORMAT} ({{'format': {FORMAT}, "
                         "'machines': {fingerprint: {'made': ..., 'choices': ...}}})")
    return data


def lookup(table: dict, model: str, batch: int, train: bool, *,
           machine: str | None = None) -> dict | None:
    """The table's choice for ``model`` at ``batch`` on ``machine`` (default: this one), with
    ``table_batch`` (the batch size it was measured at) added; None when the table does not know
    the machine or the model, or its nearest batch is more than :data:`NEAREST_RATIO` away."""
    entries = table["machines"].get(machine or fingerprint())
    if entries is None:
        return None
    mode = "train" if train else "eval"
    known = {}
    for key, record in entries["choices"].items():
        with contextlib.suppress(ValueError):
            k_model, k_mode, k_batch = _parse_key(key)
            if k_model == model and k_mode == mode and isinstance(record, dict):
                known[k_batch] = record
    if not known:
        return None
    nearest = min(known, key=lambda size: (max(size, batch) / min(size, batch), size))
    if max(nearest, batch) / min(nearest, batch) > NEAREST_RATIO:
        return None
    return {**known[nearest], "table_batch": nearest}


def write(path: Path, table: dict) -> None:
    """Write ``table`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(table, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(handle.name, path)
