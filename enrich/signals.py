"""SIGTERM and SIGHUP stop a run the way Ctrl-C does: answers kept in the cache, nothing written at
the output, a line saying how to resume, and an exit code saying which signal it was (143, 129).

Inside `stopping()`, either signal raises `Stopped` (a KeyboardInterrupt) in the main thread, so
every `except KeyboardInterrupt` / `finally` on the way up does its Ctrl-C work (temporary files
removed, the cache closed). After the first stop, further SIGTERM/SIGHUP are ignored, so the
clean-up is not cut short. A signal the process was started ignoring (`nohup`) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from enrich.errors import EXIT_INTERRUPTED, EXIT_SIGHUP, EXIT_SIGTERM

__all__ = ["STOP_SIGNALS", "Stopped", "exit_code", "shielded_children", "stopped_by", "stopping"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_CODES = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by `signum` (SIGTERM or SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_of(stop: BaseException | None) -> int:
    """The signal a KeyboardInterrupt stands for (SIGINT unless it is a `Stopped`)."""
    return stop.signum if isinstance(stop, Stopped) else signal.SIGINT


def exit_code(stop: BaseException | int | None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP (a KeyboardInterrupt or a signal number)."""
    signum = stop if isinstance(stop, int) else signal_of(stop)
    return _CODES.get(signal.Signals(signum), EXIT_INTERRUPTED)


def stopped_by(stop: BaseException | int | None) -> str:
    """Words for what stopped the run: "interrupted", "stopped by SIGTERM", "stopped by SIGHUP"."""
    signum = stop if isinstance(stop, int) else signal_of(stop)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


@contextlib.contextmanager
def shielded_children() -> Iterator[None]:
    """Processes started within the block have SIGTERM and SIGHUP blocked (a signal mask is inherited),
    so a hangup of the whole process group does not kill helpers such as multiprocessing's resource
    tracker: the parent handles the signal and stops them. Here the signals only wait for the block's end.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Stopped` like Ctrl-C raises KeyboardInterrupt.

    Only the main thread can set handlers; elsewhere this does nothing. The handlers that were there
    before are put back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    stopping_now = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping_now
        if stopping_now:  # already unwinding: let the clean-up finish
            return
        stopping_now = True
        raise Stopped(signum)

    for signum in STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current == signal.SIG_IGN:  # started under nohup (or told to ignore it): keep it so
            continue
        previous[signum] = current
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
