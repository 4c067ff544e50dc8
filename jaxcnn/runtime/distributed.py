"""Several processes training one model on JAX's own runtime (``jax.distributed``).

Every process runs the same command with its own process id; :func:`join` connects them (process
0 hosts the coordinator). The data-parallel mesh then spans the devices of every process, each
process feeds the shares of each batch that its own devices compute, and process 0 alone writes
the run's files; what the others need from those files (the resolved configuration, a resumed
training state) process 0 sends them (:func:`share`, :func:`share_arrays`).

How many processes there are and which one this is comes from, in order: the flags
(``--coordinator``, ``--num-processes``, ``--process-id``), the environment
(:data:`ENV`), and JAX's cluster detection (SLURM, Open MPI) with ``--distributed``.

Faults end in bounded time with a non-zero exit: a process that has not met all the others
within ``join_timeout`` seconds stops with :data:`PEER_FAILED` and a message naming the
coordinator and the count (:func:`join`); a collective whose peer died fails at once and
:func:`stop_after` stops the process with :data:`PEER_FAILED`; a peer that stops answering
is declared dead by JAX's heartbeats after ``peer_timeout`` seconds, and JAX then ends every
process ("Terminating process because the JAX distributed service detected fatal errors").
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import threading
import traceback
import zlib
from collections.abc import Callable, Mapping

import jax
import numpy as np

ENV = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAXCNN_NUM_PROCESSES",
       "process_id": "JAXCNN_PROCESS_ID"}
PEER_FAILED = 4  # exit status: a peer never arrived, died or lost its connection
JOIN_TIMEOUT = 300  # seconds, JAX's own default for initialization_timeout
PEER_TIMEOUT = 60  # seconds without a heartbeat before a peer counts as dead (JAX: 100)


class DistributedError(ValueError):
    """The processes cannot be set up: the message names the flag or variable to fix."""


@dataclasses.dataclass(frozen=True)
class Processes:
    """How this process joins the others; ``None`` fields are left to JAX's cluster detection."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    join_timeout: int = JOIN_TIMEOUT
    peer_timeout: int = PEER_TIMEOUT

    def describe(self) -> str:
        who = "?" if self.process_id is None else str(self.process_id)
        count = "?" if self.num_processes is None else str(self.num_processes)
        return f"process {who} of {count} (coordinator {self.coordinator or 'auto-detected'})"


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} is not an integer") from None


def settings(*, coordinator: str | None = None, num_processes: int | None = None,
             process_id: int | None = None, detect: bool = False,
             join_timeout: int = JOIN_TIMEOUT, peer_timeout: int = PEER_TIMEOUT,
             environ: Mapping[str, str] = os.environ) -> Processes | None:
    """The processes to join, from the flags given, then :data:`ENV`; ``None`` for a run in one
    process (nothing given, or one process, and no ``detect``). ``detect`` (``--distributed``)
    leaves what is still unknown to JAX's cluster detection. :class:`DistributedError` for
    values that cannot work."""
    coordinator = coordinator or environ.get(ENV["coordinator"]) or None
    if num_processes is None:
        num_processes = _env_int(environ, ENV["num_processes"])
    if process_id is None:
        process_id = _env_int(environ, ENV["process_id"])
    if num_processes is not None and num_processes < 1:
        raise DistributedError(f"--num-processes {num_processes}: must be at least 1")
    if num_processes == 1 and not detect:
        return None
    given = num_processes is not None or process_id is not None
    if not (detect or given):
        return None  # JAX_COORDINATOR_ADDRESS alone (set for other tools) does not start one
    if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
        raise DistributedError(f"--process-id {process_id}: must be in 0 ... {num_processes - 1} "
                               f"for --num-processes {num_processes}")
    if coordinator is not None and (":" not in coordinator
                                    or not coordinator.rsplit(":", 1)[1].isdigit()):
        raise DistributedError(f"--coordinator {coordinator!r}: expected HOST:PORT")
    if not detect and None in (coordinator, num_processes, process_id):
        missing = [flag for flag, value in (("--coordinator HOST:PORT", coordinator),
                                            ("--num-processes N", num_processes),
                                            ("--process-id I", process_id)) if value is None]
        raise DistributedError(
            f"several processes need {', '.join(missing)} (or {', '.join(ENV.values())}); "
            "under SLURM or Open MPI, --distributed detects them")
    return Processes(coordinator, num_processes, process_id, join_timeout, peer_timeout)


