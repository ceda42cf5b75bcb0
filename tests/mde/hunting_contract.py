"""What the files family of hunt mode counts, as docs/hunting.md states it (written here by hand,
not imported from the query builder, so the tests check the queries against the document)."""

from __future__ import annotations

FILE_TABLES = ("DeviceFileEvents", "DeviceProcessEvents", "DeviceImageLoadEvents", "DeviceEvents")
HASH_COLUMNS = (
    "SHA1",
    "SHA256",
    "MD5",
    "InitiatingProcessSHA1",
    "InitiatingProcessSHA256",
    "InitiatingProcessMD5",
)
