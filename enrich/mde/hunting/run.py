"""`hunt`: every value of a family asked chunk by chunk (a few at a time), a chunk too big split in two, Graph then legacy.

For each chunk (chunks.py) the query (queries.py) goes to the first usable path (paths.py); a
403, a refused token or a missing route (404/405/410/501) makes that path unusable for the rest
of the run and the chunk goes to the next. A family's first query refused with any other 400
(the query is not understood: e.g. a table the service lacks) raises QueryRefused before any
chunk of it is reported. An answer that says the query was too big or too slow (the result-size 400, the
pre-emption 400, a time-out) splits the chunk in two and asks each half (a lone value that still
fails becomes that value's error). A 429 (calls or CPU quota) is waited out by the client
(Retry-After; the family's budget pauses meanwhile). Each finished chunk is handed to `on_chunk`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from enrich.mde.client import MdeClient, error_message
from enrich.mde.errors import AuthError, PermissionDenied, RetriesExhausted
from enrich.mde.hunting.chunks import halves, plan_chunks
from enrich.mde.hunting.interface import (
    BUDGET_FAMILY,
    HUNT_FAMILIES,
    PATH_GRAPH,
    ChunkResult,
    HuntOptions,
    Sighting,
)
from enrich.mde.hunting.literals import canonical_values
from enrich.mde.hunting.paths import (
    GRAPH_ROUTE,
    LEGACY_ROUTE,
    HuntingUnavailable,
    QueryRefused,
    base_url,
    hunting_paths,
    mark_unusable,
    no_path_error,
    tokens_for,
)
from enrich.mde.hunting.queries import QueryPlan, build
from enrich.tasks import run_pool

log = logging.getLogger(__name__)

MAX_SPLITS = 24  # halvings of one chunk at most (2**24 values: far beyond any chunk)
# Queries of one planned chunk refused as too big or too slow before the rest of it is given up:
# enough to isolate a few heavy values among a thousand (about 2 log2(n) each), few enough that
# a query too slow whatever its values (a long scan) cannot spend the hourly quota on halves.
MAX_REFUSED = 32
# What MDE and Graph say when a query is too big or too slow for one request.
_TOO_BIG = re.compile(
    r"exceeded the allowed (?:result size|limits)|preempted|time ?out|timed out|execution time|too large",
    re.IGNORECASE,
)
# What a hunting route without hunting answers: not found, method not allowed, gone (a retired
# endpoint), not implemented. No permission or retry changes it.
NO_ROUTE = frozenset({404, 405, 410, 501})


class _Split(Exception):
    """The chunk was too big or too slow for one request (`path` said so): ask it in halves."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class _Answer:
    """One path's answer to one chunk: the rows, or why there are none."""

    def __init__(
        self, path: str, rows: list[Mapping[str, Any]] | None, error: str = "", status: int = 0
    ) -> None:
        self.path, self.rows, self.error, self.status = path, rows, error, status


async def hunt(
    client: MdeClient,
    family: str,
    values: Sequence[str],
    options: HuntOptions,
    on_chunk: Callable[[ChunkResult], None],
) -> None:
    """Ask every value of `family`, chunk by chunk, calling `on_chunk` once per finished chunk.

    Values must be normalised as enrich normalises them (literals.canonical); anything else is
    refused with UnsafeValue (a ValueError) before any call. Raises MdeError as the client does
    (sign-in, a permission missing on every path), HuntingUnavailable when no path has a hunting
    route, and QueryRefused when the family's first query is refused as not understood (a 400
    not about size): then no chunk of the family was reported.
    """
    if family not in HUNT_FAMILIES:
        raise ValueError(f"hunting answers {', '.join(HUNT_FAMILIES)}; not {family!r}")
    asked = canonical_values(family, values)
    if not asked:
        return
    chunks = plan_chunks(
        family,
        asked,
        lookback_hours=options.lookback_hours,
        max_devices=options.max_devices,
        max_values=options.chunk_values,
    )
    log.info("hunting %d %s values in %d queries", len(asked), family, len(chunks))
    first = [True]  # no chunk of the family reported yet

    def report(result: ChunkResult) -> None:
        first[0] = False
        on_chunk(result)

    # The first query alone: a query the service does not understand is found with one call. Then
    # the rest, `queries_in_flight` at a time (each call still takes its slot of the quota).
    await _answer_chunk(client, family, chunks[0], options, report, 0, [0], first)

    async def answer(chunk: tuple[str, ...]) -> None:
        await _answer_chunk(client, family, chunk, options, report, 0, [0], first)

    await run_pool(chunks[1:], answer, options.queries_in_flight)


