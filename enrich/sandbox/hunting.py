"""Request and response bodies of the sandbox's two advanced-hunting endpoints, and their limits.

* :func:`answer_legacy` / :func:`run_legacy` -- ``POST /api/advancedqueries/run`` (MDE, being
  retired): body ``{"Query": "..."}`` (the parameter name is case-sensitive), answer
  ``{"Stats": {...}, "Schema": [{"Name", "Type"}], "Results": [...]}``, errors in the MDE
  envelope ``{"error": {"code", "message", "target"}}``.
* :func:`answer_graph` / :func:`run_graph` -- ``POST /v1.0/security/runHuntingQuery`` (Microsoft
  Graph): body ``{"Query": "...", "Timespan": "P30D"}``, answer ``{"@odata.context", "schema":
  [{"name", "type"}], "results": [...]}``, errors in the Graph envelope ``{"error": {"code",
  "message", "innerError": {"date", "request-id", "client-request-id"}}}``.

Limits (:class:`HuntingLimits`; research 4.1, 5.1, 5.3, 10):

* Rows: "Results can return up to 100,000 rows" states a maximum, not an error: a longer result
  is cut to ``max_rows`` rows and answered 200 (the documented error is the size one below).
* Size: a result over ``max_result_bytes`` (50 MB; its rows serialised as JSON) is a 400 with
  :data:`RESULT_SIZE_MESSAGE`, Microsoft's wording.
* Time-out: "the maximal execution time of a single request is 200 seconds" (Graph: "3-minute
  timeout"; :data:`GRAPH_QUERY_TIMEOUT` is Graph's default).
  A query whose modelled run time is over ``timeout`` gets 504 (Graph: ``UnknownError`` with an
  empty message, as observed on runHuntingQuery gateway time-outs).
* CPU: each query's CPU is modelled from the rows it scans and the bytes it returns
  (:func:`cpu_seconds`), so the same query always costs the same; the server charges it to the
  tenant's 15-minute CPU quota (``quotas.CpuQuota``). Run time is modelled as that CPU.
* Only the last 30 days are visible: Graph's ``Timespan`` narrows that window, never widens it.

All answer functions never raise for any request body.
Sources: ``/work/shared/research/mde-api.md`` sections 4.3, 5 and 10.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from enrich.sandbox.kql import KqlError, QueryResult, parse_datetime, run_query

__all__ = [
    "GRAPH_CONTEXT",
    "LOOKBACK",
    "MAX_RESULT_BYTES",
    "MAX_ROWS",
    "PREEMPTED_MESSAGE",
    "GRAPH_QUERY_TIMEOUT",
    "QUERY_TIMEOUT",
    "RESULT_SIZE_MESSAGE",
    "HuntingAnswer",
    "HuntingLimits",
    "answer_graph",
    "answer_legacy",
    "cpu_seconds",
    "preempted_graph",
    "preempted_legacy",
    "run_graph",
    "run_legacy",
]

#: "The results include a maximum of 100,000 rows" (run-advanced-query-api; Graph quotas):
#: longer results are cut to this many rows.
MAX_ROWS = 100_000
#: "The maximum query result size of a single request can't exceed 50 MB" (newest doc;
#: older copies say 124 MB) -- a larger result is a 400 with RESULT_SIZE_MESSAGE.
MAX_RESULT_BYTES = 50 * 1024 * 1024
#: "The maximal execution time of a single request is 200 seconds." (legacy endpoint)
QUERY_TIMEOUT = 200.0
#: Graph's quotas: "3-minute timeout".
GRAPH_QUERY_TIMEOUT = 180.0
#: "You can only run a query on data from the last 30 days."  Also Graph's default Timespan.
LOOKBACK = timedelta(days=30)
RESULT_SIZE_MESSAGE = (
    "Query execution has exceeded the allowed result size. "
    "Optimize your query by limiting the number of results and try again"
)
#: Graph's 400 for a query stopped for its resource use (research 5.1); the "preempted" fault.
PREEMPTED_MESSAGE = (
    "Query execution has exceeded the allowed limits. The query execution was preempted. This could "
    "possibly be due to high CPU and/or memory resource consumption. Optimize your query by following "
    "best practices and try again."
)
TIMEOUT_MESSAGE = (
    "Query execution has exceeded the allowed time of {seconds:g} seconds and was stopped. "
    "Optimize your query by following best practices and try again."
)
GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"

#: The CPU model: 1 microsecond per row of every table a query reads, 10 ns per result byte.
CPU_SECONDS_PER_ROW = 1e-6
CPU_SECONDS_PER_BYTE = 1e-8

# KQL type -> the .NET type name both APIs put in the schema ("DateTime", "String" are
# documented; the others follow the same naming).
_SCHEMA_TYPES = {
    "string": "String",
    "long": "Int64",
    "int": "Int32",
    "real": "Double",
    "datetime": "DateTime",
    "bool": "Boolean",
    "timespan": "TimeSpan",
    "dynamic": "Object",
}

Tables = Mapping[str, Sequence[Mapping[str, object]]]
#: What `invoke FileProfile()` asks of the dataset: a file's profile by hash, or None.
FileProfile = Callable[[str], Mapping[str, object] | None]


@dataclass(frozen=True)
class HuntingLimits:
    """The per-query limits: rows kept, result bytes allowed, modelled seconds before time-out."""

    max_rows: int = MAX_ROWS
    max_result_bytes: int = MAX_RESULT_BYTES
    timeout: float = QUERY_TIMEOUT


@dataclass
class HuntingAnswer:
    """One request's answer: HTTP status, JSON body, and the modelled CPU seconds it used."""

    status: int
    body: dict
    cpu_seconds: float = 0.0


