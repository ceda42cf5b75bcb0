"""Reading a table's column list written as data: one ``Name type`` pair per line.

Types are the KQL scalar types Kusto reports in ``getschema``: ``string``, ``long``, ``int``,
``bool``, ``datetime``, ``dynamic`` (and ``real``, ``timespan``, ``guid``, ``decimal``). Microsoft's
schema pages sometimes write ``boolean``; it is read as ``bool``.
"""

from __future__ import annotations

KQL_TYPES = frozenset(
    {"string", "long", "int", "bool", "datetime", "dynamic", "real", "timespan", "guid", "decimal"}
)
_ALIASES = {"boolean": "bool"}


def parse_columns(text: str) -> list[tuple[str, str]]:
    """``"Timestamp datetime\\nDeviceId string"`` -> ``[("Timestamp", "datetime"), ("DeviceId", "string")]``.

    Blank lines are skipped; a repeated column or an unknown type raises ValueError.
    """
    columns: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"column line must be 'Name type': {line!r}")
        name, kql_type = parts[0], _ALIASES.get(parts[1], parts[1])
        if kql_type not in KQL_TYPES:
            raise ValueError(f"unknown KQL type {parts[1]!r} for column {name}")
        if name in seen:
            raise ValueError(f"column {name} is listed twice")
        seen.add(name)
        columns.append((name, kql_type))
    return columns
