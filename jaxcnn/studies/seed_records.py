"""The seed study's results file: one JSON line per finished (variant, framework, seed).

A line is appended (and flushed to disk) as soon as its seed has finished, so a run killed at
any point keeps every seed it finished; a line cut off by the kill is dropped when the file is
next opened. A variant's seeds must all be trained with the same settings (recipe, data subset):
:meth:`SeedRecords.check_settings` refuses a run that would mix them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILENAME = "seeds.jsonl"


class RecordsError(ValueError):
    """The results file cannot be used: a broken line, or seeds trained with other settings."""


class SettingsConflict(RecordsError):
    """The results file already holds a variant trained with other settings."""


class SeedRecords:
    """The records in ``path`` (created on the first append)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: list[dict] = []
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a line cut off by a kill: drop it, so appends start clean
            os.truncate(self.path, complete)
        for number, line in enumerate(data[:complete].decode().splitlines(), 1):
            try:
                self.records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise RecordsError(f"{self.path}, line {number}: not a JSON record ({err}); "
                                 "remove that line or choose another --out") from None

    def done(self, variant: str, framework: str) -> set[int]:
        """The seeds of ``variant`` already trained in ``framework``."""
        return {r["seed"] for r in self.records
                if r["variant"] == variant and r["framework"] == framework}

    def check_settings(self, variant: str, settings: dict) -> None:
        """``SettingsConflict`` if ``variant`` has records trained with other ``settings``."""
        for r in self.records:
            if r["variant"] == variant and r["settings"] != settings:
                changed = sorted(k for k in settings.keys() | r["settings"].keys()
                                 if settings.get(k) != r["settings"].get(k))
                raise SettingsConflict(
                    f"{self.path} holds {variant} seeds trained with other settings ("
                    + ", ".join(f"{k}: {r['settings'].get(k)!r} there, {settings.get(k)!r} now"
                                for k in changed)
                    + "); use another --out, or the same settings to add seeds")

    def append(self, record: dict) -> None:
        """Add ``record`` and write it to disk before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)