def cpu_seconds(rows_scanned: int, result_bytes: int) -> float:
    """Modelled CPU (and run time) of a query that read `rows_scanned` rows and returned
    `result_bytes` bytes: deterministic, so quota and time-out tests do not depend on load."""
    return rows_scanned * CPU_SECONDS_PER_ROW + result_bytes * CPU_SECONDS_PER_BYTE


class _Scanned(Mapping[str, Sequence[Mapping[str, object]]]):
    """The tables as the engine sees them, counting the rows of every table it reads (once)."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Sequence[Mapping[str, object]]:
        rows = self._tables[name]
        self.read.add(name)
        return rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    @property
    def rows(self) -> int:
        return sum(len(self._tables[name]) for name in self.read)


class _BadRequest(Exception):
    def __init__(self, code: str, message: str, cpu: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.cpu = cpu


class _TimedOut(Exception):
    def __init__(self, limit: float, cpu: float) -> None:
        super().__init__(TIMEOUT_MESSAGE.format(seconds=limit))
        self.message = TIMEOUT_MESSAGE.format(seconds=limit)
        self.cpu = cpu


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _decode(body: bytes | str) -> object:
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None


def _execute(
    query: str,
    tables: Tables,
    now: datetime,
    window: tuple[datetime | None, datetime | None],
    limits: HuntingLimits,
    file_profile: FileProfile | None,
) -> tuple[QueryResult, int, float]:
    """Run ``query``; truncate to the row limit; enforce the time-out and the size limit.
    Returns the result, its serialised size in bytes and its modelled CPU seconds."""
    scanned = _Scanned(tables)
    # passed only when given, so an engine without the hook still runs
    extra: dict[str, Any] = {} if file_profile is None else {"file_profile": file_profile}
    try:
        result = run_query(query, scanned, now, window=window, **extra)
    except KqlError as exc:
        raise _BadRequest("BadRequest", exc.message, cpu_seconds(scanned.rows, 0)) from None
    if len(result.rows) > limits.max_rows:
        result.rows = result.rows[: limits.max_rows]
    size = len(json.dumps(result.rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    cpu = cpu_seconds(scanned.rows, size)
    if cpu > limits.timeout:
        raise _TimedOut(limits.timeout, limits.timeout)
    if size > limits.max_result_bytes:
        raise _BadRequest("BadRequest", RESULT_SIZE_MESSAGE, cpu)
    return result, size, cpu


def _cpu_time(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int((seconds - whole) * 1e7):07d}"


# ---------------------------------------------------------------------------
# Legacy MDE endpoint


def _legacy_error(code: str, message: str, target: str | None) -> dict:
    return {"error": {"code": code, "message": message, "target": target or str(uuid.uuid4())}}


def preempted_legacy(target: str | None = None) -> HuntingAnswer:
    """The legacy endpoint's 400 for a preempted query (the ``preempted`` fault)."""
    return HuntingAnswer(400, _legacy_error("BadRequest", PREEMPTED_MESSAGE, target))


