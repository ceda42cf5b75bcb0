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

`--log-format json` (`configured(..., fmt="json")`) writes the same records as JSON Lines, one
object per line: `time` (UTC, ISO 8601), `level`, `run_id` (one per run), `tenant`, `event`,
`message` and the event's figures. Events: `start`, `progress`, `quota_wait`, `retry`, `reauth`,
`request` (-v), `finish` (with the summary), `message` (any other line the run writes on stderr,
through `configured`'s `lines` stream) and `log` (any other record). Structured events are
logged with `event(name, **figures)`; they show in JSON only (the text lines say the same in
words). Every line is scrubbed of registered secrets and bearer tokens.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, cast

LOGGER = "enrich"
ERROR, WARNING, INFO = logging.ERROR, logging.WARNING, logging.INFO
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


def is_discarded(stream: TextIO) -> bool:
    """Whether `stream` is `chatter`'s nowhere (under `-q`)."""
    return isinstance(stream, _Discard)


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

    json = False  # whether `event()` records are shown (JSON Lines) or left to the text lines

    def __init__(
        self, stream: TextIO, interval: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
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

    def format_repeats(self, record: logging.LogRecord, count: int) -> str:
        """The line saying `record`'s message came `count` more times."""
        times = "time" if count == 1 else "times"
        return f"{self.format(record, time.time())} (repeated {count} more {times})"

    run_id: str | None = None  # set by `configured`: records logged within another run are not ours

    def ours(self) -> bool:
        """Whether the record being emitted belongs to this handler's run (runs in threads of one
        process, e.g. the tenants of a job, each see only their own records)."""
        current = _run_id.get()
        return self.run_id is None or current is None or current == self.run_id

    def wanted(self, record: logging.LogRecord) -> bool:
        """Whether this handler shows `record` (text: not the JSON-only `event()` records)."""
        return not hasattr(record, "event") and self.ours()

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
            if not self.wanted(record):
                return
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
                self._write(self.format_repeats(seen.last, seen.count))
                seen.count = 0

    def tick(self) -> None:
        """Print the repeat counts if an interval has passed since they were last printed."""
        with self.lock or contextlib.nullcontext():
            self._report(due_only=True)

    def flush(self) -> None:
        """Print every repeat count not yet printed."""
        with self.lock or contextlib.nullcontext():
            self._report(due_only=False)


# -- JSON Lines ---------------------------------------------------------------------------------

_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("enrich_run_id", default=None)
_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("enrich_tenant", default=None)

# Records of other modules that are events (their message template -> event, names of their args).
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "MDE quota exceeded for %s (429); pausing that API for %.1f s%s": (
        "quota_wait",
        ("family", "wait_seconds"),
    ),
    "%s %s: %s; retry %d in %.2f s": ("retry", ("family", "path", "reason", "attempt", "delay_seconds")),
    "token request failed (%s); retrying in %.1f s": ("retry", ("reason", "delay_seconds")),
    "MDE answered 401 (%s); acquiring a new token": ("reauth", ("reason",)),
    "%s %s -> %s": ("request", ("method", "path", "status")),
    "%s %s -> %d%s": ("request", ("method", "path", "status")),
    "%s %s%s -> %s in %.3f s": ("request", ("method", "host", "path", "status", "seconds")),
}
# Events a JSON log shows whatever the verbosity (the rest follow -v/-q like the text lines).
ALWAYS_SHOWN: frozenset[str] = frozenset(
    {"start", "progress", "quota_wait", "retry", "reauth", "finish", "message"}
)


def iso_utc(seconds: float) -> str:
    """`2026-01-31T02:00:05.123Z`: a moment in UTC, to the millisecond."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1000):03d}Z"


def _plain(value: Any, clean: Callable[[str], str] = str) -> Any:
    """`value` as JSON holds it (numbers, text, lists, objects; anything else as its text), every
    text passed through `clean`."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, clean) for v in value]
    return clean(str(value))


def event_of(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """The event a record stands for and its figures (`event()` records, known templates, else `log`)."""
    name = getattr(record, "event", None)
    if name:
        return str(name), dict(getattr(record, "figures", {}) or {})
    known = TEMPLATES.get(str(record.msg))
    args = record.args if isinstance(record.args, tuple) else ()
    if known:
        return known[0], dict(zip(known[1], args, strict=False))
    return "log", {}


class JsonLogHandler(RunLogHandler):
    """Writes `enrich` records as JSON Lines (see the module doc); repeats counted as in text."""

    json = True

    def __init__(self, stream: TextIO, interval: float = 30.0, threshold: int = logging.WARNING) -> None:
        super().__init__(stream, interval)
        self.threshold = threshold  # records below it show only when their event is ALWAYS_SHOWN

    def wanted(self, record: logging.LogRecord) -> bool:
        return self.ours() and (record.levelno >= self.threshold or event_of(record)[0] in ALWAYS_SHOWN)

    def format(self, record: logging.LogRecord, when: float | None = None) -> str:
        return self.line(record, when)

    def format_repeats(self, record: logging.LogRecord, count: int) -> str:
        return self.line(record, time.time(), repeated=count)

    def line(self, record: logging.LogRecord, when: float | None = None, **more: Any) -> str:
        """One JSON object: time, level, run_id, tenant, event, message and the figures."""
        from enrich.mde.errors import scrub

        name, figures = event_of(record)
        obj: dict[str, Any] = {
            "time": iso_utc(record.created if when is None else when),
            "level": record.levelname.lower(),
            "run_id": getattr(record, "run_id", None) or _run_id.get(),
            "tenant": getattr(record, "tenant", None) or _tenant.get(),
            "event": name,
            "message": scrub(record.getMessage()),
        }
        for key, value in {**figures, **more}.items():
            obj.setdefault(key, _plain(value, scrub))
        return scrub(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


class _OthersOnly(logging.Filter):
    """Records of loggers outside `enrich` (which reach the root logger's handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != LOGGER and not record.name.startswith(LOGGER + ".")


_events = logging.getLogger(LOGGER + ".events")


def event(name: str, message: str = "", level: int = logging.INFO, **figures: Any) -> bool:
    """Log the structured event `name` with its figures; True when a JSON log shows it.

    Text logs do not show these records (their lines say it in words): callers print their text
    line when this returns False.
    """
    if not json_active():
        return False
    _events.log(level, message or name, extra={"event": name, "figures": figures, "every": True})
    return True


def json_active() -> bool:
    """Whether the run being logged (in this thread or task) writes JSON Lines."""
    return any(handler.json and handler.ours() for handler in _active)


def set_tenant(tenant: str | None) -> None:
    """The tenant the following records are about (in this thread or task and those it starts)."""
    _tenant.set(tenant or None)


def run_id() -> str | None:
    """The id of the run being logged (None outside a run)."""
    return _run_id.get()


class LineEvents(io.TextIOBase):
    """A text stream whose every line becomes a `message` event (how `print(..., file=err)` of the
    run reaches a JSON log); `enrich: ` and `warning: ` prefixes become the level."""

    def __init__(self, handler: RunLogHandler) -> None:
        super().__init__()
        self._handler = handler
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        text = line.rstrip()
        if not text:
            return
        text = re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", "", text)  # stamped lines
        text = text.removeprefix("enrich: ")
        level = logging.INFO
        for prefix, named in (("warning: ", logging.WARNING), ("error: ", logging.ERROR)):
            if text.startswith(prefix):
                text, level = text.removeprefix(prefix), named
        record = logging.LogRecord(LOGGER, level, __file__, 0, "%s", (text,), None)
        record.event, record.figures, record.every = "message", {}, True
        self._handler.handle(record)


_active: list[RunLogHandler] = []


def tick() -> None:
    """`RunLogHandler.tick` of the run being logged (nothing outside a run)."""
    for handler in list(_active):
        handler.tick()


def flush() -> None:
    """`RunLogHandler.flush` of the run being logged: every pending repeat count now."""
    for handler in list(_active):
        handler.flush()


_capturing = [0]  # JSON runs under way that route Python's warnings through logging
_capturing_lock = threading.Lock()


def _capture_warnings(change: int) -> None:
    """`logging.captureWarnings` while at least one JSON run is under way (runs may be threads)."""
    with _capturing_lock:
        before = _capturing[0]
        _capturing[0] = max(0, before + change)
        if before == 0 and _capturing[0] > 0:
            logging.captureWarnings(True)
        elif before > 0 and _capturing[0] == 0:
            logging.captureWarnings(False)


@dataclass
class RunLog:
    """What `configured` gives the run: its handler, its id, and where its own lines go (`lines`)."""

    handler: RunLogHandler
    run_id: str
    lines: TextIO  # the stream to print the run's lines to: the stream itself, or `message` events


@contextlib.contextmanager
def configured(verbosity: int, stream: TextIO, interval: float = 30.0, fmt: str = "text") -> Iterator[RunLog]:
    """For the time of the block: `enrich` records at `verbosity` level go to `stream` (see module doc),
    as text lines or (`fmt="json"`) JSON Lines; a new run id is set for the block.

    The logger's previous level and handlers are restored afterwards (tests run many runs in one
    process). In JSON mode other libraries' warnings reaching the root logger are written as JSON
    too (so that every line is JSON); their loggers are otherwise left as they are.
    """
    logger = logging.getLogger(LOGGER)
    level = LEVELS[max(-1, min(2, verbosity))]
    others: JsonLogHandler | None = None
    handler: RunLogHandler
    if log_format_choice(fmt) == "json":
        handler = JsonLogHandler(stream, interval, threshold=level)
        handler.setLevel(logging.DEBUG)
        logger_level = logging.DEBUG  # events below the verbosity still reach the handler
        others = JsonLogHandler(stream, interval, threshold=logging.WARNING)
        others.setLevel(logging.WARNING)
        others.addFilter(_OthersOnly())
    else:
        handler = RunLogHandler(stream, interval)
        handler.setLevel(level)
        logger_level = level
    saved = logger.level
    logger.setLevel(logger_level)
    logger.addHandler(handler)
    if others is not None:
        logging.getLogger().addHandler(others)
        _capture_warnings(+1)  # Python's warnings (py.warnings) as JSON too, not as bare text
    _active.append(handler)
    ident = uuid.uuid4().hex
    handler.run_id = ident
    if others is not None:
        others.run_id = ident
    token = _run_id.set(ident)
    tenant = _tenant.set(None)
    lines = cast(TextIO, LineEvents(handler)) if handler.json else stream
    try:
        yield RunLog(handler, ident, lines)
    finally:
        if isinstance(lines, LineEvents):
            lines.flush()
        handler.flush()
        _active.remove(handler)
        logger.removeHandler(handler)
        if others is not None:
            logging.getLogger().removeHandler(others)
            _capture_warnings(-1)
        logger.setLevel(saved)
        _run_id.reset(token)
        _tenant.reset(tenant)


def finish(message: str, exit_code: int, status: str, level: int = logging.INFO, **figures: Any) -> bool:
    """The run's `finish` event (status ok, row_errors, failed, stopped; its exit code and figures,
    e.g. `summary=`); True when a JSON log shows it (else the caller prints its text lines)."""
    return event("finish", message, level, status=status, exit_code=exit_code, **figures)


def failure_line(message: str, exit_code: int, **figures: Any) -> str:
    """One JSON log line for a failure before a run's log exists (e.g. a job file that cannot be
    read under `--log-format json`): a `finish` event, status failed, with a run id of its own."""
    record = logging.LogRecord(LOGGER, logging.ERROR, __file__, 0, "%s", (message,), None)
    record.event = "finish"
    record.figures = {"status": "failed", "exit_code": exit_code, "error": message, **figures}
    record.run_id = uuid.uuid4().hex
    return JsonLogHandler(io.StringIO()).line(record)
