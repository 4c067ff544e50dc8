"""Run named sections under a time budget, recording each one's result, error or skip, and
rewrite ``report.json`` and ``report.md`` after every section (a run cut short keeps what it
measured)."""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def _plain(value):
    """``value`` with numpy scalars and arrays, tuples and non-finite floats made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Budget:
    """Seconds left of ``seconds`` since construction."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()


class Runner:
    """Sections run in order into ``out``; a section needing more than the budget has left is
    skipped (``"skipped: budget"``), an exception is recorded with its traceback."""

    def __init__(self, out: Path, budget: Budget, meta: dict,
                 render: Callable[[dict], str]):
        self.out = out
        self.budget = budget
        self.render = render
        self.report = {"meta": meta, "sections": {}}
        out.mkdir(parents=True, exist_ok=True)
        self.write()

    def log(self, message: str) -> None:
        print(f"[device_check {self.budget.elapsed():6.1f}s] {message}", flush=True)

    def run(self, name: str, needs_s: float, section: Callable[[], dict]) -> None:
        """Run ``section`` unless less than ``needs_s`` seconds are left."""
        left = self.budget.left()
        if left < needs_s:
            self.report["sections"][name] = {
                "status": "skipped: budget",
                "detail": f"{left:.0f} s left, the section needs about {needs_s:.0f} s"}
            self.log(f"{name}: skipped (budget: {left:.0f} s left, needs ~{needs_s:.0f} s)")
            self.write()
            return
        self.log(f"{name}: start")
        start = time.perf_counter()
        entry: dict = {"status": "running"}
        self.report["sections"][name] = entry
        self.write()
        try:
            entry["result"] = section()
            entry["status"] = "ok"
        except Exception as error:  # noqa: BLE001 - every failure is recorded, the rest runs
            entry["status"] = "error"
            entry["error"] = f"{type(error).__name__}: {error}"
            entry["traceback"] = traceback.format_exc()
            self.log(f"{name}: ERROR {entry['error']}")
        entry["seconds"] = time.perf_counter() - start
        self.log(f"{name}: {entry['status']} in {entry['seconds']:.1f} s")
        self.write()

    def write(self) -> None:
        """Both report files, each replaced whole (written aside, then renamed)."""
        self.report["meta"]["elapsed_s"] = self.budget.elapsed()
        data = _plain(self.report)
        for name, text in ((REPORT_JSON, json.dumps(data, indent=1) + "\n"),
                           (REPORT_MD, self.render(data))):
            path = self.out / name
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