def answer_legacy(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    limits: HuntingLimits | None = None,
    target: str | None = None,
    file_profile: FileProfile | None = None,
) -> HuntingAnswer:
    """``POST /api/advancedqueries/run`` for a raw request body.

    ``target`` is the tracking id put in error bodies (a fresh GUID by default);
    ``file_profile`` is handed to the engine for ``invoke FileProfile()``.
    """
    limits = limits or HuntingLimits()
    started = time.perf_counter()
    payload = _decode(body)
    if not isinstance(payload, dict):
        # documented example body of InvalidRequestBody (common-errors.md)
        return HuntingAnswer(400, _legacy_error("InvalidRequestBody", "Request body is incorrect", target))
    query = payload.get("Query")  # body parameters are case-sensitive
    if not isinstance(query, str) or not query.strip():
        # observed: {"error":{"code":"InvalidRequestBody","message":"Missing query.",...}}
        return HuntingAnswer(400, _legacy_error("InvalidRequestBody", "Missing query.", target))
    now = _utc(now)
    try:
        result, size, cpu = _execute(query, tables, now, (now - LOOKBACK, now), limits, file_profile)
    except _BadRequest as exc:
        return HuntingAnswer(400, _legacy_error(exc.code, exc.message, target), exc.cpu)
    except _TimedOut as exc:
        return HuntingAnswer(504, _legacy_error("GatewayTimeout", exc.message, target), exc.cpu)
    elapsed = time.perf_counter() - started
    body_out = {
        "Stats": {
            "ExecutionTime": round(elapsed, 6),
            "resource_usage": {
                "cache": {
                    "memory": {"hits": 0, "misses": 0, "total": 0},
                    "disk": {"hits": 0, "misses": 0, "total": 0},
                },
                "cpu": {
                    "user": _cpu_time(cpu),
                    "kernel": _cpu_time(0.0),
                    "total cpu": _cpu_time(cpu),
                },
                "memory": {"peak_per_node": 0},
            },
            "dataset_statistics": [{"table_row_count": len(result.rows), "table_size": size}],
        },
        "Schema": [
            {"Name": name, "Type": _SCHEMA_TYPES.get(kql_type, "Object")} for name, kql_type in result.schema
        ],
        "Results": result.rows,
    }
    return HuntingAnswer(200, body_out, cpu)


def run_legacy(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    max_rows: int | None = None,
    max_result_bytes: int | None = None,
    target: str | None = None,
    limits: HuntingLimits | None = None,
    file_profile: FileProfile | None = None,
) -> tuple[int, dict]:
    """:func:`answer_legacy` as ``(status, body)``; ``max_rows`` / ``max_result_bytes``
    override those of ``limits`` (default :class:`HuntingLimits`)."""
    answer = answer_legacy(
        body,
        tables,
        now,
        limits=_limits(limits, max_rows, max_result_bytes),
        target=target,
        file_profile=file_profile,
    )
    return answer.status, answer.body


def _limits(
    limits: HuntingLimits | None, max_rows: int | None, max_result_bytes: int | None
) -> HuntingLimits:
    base = limits or HuntingLimits()
    return HuntingLimits(
        max_rows=base.max_rows if max_rows is None else max_rows,
        max_result_bytes=base.max_result_bytes if max_result_bytes is None else max_result_bytes,
        timeout=base.timeout,
    )


# ---------------------------------------------------------------------------
# Microsoft Graph endpoint

_DURATION_RE = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?",
    re.ASCII,
)


