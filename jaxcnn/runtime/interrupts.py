"""Ctrl-C and SIGTERM as exceptions the scripts turn into one line and an exit status.

:func:`handle_signals` makes Ctrl-C raise ``KeyboardInterrupt`` and SIGTERM
:class:`Terminated` (a ``KeyboardInterrupt``, so one ``except KeyboardInterrupt`` covers both);
:func:`exit_status` is 130 for SIGINT, 143 for SIGTERM. Inside :func:`deferred` both signals
wait until the block ends: a checkpoint write interrupted half-way would leave tensorstore's
threads to abort the process (SIGABRT).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""

    signum = signal.SIGTERM


def _raise(signum: int, _frame) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def handle_signals() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` and SIGTERM :class:`Terminated`."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise)


def quiet_during_start_up() -> None:
    """Until :func:`handle_signals`, Ctrl-C or SIGTERM print one line and end the process
    (128 + the signal): for a script's imports, before it has written anything."""
    for signum in SIGNALS:
        signal.signal(signum, _stopped_during_start_up)


def _stopped_during_start_up(signum: int, _frame) -> None:
    print("\ninterrupted during start-up; nothing was written", file=sys.stderr, flush=True)
    # os._exit, not SystemExit: a signal landing in a callback (JAX's gc hook) would swallow it.
    os._exit(128 + signum)


def exit_status(err: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + int(getattr(err, "signum", signal.SIGINT))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block has finished, then raise the first one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            _raise(received[0], None)
