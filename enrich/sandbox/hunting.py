"""Request and response bodies of the sandbox's two advanced-hunting endpoints.

* :func:`run_legacy` -- ``POST /api/advancedqueries/run`` (MDE, being retired): body
  ``{"Query": "..."}`` (the parameter name is case-sensitive), answer
  ``{"Stats": {...}, "Schema": [{"Name", "Type"}], "Results": [...]}``, errors in the MDE
  envelope ``{"error": {"code", "message", "target"}}``.
* :func:`run_graph` -- ``POST /v1.0/security/runHuntingQuery`` (Microsoft Graph): body
  ``{"Query": "...", "Timespan": "P30D"}``, answer ``{"@odata.context", "schema": [{"name",
  "type"}], "results": [...]}``, errors in the Graph envelope ``{"error": {"code",
  "message", "innerError": {"date", "request-id", "client-request-id"}}}``.

Both return ``(http_status, json_body)`` and never raise for any request body.
Sources: ``/work/shared/research/mde-api.md`` sections 4.3 and 5.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from enrich.sandbox.kql import KqlError, QueryResult, parse_datetime, run_query

__all__ = [
    "GRAPH_CONTEXT",
    "LOOKBACK",
    "MAX_RESULT_BYTES",
    "MAX_ROWS",
    "RESULT_SIZE_MESSAGE",
    "run_graph",
    "run_legacy",
]

#: "The results include a maximum of 100,000 rows" (run-advanced-query-api; Graph quotas):
#: longer results are cut to this many rows.
MAX_ROWS = 100_000
#: "The maximum query result size of a single request can't exceed 50 MB" (newest doc;
#: older copies say 124 MB) -- a larger result is a 400 with RESULT_SIZE_MESSAGE.
MAX_RESULT_BYTES = 50 * 1024 * 1024
#: "You can only run a query on data from the last 30 days."  Also Graph's default Timespan.
LOOKBACK = timedelta(days=30)
RESULT_SIZE_MESSAGE = (
    "Query execution has exceeded the allowed result size. "
    "Optimize your query by limiting the number of results and try again"
)
GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"

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


class _BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    max_rows: int | None,
    max_result_bytes: int | None,
) -> tuple[QueryResult, int]:
    """Run ``query``; truncate to the row limit; enforce the size limit.  Returns the
    result and its serialised size in bytes."""
    try:
        result = run_query(query, tables, now, window=window)
    except KqlError as exc:
        raise _BadRequest("BadRequest", exc.message) from None
    limit = MAX_ROWS if max_rows is None else max_rows
    if len(result.rows) > limit:
        result.rows = result.rows[:limit]
    size_limit = MAX_RESULT_BYTES if max_result_bytes is None else max_result_bytes
    size = len(json.dumps(result.rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > size_limit:
        raise _BadRequest("BadRequest", RESULT_SIZE_MESSAGE)
    return result, size


def _cpu_time(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int((seconds - whole) * 1e7):07d}"


# ---------------------------------------------------------------------------
# Legacy MDE endpoint


def _legacy_error(status: int, code: str, message: str, target: str | None) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message, "target": target or str(uuid.uuid4())}}


def run_legacy(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    max_rows: int | None = None,
    max_result_bytes: int | None = None,
    target: str | None = None,
) -> tuple[int, dict]:
    """``POST /api/advancedqueries/run``: ``(status, body)`` for a raw request body.

    ``max_rows`` / ``max_result_bytes`` default to :data:`MAX_ROWS` / :data:`MAX_RESULT_BYTES`;
    ``target`` is the tracking id put in error bodies (a fresh GUID by default).
    """
    started = time.perf_counter()
    payload = _decode(body)
    if not isinstance(payload, dict):
        # documented example body of InvalidRequestBody (common-errors.md)
        return _legacy_error(400, "InvalidRequestBody", "Request body is incorrect", target)
    query = payload.get("Query")  # body parameters are case-sensitive
    if not isinstance(query, str) or not query.strip():
        # observed: {"error":{"code":"InvalidRequestBody","message":"Missing query.",...}}
        return _legacy_error(400, "InvalidRequestBody", "Missing query.", target)
    now = _utc(now)
    try:
        result, size = _execute(query, tables, now, (now - LOOKBACK, None), max_rows, max_result_bytes)
    except _BadRequest as exc:
        return _legacy_error(400, exc.code, exc.message, target)
    elapsed = time.perf_counter() - started
    return 200, {
        "Stats": {
            "ExecutionTime": round(elapsed, 6),
            "resource_usage": {
                "cache": {
                    "memory": {"hits": 0, "misses": 0, "total": 0},
                    "disk": {"hits": 0, "misses": 0, "total": 0},
                },
                "cpu": {
                    "user": _cpu_time(elapsed),
                    "kernel": _cpu_time(0.0),
                    "total cpu": _cpu_time(elapsed),
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


def _timespan(value: object, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The (start, end) window of Graph's ``Timespan`` (ISO 8601 duration, interval or
    single start time); the last 30 days when absent."""
    if value is None:
        return now - LOOKBACK, None
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest("BadRequest", f"Invalid Timespan: {value!r}")
    text = value.strip()
    try:
        if "/" in text:
            left, _, right = text.partition("/")
            left_span, right_span = _duration(left), _duration(right)
            if left_span is not None and right_span is None and (end := _instant(right)) is not None:
                return end - left_span, end
            if right_span is not None and left_span is None and (start := _instant(left)) is not None:
                return start, start + right_span
            start, end = _instant(left), _instant(right)
            if start is not None and end is not None and start <= end:
                return start, end
        else:
            span = _duration(text)
            if span is not None:
                return now - span, now
            start = _instant(text)
            if start is not None:
                return start, None
    except OverflowError:
        pass
    raise _BadRequest(
        "BadRequest", f"Invalid Timespan: '{text}'. Use an ISO 8601 duration, interval or date/time"
    )


