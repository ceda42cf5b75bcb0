"""Log lines of a run on stderr: how chatty (`-v`, `-q`), stamped in UTC, and repeats counted, not repeated.

`enrich` code logs through `logging.getLogger(__name__)` (loggers under `enrich`). For the time
of a run, `configured()` gives the `enrich` logger one handler writing to the run's stderr:

- verbosity -1 (`-q`): errors only; 0 (default): warnings; 1 (`-v`): also every HTTP request
  (method, path, status, time) and 401/429 notices; 2 (`-vv`): also retry details and tokens.
- each line starts with the UTC time: `2026-01-31T02:00:05Z enrich: warning: ...`.
- a message seen before (same logger, level, text, numbers aside) is counted instead of
  printed again; the count is printed as `... (repeated N more times)` at most once per
  interval (`tick()`, called by the progress ticker, or the next message) and at the end.
  A record logged with `extra={"every": True}` (a request line) is always printed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

LOGGER = "enrich"
LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
_HEX = re.compile(r"0x[0-9a-fA-F]+")


FORMATS: tuple[str, ...] = ("text", "json")


def log_format_choice(text: str) -> str:
    """`text` as a log format (a job file's `log_format`); ValueError naming the formats otherwise."""
    key = str(text).strip().lower()
    if key not in FORMATS:
        raise ValueError(f"must be one of {', '.join(FORMATS)}; got {text!r}")
    return key


def utc_stamp(seconds: float | None = None) -> str:
    """`2026-01-31T02:00:05Z`: the time (default now) in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if seconds is None else seconds))


def verbosity_of(verbose: int, quiet: bool) -> int:
    """-1 for `-q`, else the number of `-v` (at most 2)."""
    return -1 if quiet else min(2, max(0, verbose))


def chatter(stream: TextIO, quiet: bool) -> TextIO:
    """Where informative lines (plan, progress) go: `stream`, or nowhere under `-q`."""
    return _Discard() if quiet else stream


class _Discard(io.StringIO):
    """A text stream that keeps nothing (and is no terminal)."""

    def write(self, text: str) -> int:
        return len(text)


def _key(record: logging.LogRecord) -> tuple[object, ...]:
    """What makes two records 'the same message': numbers (delays, counts) and object addresses aside."""
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    shown = tuple(
        "#" if isinstance(a, int | float) and not isinstance(a, bool) else _HEX.sub("#", str(a)) for a in args
    )
    return (record.name, record.levelno, str(record.msg), shown)


@dataclass
class _Repeats:
    last: logging.LogRecord
    count: int = 0  # occurrences not yet reported


class RunLogHandler(logging.Handler):
    """Writes `enrich` records to a stream, one UTC-stamped line each, counting repeated messages."""

    def __init__(self, stream: TextIO, interval: float = 30.0, clock=time.monotonic) -> None:  # noqa: ANN001
        super().__init__()
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[object, ...], _Repeats] = {}
        self._reported_at = clock()
        self._write_lock = threading.RLock()

    def format(self, record: logging.LogRecord, when: float | None = None) -> str:
        """`<UTC time> enrich: [warning: ]<message>`, at the record's time unless `when` is given."""
        level = "" if record.levelno < logging.WARNING else record.levelname.lower() + ": "
        return f"{utc_stamp(record.created if when is None else when)} enrich: {level}{record.getMessage()}"

    def _write(self, line: str) -> None:
        with self._write_lock:
            if getattr(self.stream, "isatty", lambda: False)():
                from tqdm import tqdm

                tqdm.write(line, file=self.stream)  # above a progress bar, not through it
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if getattr(record, "every", False):
                self._write(self.format(record))
            else:
                key = _key(record)
                seen = self._seen.get(key)
                if seen is None:
                    self._seen[key] = _Repeats(record)
                    self._write(self.format(record))
                else:
                    seen.last, seen.count = record, seen.count + 1
            self._report(due_only=True)
        except Exception:  # noqa: BLE001 - logging must never stop the run
            self.handleError(record)

    def _report(self, *, due_only: bool) -> None:
        now = self.clock()
        if due_only and now - self._reported_at < self.interval:
            return
        self._reported_at = now
        for seen in self._seen.values():
            if seen.count:
                times = "time" if seen.count == 1 else "times"
                self._write(f"{self.format(seen.last, time.time())} (repeated {seen.count} more {times})")
                seen.count = 0

    def tick(self) -> None:
        """Print the repeat counts if an interval has passed since they were last printed."""
        with self.lock or contextlib.nullcontext():
            self._report(due_only=True)

    def flush(self) -> None:
        """Print every repeat count not yet printed."""
        with self.lock or contextlib.nullcontext():
            self._report(due_only=False)


_active: list[RunLogHandler] = []


def tick() -> None:
    """`RunLogHandler.tick` of the run being logged (nothing outside a run)."""
    for handler in list(_active):
        handler.tick()


def flush() -> None:
    """`RunLogHandler.flush` of the run being logged: every pending repeat count now."""
    for handler in list(_active):
        handler.flush()


@contextlib.contextmanager
def configured(verbosity: int, stream: TextIO, interval: float = 30.0) -> Iterator[RunLogHandler]:
    """For the time of the block: `enrich` records at `verbosity` level go to `stream` (see module doc).

    The logger's previous level and handlers are restored afterwards (tests run many runs in one
    process); other libraries' loggers are left as they are.
    """
    logger = logging.getLogger(LOGGER)
    handler = RunLogHandler(stream, interval)
    level = LEVELS[max(-1, min(2, verbosity))]
    handler.setLevel(level)
    saved = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    _active.append(handler)
    try:
        yield handler
    finally:
        handler.flush()
        _active.remove(handler)
        logger.removeHandler(handler)
        logger.setLevel(saved)
