"""Advanced-hunting table schemas served by the sandbox (kept importable; the data lives in `enrich.sandbox.tables`).

`TABLES` maps each table to its ordered ``[(column, KQL type)]``: every column of Microsoft's
advanced-hunting schema page for DeviceNetworkEvents, DeviceFileEvents, DeviceProcessEvents,
DeviceImageLoadEvents, DeviceEvents, DeviceLogonEvents, DeviceRegistryEvents, DeviceInfo,
DeviceNetworkInfo, AlertInfo and AlertEvidence. `FILE_PROFILE` lists what ``invoke FileProfile()``
adds. Row contract: see `enrich.sandbox.tables`.
"""

from __future__ import annotations

from enrich.sandbox.tables import FILE_PROFILE, TABLES

__all__ = ["FILE_PROFILE", "TABLES"]