async def _answer_chunk(
    client: MdeClient,
    family: str,
    chunk: tuple[str, ...],
    options: HuntOptions,
    on_chunk: Callable[[ChunkResult], None],
    depth: int,
    refused: list[int],
    first: list[bool],
) -> None:
    """Answer `chunk`, in halves when it is refused as too big or too slow (`refused`: the
    planned chunk's count of such refusals, shared by its parts). While `first[0]` (no chunk of
    the family reported yet), a 400 that is not about size raises QueryRefused."""
    if refused[0] >= MAX_REFUSED:
        error = (
            f"hunting could not answer: not asked, after {refused[0]} queries refused as too big or too slow"
        )
        on_chunk(ChunkResult(family, chunk, {}, "", error))
        return
    plan = build(family, chunk, options.lookback_hours, options.max_devices)
    try:
        answer = await _ask(client, plan, options)
    except _Split as exc:
        refused[0] += 1
        if len(chunk) == 1 or depth >= MAX_SPLITS or refused[0] >= MAX_REFUSED:
            on_chunk(ChunkResult(family, chunk, {}, exc.path, f"hunting could not answer: {exc}"))
            return
        first_half, second_half = halves(chunk)
        log.info(
            "hunting %s: %d values were too many for one query (%s); asking them in halves",
            family,
            len(chunk),
            exc,
        )
        await _answer_chunk(client, family, first_half, options, on_chunk, depth + 1, refused, first)
        await _answer_chunk(client, family, second_half, options, on_chunk, depth + 1, refused, first)
        return
    if answer.rows is None and answer.status == 400 and first[0]:
        raise QueryRefused(
            f"advanced hunting does not understand the {family} query: {answer.error}",
            family=family,
            path=answer.path,
            detail=answer.error,
        )
    if answer.rows is None:
        on_chunk(ChunkResult(family, chunk, {}, answer.path, answer.error))
        return
    sightings = read_sightings(answer.rows, plan, options.max_devices)
    log.debug("hunting %s: %d values, %d seen (%s)", family, len(chunk), len(sightings), answer.path)
    on_chunk(ChunkResult(family, chunk, sightings, answer.path))


async def _ask(client: MdeClient, plan: QueryPlan, options: HuntOptions) -> _Answer:
    """The chunk's answer from the first usable path; raises _Split, or the error when no path is left."""
    reasons = await hunting_paths(client)
    for path in options.paths:
        if reasons.get(path):
            continue
        body: dict[str, str] = {"Query": plan.text}
        if path == PATH_GRAPH:
            body["Timespan"] = f"PT{options.lookback_hours}H"
        try:
            status, reply = await client.post(
                BUDGET_FAMILY[path],
                GRAPH_ROUTE if path == PATH_GRAPH else LEGACY_ROUTE,
                body,
                base_url=base_url(client, path),
                tokens=tokens_for(client, path),
                timeout=options.request_timeout,
                retry_timeouts=False,
            )
        except PermissionDenied as exc:
            mark_unusable(client, path, str(exc), exc)
            log.warning("hunting: %s is not usable (%s); trying the next path", path, exc)
            reasons = await hunting_paths(client)
            continue
        except AuthError as exc:
            if path != PATH_GRAPH:
                raise
            mark_unusable(client, path, f"Microsoft Graph refused our token: {exc}", exc)
            log.warning("hunting: %s is not usable (%s); trying the next path", path, exc)
            reasons = await hunting_paths(client)
            continue
        except RetriesExhausted as exc:
            return _Answer(path, None, str(exc))
        if status in NO_ROUTE:
            why = f"the hunting route answered HTTP {status}" + (
                f": {message}" if (message := error_message(reply)) else ""
            )
            mark_unusable(client, path, why, HuntingUnavailable(why, statuses=(status,)))
            log.warning("hunting: %s is not usable (%s); trying the next path", path, why)
            reasons = await hunting_paths(client)
            continue
        return _read(path, status, reply)
    raise no_path_error(client, options.paths)


def _read(path: str, status: int, body: Any) -> _Answer:
    """An HTTP answer as rows, a split, or an error."""
    message = error_message(body) if not 200 <= status < 300 else ""
    if status in (408, 504) or (status == 400 and _TOO_BIG.search(message)):
        raise _Split(path, message or f"HTTP {status}")
    if not 200 <= status < 300:
        return _Answer(
            path,
            None,
            f"hunting refused the query (HTTP {status})" + (f": {message}" if message else ""),
            status,
        )
    rows = result_rows(body)
    if rows is None:
        return _Answer(path, None, "hunting sent an answer without results")
    return _Answer(path, rows)


def result_rows(body: Any) -> list[Mapping[str, Any]] | None:
    """The result rows of either endpoint's answer (`Results` legacy, `results` Graph; any key casing)."""
    if not isinstance(body, dict):
        return None
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == "results" and isinstance(value, list):
            return [row for row in value if isinstance(row, dict)]
    return None


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _names(value: Any, max_devices: int) -> tuple[str, ...]:
    """The DeviceNames cell (a JSON array, or its text as some endpoints send dynamic values)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ()
    if not isinstance(value, list):
        return ()
    names = sorted({str(name) for name in value if isinstance(name, str) and name})
    return tuple(names[:max_devices])


def _column(row: Mapping[str, Any], name: str) -> Any:
    if name in row:
        return row[name]
    low = name.lower()
    return next((v for k, v in row.items() if isinstance(k, str) and k.lower() == low), None)


def read_sightings(
    rows: Sequence[Mapping[str, Any]], plan: QueryPlan, max_devices: int
) -> dict[str, Sighting]:
    """value -> Sighting from the result rows (a row whose Value was not asked is ignored)."""
    out: dict[str, Sighting] = {}
    for row in rows:
        key = _column(row, "Value")
        owners = plan.owners.get(key) if isinstance(key, str) else None
        if not owners:
            continue
        events = _count(_column(row, "Events"))
        if events <= 0:
            continue
        sighting = Sighting(
            devices=_count(_column(row, "Devices")),
            events=events,
            first_seen=str(_column(row, "FirstSeen") or ""),
            last_seen=str(_column(row, "LastSeen") or ""),
            device_names=_names(_column(row, "DeviceNames"), max_devices) if max_devices > 0 else (),
        )
        for value in owners:
            out[value] = sighting
    return out
