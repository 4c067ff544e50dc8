"""Run one benchmark process at a time and record what surrounded it: the command, the load
average just before and just after, the wall time and how it ended."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import jaxcnn
from jaxcnn.cli.args import positive_int
from jaxcnn.net.options import ARCHITECTURES

REPO_ROOT = Path(jaxcnn.__file__).resolve().parents[1]
# The environment a PyTorch process runs with: glibc's allocator as PyTorch ships (jaxcnn, which
# it imports for the data, would otherwise tune it at import: jaxcnn.runtime.allocator).
TORCH_ENV = {"JAXCNN_MALLOC": "default"}


def worker_command(args: list[str]) -> list[str]:
    """``python -m jaxcnn.bench.worker ARGS`` with this interpreter."""
    return [sys.executable, "-m", "jaxcnn.bench.worker", *args]


def cell_arg(text: str) -> tuple[str, int]:
    """A child process's ``--cell ARCH:BATCH`` -> (arch, batch size)."""
    arch, sep, batch = text.partition(":")
    if not sep or arch not in ARCHITECTURES:
        raise argparse.ArgumentTypeError(
            f"--cell {text!r}: expected ARCH:BATCH with ARCH one of {', '.join(ARCHITECTURES)}")
    return arch, positive_int(batch)


def shown(command: list[str], env: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    """``command`` as a shell line, its environment changes first (``env -u NAME`` for each
    of ``drop``, ``NAME=VALUE`` for ``env``) and ``python`` for the interpreter."""
    words = ["python" if word == sys.executable else word for word in command]
    unset = ["env", *(f"--unset={name}" for name in drop)] if drop else []
    return shlex.join(unset + [f"{k}={v}" for k, v in env.items()] + words)


def run(command: list[str], env: dict[str, str] | None = None,
        drop: tuple[str, ...] = ()) -> dict:
    """Run ``command`` (with ``env`` added to this process's environment and ``drop`` removed),
    alone, output captured; a record of it. ``returncode`` says how it ended and ``error`` holds
    the end of its stderr when it failed."""
    env = env or {}
    full = {k: v for k, v in os.environ.items() if k not in drop}
    # The worker imports jaxcnn from this checkout, whatever the current directory.
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                       full.get("PYTHONPATH")]))
    full.update(env)
    record = {"command": shown(command, env, drop), "load_before": list(os.getloadavg())}
    start = time.perf_counter()
    done = subprocess.run(command, env=full, capture_output=True, text=True, check=False)
    record.update(wall_s=time.perf_counter() - start, load_after=list(os.getloadavg()),
                  returncode=done.returncode)
    if done.returncode:
        record["error"] = "\n".join(done.stderr.strip().splitlines()[-5:])
    return record


def surroundings(record: dict) -> str:
    """`` (wall s, load before -> after)``: how a :func:`run` record's process went."""
    return (f" ({record['wall_s']:.1f} s, load {record['load_before'][0]:.2f} -> "
            f"{record['load_after'][0]:.2f})")


def failure(record: dict) -> str:
    """``failed (code): stderr's end`` of a :func:`run` record."""
    return f"failed ({record['returncode']}): {record.get('error', '')}"
