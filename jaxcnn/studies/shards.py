"""A sweep over seeds split into shards that run anywhere (other processes, machines, a SLURM job
array), and the checks that let their results be merged.

Shard ``K/N`` (0 <= K < N) takes every N-th seed from the K-th: seeds ``[K::N]``. It writes into
its own folder, ``<out>/shard-K-of-N/``, a manifest (:data:`MANIFEST`: the shard, the sweep's
configuration and its seeds) beside its results; rerunning a shard continues it. A merge reads
the folders of all N shards and refuses, with :class:`ShardError`, shards of other
configurations, a missing or repeated shard, and a seed found in two shards or outside its
shard; the scripts then check that each shard finished every seed it owns.

Under a SLURM job array, ``SLURM_ARRAY_TASK_ID`` (minus ``SLURM_ARRAY_TASK_MIN``) and
``SLURM_ARRAY_TASK_COUNT`` give the shard when ``--shard`` does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

MANIFEST = "shard.json"


class ShardError(ValueError):
    """Shards that cannot be run or merged; the message names the folder and what to do."""


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int  # K, from 0
    count: int  # N

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def take(self, seeds: Sequence[int]) -> list[int]:
        """This shard's seeds: every ``count``-th from the ``index``-th."""
        return list(seeds)[self.index::self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: str) -> Shard:
    """``K/N`` as a :class:`Shard` (an argparse type)."""
    index, sep, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or not 0 <= shard.index < shard.count:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (shard K of N), got "
                                         f"{text!r}")
    return shard


def add_arguments(parser: argparse.ArgumentParser, merged_into: str) -> None:
    """Add the sweep options --shard and --merge (merged_into: what a merge writes)."""
    parser.add_argument("--shard", type=parse, metavar="K/N",
                        help="train only shard K of N (0 <= K < N: seeds K, K + N, ...) into "
                             "OUT/shard-K-of-N/ (default under a SLURM job array: its task)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="DIR",
                        help="train nothing: merge the shards in these folders (OUT/shard-*/ "
                             f"or the folders themselves) {merged_into}")


def from_environment(environ: Mapping[str, str] = os.environ) -> Shard | None:
    """The shard of a SLURM job array task, or ``None`` outside one."""
    task, count = environ.get("SLURM_ARRAY_TASK_ID"), environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    try:
        shard = Shard(int(task) - int(environ.get("SLURM_ARRAY_TASK_MIN", "0")), int(count))
    except ValueError:
        raise ShardError(f"SLURM_ARRAY_TASK_ID={task!r}, SLURM_ARRAY_TASK_COUNT={count!r}: "
                         "not integers") from None
    if not 0 <= shard.index < shard.count:
        raise ShardError(f"SLURM_ARRAY_TASK_ID={task} is not a task of an array of {count} "
                         "(use --array=0-N or give --shard K/N)")
    return shard


def start(folder: Path, shard: Shard, configuration: dict, seeds: Sequence[int]) -> None:
    """Write ``folder``'s manifest, or check that the one there is this shard's (a rerun)."""
    manifest = {"shard": shard.index, "count": shard.count, "configuration": configuration,
                "seeds": list(seeds)}
    path = folder / MANIFEST
    if path.exists():
        before = _read(path)
        if before != manifest:
            raise ShardError(f"{path} belongs to another sweep or shard "
                             f"({_difference(before, manifest)}); use another --out, or the "
                             "same arguments to continue that shard")
        return
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=1) + "\n")
    temporary.replace(path)


def _read(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ShardError(f"{path}: cannot be read as a shard manifest ({err})") from None
    if not isinstance(manifest, dict) or not {"shard", "count", "configuration",
                                              "seeds"} <= manifest.keys():
        raise ShardError(f"{path}: not a shard manifest (it lacks shard, count, configuration "
                         "or seeds)")
    return manifest


def _difference(a: dict, b: dict) -> str:
    """The first key whose values differ between two manifests (or configurations)."""
    for key in sorted(a.keys() | b.keys()):
        if key == "configuration" and isinstance(a.get(key), dict) and isinstance(b.get(key),
                                                                                  dict):
            if a[key] != b[key]:
                return _difference(a[key], b[key])
        elif a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} against {b.get(key)!r}"
    return "none"


def folders(paths: Sequence[Path]) -> list[Path]:
    """The shard folders among ``paths``: each path that holds a manifest, and the ``shard-*``
    folders inside the others."""
    found = []
    for path in paths:
        if (path / MANIFEST).is_file():
            found.append(path)
            continue
        inside = sorted(p for p in Path(path).glob("shard-*") if (p / MANIFEST).is_file())
        if not inside:
            raise ShardError(f"{path}: no {MANIFEST} there nor in a shard-*/ folder inside; give "
                             "the folders the shards wrote (OUT/shard-K-of-N)")
        found.extend(inside)
    return found


def read_all(paths: Sequence[Path]) -> list[tuple[Path, dict]]:
    """Every shard's folder and manifest, in shard order, after checking that they are the
    ``N`` shards of one sweep; :class:`ShardError` otherwise."""
    shards = [(folder, _read(folder / MANIFEST)) for folder in folders(paths)]
    first_folder, first = shards[0]
    for folder, manifest in shards[1:]:
        if (manifest["configuration"], manifest["count"]) != (first["configuration"],
                                                             first["count"]):
            mine = {"count": manifest["count"], **manifest["configuration"]}
            theirs = {"count": first["count"], **first["configuration"]}
            raise ShardError(f"{folder} and {first_folder} are shards of different sweeps "
                             f"({_difference(mine, theirs)}); merge only the shards of one "
                             "command")
    seen: dict[int, Path] = {}
    for folder, manifest in shards:
        if manifest["shard"] in seen:
            raise ShardError(f"shard {manifest['shard']}/{first['count']} is given twice: "
                             f"{seen[manifest['shard']]} and {folder}")
        seen[manifest["shard"]] = folder
    missing = sorted(set(range(first["count"])) - seen.keys())
    if missing:
        count = first["count"]
        raise ShardError(f"shard(s) {', '.join(f'{k}/{count}' for k in missing)} "
                         f"missing: {len(shards)} of {first['count']} given; run them (same "
                         "command with --shard K/N) and give every shard's folder")
    owner: dict[int, Path] = {}
    for folder, manifest in shards:
        for seed in manifest["seeds"]:
            if seed in owner:
                raise ShardError(f"seed {seed} is in two shards: {owner[seed]} and {folder}")
            owner[seed] = folder
    return sorted(shards, key=lambda item: item[1]["shard"])
