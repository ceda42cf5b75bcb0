"""Advanced-hunting table schemas served by the sandbox.

Column names and KQL types follow the Microsoft Defender XDR advanced-hunting
schema reference (``DeviceFileEvents``, ``DeviceProcessEvents``,
``DeviceNetworkEvents``), trimmed to the columns an indicator lookup needs.

Rows are plain dicts keyed by these column names.  ``Timestamp`` values are ISO
strings with a 7-digit fraction and ``Z`` (``"2026-11-20T10:11:12.1234567Z"``);
``RemotePort`` is an ``int``.
"""

from __future__ import annotations

TABLES: dict[str, list[tuple[str, str]]] = {
    "DeviceFileEvents": [
        ("Timestamp", "datetime"),
        ("DeviceId", "string"),
        ("DeviceName", "string"),
        ("ActionType", "string"),
        ("FileName", "string"),
        ("FolderPath", "string"),
        ("SHA1", "string"),
        ("SHA256", "string"),
        ("MD5", "string"),
        ("InitiatingProcessFileName", "string"),
    ],
    "DeviceProcessEvents": [
        ("Timestamp", "datetime"),
        ("DeviceId", "string"),
        ("DeviceName", "string"),
        ("ActionType", "string"),
        ("FileName", "string"),
        ("FolderPath", "string"),
        ("SHA1", "string"),
        ("SHA256", "string"),
        ("MD5", "string"),
        ("ProcessCommandLine", "string"),
        ("InitiatingProcessFileName", "string"),
    ],
    "DeviceNetworkEvents": [
        ("Timestamp", "datetime"),
        ("DeviceId", "string"),
        ("DeviceName", "string"),
        ("ActionType", "string"),
        ("RemoteIP", "string"),
        ("RemotePort", "int"),
        ("RemoteUrl", "string"),
        ("LocalIP", "string"),
        ("Protocol", "string"),
        ("InitiatingProcessFileName", "string"),
        ("InitiatingProcessSHA1", "string"),
    ],
}