def join(processes: Processes, log: Callable[[str], None] = print) -> None:
    """Connect to the other processes (before anything else uses JAX). A process that has not met
    all the others within ``join_timeout`` seconds stops with :data:`PEER_FAILED`.
    :class:`DistributedError` if JAX cannot tell the count or the id (no flags and no cluster)."""
    if jax.config.jax_cpu_collectives_implementation is None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
    log(f"{processes.describe()}: waiting up to {processes.join_timeout} s for every process")
    timer = threading.Timer(processes.join_timeout, _stop, args=(
        f"error: {processes.describe()}: not every process joined within "
        f"{processes.join_timeout} s (--join-timeout); start the others with the same command "
        "and their own --process-id, and check that the coordinator's address is reachable",))
    timer.daemon = True
    timer.start()
    try:
        jax.distributed.initialize(
            processes.coordinator, processes.num_processes, processes.process_id,
            initialization_timeout=processes.join_timeout,
            heartbeat_timeout_seconds=processes.peer_timeout,
            shutdown_timeout_seconds=processes.join_timeout)
    except (ValueError, TypeError) as err:  # JAX could not tell the count, the id or the address
        raise DistributedError(
            f"--distributed: {err} JAX detects them under SLURM and Open MPI only; elsewhere give "
            f"--coordinator HOST:PORT --num-processes N --process-id I (or "
            f"{', '.join(ENV.values())})") from None
    finally:
        timer.cancel()
    log(f"process {jax.process_index()} of {jax.process_count()}: joined; "
        f"{jax.device_count()} device(s) in all, {jax.local_device_count()} here")


def _stop(message: str, status: int = PEER_FAILED) -> None:
    """Print ``message`` and end the process at once (JAX's exit handlers would wait for the
    peers that are gone)."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(status)


def stop_after(err: Exception) -> None:
    """End this process after ``err`` stopped its part of a multi-process run, at once: the
    others are stopped by their next exchange with it. A failed exchange (a peer died or lost
    its connection) is :data:`PEER_FAILED`; anything else is printed with its traceback, 1."""
    text = str(err).strip()
    first = re.sub(r"(Error dispatching computation: )+", "", text.splitlines()[0] if text else "")
    me = f"process {jax.process_index()} of {jax.process_count()}"
    if isinstance(err, jax.errors.JaxRuntimeError) or "Gloo" in text:
        _stop(f"error: {me}: an exchange with the other processes failed, so a peer died or "
              f"lost its connection ({first or type(err).__name__}); the run stops here, its "
              "last complete checkpoint is kept: resume it with --resume DIR and every process")
    traceback.print_exception(err)
    _stop(f"error: {me} failed ({type(err).__name__}: {first}); the others stop at their next "
          "exchange with it", 1)


def is_main() -> bool:
    """Whether this process writes the run's files (process 0, or the only process)."""
    return jax.process_index() == 0


def multi() -> bool:
    return jax.process_count() > 1


def share(value=None):
    """Process 0's ``value`` (anything JSON can hold) on every process; all must call it."""
    if not multi():
        return value
    from jax.experimental import multihost_utils

    data = np.frombuffer(json.dumps(value).encode(), np.uint8) if is_main() else None
    size = int(multihost_utils.broadcast_one_to_all(np.int64(0 if data is None else data.size)))
    buffer = np.zeros(size, np.uint8)
    if data is not None:
        buffer[:] = data
    return json.loads(bytes(np.asarray(multihost_utils.broadcast_one_to_all(buffer))))


def _gather(value: np.ndarray) -> np.ndarray:
    """Every process's ``value``, stacked in process order; all must call it."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(value))


def failures(status: int) -> int:
    """The largest of every process's exit ``status`` (0: every process may go on); a process
    that did not fail says which did. All must call it."""
    if not multi():
        return status
    statuses = _gather(np.int32(status)).ravel()
    failed = [i for i, s in enumerate(statuses) if s]
    if failed and not status:
        print(f"error: process(es) {', '.join(map(str, failed))} stopped (see their messages)",
              file=sys.stderr)
    return int(statuses.max())


def differing(text: str) -> list[int]:
    """The processes whose ``text`` differs from process 0's; all must call it."""
    if not multi():
        return []
    digests = _gather(np.uint32(zlib.crc32(text.encode()))).ravel()
    return [i for i, d in enumerate(digests) if d != digests[0]]


def share_arrays(tree):
    """Process 0's pytree of numpy arrays on every process (the others pass one of the same
    structure, shapes and dtypes); all must call it."""
    if not multi():
        return tree
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.broadcast_one_to_all(tree))


def same_layout(tree, template) -> str | None:
    """``None`` if the nested dicts of arrays ``tree`` and ``template`` have the same keys,
    shapes and dtypes, else the first difference."""
    if isinstance(template, dict):
        if not isinstance(tree, dict) or tree.keys() != template.keys():
            return (f"keys {sorted(tree) if isinstance(tree, dict) else type(tree).__name__}, "
                    f"expected {sorted(template)}")
        for key in template:
            problem = same_layout(tree[key], template[key])
            if problem:
                return f"{key}/{problem}"
        return None
    a, b = np.asarray(tree), np.asarray(template)
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"{a.dtype}{a.shape}, expected {b.dtype}{b.shape}"
    return None