def _graph_error(
    status: int, code: str, message: str, now: datetime, request_id: str | None, client_request_id: str | None
) -> tuple[int, dict]:
    request_id = request_id or str(uuid.uuid4())
    return status, {
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


def run_graph(
    body: bytes | str,
    tables: Tables,
    now: datetime,
    *,
    max_rows: int | None = None,
    max_result_bytes: int | None = None,
    request_id: str | None = None,
    client_request_id: str | None = None,
) -> tuple[int, dict]:
    """``POST /v1.0/security/runHuntingQuery``: ``(status, body)`` for a raw request body.

    ``request_id`` / ``client_request_id`` fill the error's ``innerError`` (the server
    should pass the request's ``client-request-id`` header); fresh GUIDs by default.
    """
    now = _utc(now)
    payload = _decode(body)
    if not isinstance(payload, dict):
        return _graph_error(
            400,
            "BadRequest",
            "Invalid request body: expected a JSON object",
            now,
            request_id,
            client_request_id,
        )
    # Graph treats property names case-insensitively (the docs write "Query" and "Timespan").
    fields = {str(key).lower(): value for key, value in payload.items()}
    query = fields.get("query")
    if not isinstance(query, str) or not query.strip():
        return _graph_error(
            400,
            "BadRequest",
            "The 'Query' parameter is missing or empty.",
            now,
            request_id,
            client_request_id,
        )
    try:
        window = _timespan(fields.get("timespan"), now)
        result, _ = _execute(query, tables, now, window, max_rows, max_result_bytes)
    except _BadRequest as exc:
        return _graph_error(400, exc.code, exc.message, now, request_id, client_request_id)
    return 200, {
        "@odata.context": GRAPH_CONTEXT,
        "schema": [
            {"name": name, "type": _SCHEMA_TYPES.get(kql_type, "Object")} for name, kql_type in result.schema
        ],
        "results": result.rows,
    }
