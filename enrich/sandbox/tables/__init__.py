"""The advanced-hunting tables the sandbox serves, each table's schema as data.

`TABLES` maps a table name to its ordered ``[(column, KQL type)]`` (every column of Microsoft's
schema page); `LAYOUTS` holds the matching row `Layout`; `FILE_PROFILE` lists the columns
``invoke FileProfile()`` adds. Row contract: a row is a Mapping column -> value holding every
column of its table; datetime columns hold ISO strings with a 7-digit fraction and ``Z``
(``"2026-11-20T10:11:12.1234567Z"``); dynamic columns hold JSON-like Python values (lists,
dicts); ``int``/``long`` columns hold ints; ``bool`` columns bools; empty is ``""`` for strings and
None for the others.

Which rows count for the entity statistics is in `enrich.sandbox.tables.counting`.
"""

from __future__ import annotations

from enrich.sandbox.tables.device_events import (
    DEVICE_EVENTS,
    DEVICE_FILE_EVENTS,
    DEVICE_IMAGE_LOAD_EVENTS,
    DEVICE_LOGON_EVENTS,
    DEVICE_NETWORK_EVENTS,
    DEVICE_PROCESS_EVENTS,
    DEVICE_REGISTRY_EVENTS,
)
from enrich.sandbox.tables.inventory import (
    ALERT_EVIDENCE,
    ALERT_INFO,
    DEVICE_INFO,
    DEVICE_NETWORK_INFO,
    FILE_PROFILE,
)
from enrich.sandbox.tables.row import Layout, Row, empty_value

TABLES: dict[str, list[tuple[str, str]]] = {
    "DeviceNetworkEvents": DEVICE_NETWORK_EVENTS,
    "DeviceFileEvents": DEVICE_FILE_EVENTS,
    "DeviceProcessEvents": DEVICE_PROCESS_EVENTS,
    "DeviceImageLoadEvents": DEVICE_IMAGE_LOAD_EVENTS,
    "DeviceEvents": DEVICE_EVENTS,
    "DeviceLogonEvents": DEVICE_LOGON_EVENTS,
    "DeviceRegistryEvents": DEVICE_REGISTRY_EVENTS,
    "DeviceInfo": DEVICE_INFO,
    "DeviceNetworkInfo": DEVICE_NETWORK_INFO,
    "AlertInfo": ALERT_INFO,
    "AlertEvidence": ALERT_EVIDENCE,
}

LAYOUTS: dict[str, Layout] = {name: Layout(name, columns) for name, columns in TABLES.items()}

__all__ = ["FILE_PROFILE", "LAYOUTS", "TABLES", "Layout", "Row", "empty_value"]
