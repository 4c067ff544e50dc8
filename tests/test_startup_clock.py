"""The start-up clock (``startup_seconds`` in metrics.jsonl, the benchmark's start-up figures)
against a parent process's own clock: a child's age at its first step can be no more than the
time since the parent started it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from data_helpers import REPO_ROOT

CHILD = ("import json, time; from jaxcnn.training import protocol; protocol.mark_first_step(); "
         "print(json.dumps([protocol.startup_seconds(), time.time()]))")
TICK = 0.011  # the kernel's start time is counted in 10 ms clock ticks


def test_startup_seconds_lies_within_the_parents_clock():
    for _ in range(3):
        before = time.time()
        done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True)
        startup, marked = json.loads(done.stdout)
        most = marked - before  # the child started after `before` and marked at `marked`
        # psutil's creation time on Linux overstated this by the boot time's lost fraction
        # of a second (0-1 s, the same for every process of a boot)
        assert startup <= most + TICK, (startup, most)
        # Python's own start (interpreter, imports) happens inside the child: it is counted
        assert startup >= 0.5 * most - TICK, (startup, most)


def test_startup_seconds_is_kept_from_the_first_mark():
    code = ("import json, time; from jaxcnn.training import protocol; "
            "assert protocol.startup_seconds() is None; protocol.mark_first_step(); "
            "first = protocol.startup_seconds(); time.sleep(0.2); protocol.mark_first_step(); "
            "print(json.dumps([first, protocol.startup_seconds()]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True,
                          capture_output=True, text=True)
    first, later = json.loads(done.stdout)
    assert first == later