def _duration(text: str) -> timedelta | None:
    m = _DURATION_RE.fullmatch(text)
    if m is None or text in ("P", "PT") or text.endswith("T"):
        return None
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    try:
        return timedelta(
            days=int(years or 0) * 365 + int(months or 0) * 30 + int(weeks or 0) * 7 + int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError:
        return None


def _instant(text: str) -> datetime | None:
    ticks = parse_datetime(text)
    if ticks is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def _timespan(value: object, now: datetime) -> tuple[datetime, datetime]:
    """The (start, end) window of Graph's ``Timespan``: an ISO 8601 duration back from now
    (``P90D``, ``PT12H``), an interval (``start/end``, ``duration/end``, ``start/duration``) or
    a single date-time (from then to now); the last 30 days when absent.  The window never
    reaches further back than 30 days: older data is not there to query."""
    floor = now - LOOKBACK
    if value is None:
        return floor, now
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest("BadRequest", f"Invalid Timespan: {value!r}")
    text = value.strip()
    window: tuple[datetime, datetime] | None = None
    try:
        if "/" in text:
            left, _, right = text.partition("/")
            left_span, right_span = _duration(left), _duration(right)
            if left_span is not None and right_span is None and (end := _instant(right)) is not None:
                window = end - left_span, end
            elif right_span is not None and left_span is None and (start := _instant(left)) is not None:
                window = start, start + right_span
            else:
                start, end = _instant(left), _instant(right)
                if start is not None and end is not None and start <= end:
                    window = start, end
        else:
            span = _duration(text)
            if span is not None:
                window = now - span, now
            elif (start := _instant(text)) is not None:
                window = start, now
    except OverflowError:
        window = None
    if window is None:
        raise _BadRequest(
            "BadRequest", f"Invalid Timespan: '{text}'. Use an ISO 8601 duration, interval or date/time"
        )
    return max(window[0], floor), window[1]


def _graph_error(
    code: str, message: str, now: datetime, request_id: str | None, client_request_id: str | None
) -> dict:
    request_id = request_id or str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


def preempted_graph(
    now: datetime, request_id: str | None = None, client_request_id: str | None = None
) -> HuntingAnswer:
    """Graph's 400 for a preempted query (the ``preempted`` fault)."""
    return HuntingAnswer(
        400, _graph_error("BadRequest", PREEMPTED_MESSAGE, _utc(now), request_id, client_request_id)
    )


def answer_graph(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    limits: HuntingLimits | None = None,
    request_id: str | None = None,
    client_request_id: str | None = None,
    file_profile: FileProfile | None = None,
) -> HuntingAnswer:
    """``POST /v1.0/security/runHuntingQuery`` for a raw request body.

    ``request_id`` / ``client_request_id`` fill the error's ``innerError`` (the server
    passes the request's ``client-request-id`` header); fresh GUIDs by default.  ``limits``
    defaults to :class:`HuntingLimits` with Graph's 3-minute time-out.
    """
    limits = limits or HuntingLimits(timeout=GRAPH_QUERY_TIMEOUT)
    now = _utc(now)

    def error(status: int, code: str, message: str, cpu: float = 0.0) -> HuntingAnswer:
        return HuntingAnswer(status, _graph_error(code, message, now, request_id, client_request_id), cpu)

    payload = _decode(body)
    if not isinstance(payload, dict):
        return error(400, "BadRequest", "Invalid request body: expected a JSON object")
    # Graph treats property names case-insensitively (the docs write "Query" and "Timespan").
    fields = {str(key).lower(): value for key, value in payload.items()}
    query = fields.get("query")
    if not isinstance(query, str) or not query.strip():
        return error(400, "BadRequest", "The 'Query' parameter is missing or empty.")
    try:
        window = _timespan(fields.get("timespan"), now)
        result, _, cpu = _execute(query, tables, now, window, limits, file_profile)
    except _BadRequest as exc:
        return error(400, exc.code, exc.message, exc.cpu)
    except _TimedOut as exc:
        # observed on runHuntingQuery gateway time-outs: 504 UnknownError with an empty message
        return error(504, "UnknownError", "", exc.cpu)
    body_out = {
        "@odata.context": GRAPH_CONTEXT,
        "schema": [
            {"name": name, "type": _SCHEMA_TYPES.get(kql_type, "Object")} for name, kql_type in result.schema
        ],
        "results": result.rows,
    }
    return HuntingAnswer(200, body_out, cpu)


def run_graph(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    max_rows: int | None = None,
    max_result_bytes: int | None = None,
    request_id: str | None = None,
    client_request_id: str | None = None,
    limits: HuntingLimits | None = None,
    file_profile: FileProfile | None = None,
) -> tuple[int, dict]:
    """:func:`answer_graph` as ``(status, body)``; ``max_rows`` / ``max_result_bytes``
    override those of ``limits`` (default :class:`HuntingLimits`)."""
    answer = answer_graph(
        body,
        tables,
        now,
        limits=_limits(limits or HuntingLimits(timeout=GRAPH_QUERY_TIMEOUT), max_rows, max_result_bytes),
        request_id=request_id,
        client_request_id=client_request_id,
        file_profile=file_profile,
    )
    return answer.status, answer.body
