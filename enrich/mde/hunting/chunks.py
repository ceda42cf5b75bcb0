"""Chunk sizes: as many values per query as the request and result limits allow.

MDE's hunting limits (research 5.1, 5.3): at most 100,000 result rows and 50 MB of result per
query; no request size limit is documented, so the request body is kept modest (`MAX_BODY_BYTES`).
A chunk has one result row per value at most; a row's size is estimated from the value and
`max_devices` device names of at most `MAX_DEVICE_NAME` characters, with a safety factor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from enrich.mde.hunting.queries import build, literal_cost

MAX_BODY_BYTES = 256 * 1024  # the request body we allow ourselves (no documented limit)
MAX_RESULT_ROWS = 100_000  # MDE returns at most this many rows
MAX_RESULT_BYTES = 50 * 1024 * 1024  # MDE refuses a larger result (400, "exceeded the allowed result size")
RESULT_SAFETY = 4  # plan for a quarter of the result limit
MAX_DEVICE_NAME = 255  # DeviceName is a fully qualified domain name
ROW_OVERHEAD = 200  # column names, counts, two 28-character timestamps, JSON punctuation


def row_bytes(value: str, max_devices: int) -> int:
    """A generous estimate of one result row's size in bytes."""
    names = max_devices * (MAX_DEVICE_NAME + 4)
    return ROW_OVERHEAD + 2 * len(value.encode("utf-8")) + names


def body_bytes(query: str, lookback_hours: int) -> int:
    """The size of the request body carrying `query` (the larger, Graph's, with its Timespan)."""
    body = {"Query": query, "Timespan": f"PT{lookback_hours}H"}
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def plan_chunks(
    family: str, values: Sequence[str], *, lookback_hours: int, max_devices: int, max_values: int
) -> list[tuple[str, ...]]:
    """`values` cut, in order, into chunks within every limit (a value too large alone is a chunk alone)."""
    base = body_bytes(build(family, [], lookback_hours, max_devices).text, lookback_hours) if values else 0
    room_body = MAX_BODY_BYTES - base
    room_result = MAX_RESULT_BYTES // RESULT_SAFETY
    chunks: list[tuple[str, ...]] = []
    current: list[str] = []
    used_body = used_result = 0
    for value in values:
        # JSON may escape each character of a literal (\" and \\ become 2 characters more each, UTF-8 up to 4 bytes)
        cost = literal_cost(family, value)
        cost_body = cost + sum(ch in '"\\' for ch in value) * 2 + len(value.encode("utf-8")) - len(value)
        cost_result = row_bytes(value, max_devices)
        if current and (
            len(current) >= min(max_values, MAX_RESULT_ROWS)
            or used_body + cost_body > room_body
            or used_result + cost_result > room_result
        ):
            chunks.append(tuple(current))
            current, used_body, used_result = [], 0, 0
        current.append(value)
        used_body += cost_body
        used_result += cost_result
    if current:
        chunks.append(tuple(current))
    return chunks


def halves(values: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`values` split in two (the first half the larger)."""
    middle = (len(values) + 1) // 2
    return tuple(values[:middle]), tuple(values[middle:])
