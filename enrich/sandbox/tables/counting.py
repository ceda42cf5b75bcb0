"""Which hunting rows count for an indicator's entity statistics, and the value forms they are keyed by.

The stats APIs (`/api/files|ips|domains/{id}/stats`) answer from an index built row by row with
`entity_keys`, the one code path, so what a hunting query counts over the same rows and lookback
is what the API says:

- **files**: rows of `FILE_TABLES` (DeviceFileEvents, DeviceProcessEvents, DeviceImageLoadEvents,
  DeviceEvents) whose file hashes (`SHA1`, `SHA256`, `MD5`) or initiating-process hashes
  (`InitiatingProcessSHA1`, `InitiatingProcessSHA256`, `InitiatingProcessMD5`) name the file.
  Every event of a known file carries all three of its hashes, so matching any one column
  finds the same rows. Initiating-process columns of the network, logon and registry tables do
  not count.
- **ips**: `DeviceNetworkEvents.RemoteIP` (compared in canonical form: `normalize_ip`).
- **domains**: the host of `DeviceNetworkEvents.RemoteUrl` (a bare FQDN or a full URL; lower-case,
  no port, no trailing dot: `host_of`). A host counts only for itself, not for its parents.

Prevalence is the number of distinct `DeviceId`; first and last seen are the min and max
`Timestamp`, over rows with ``now - lookback <= Timestamp <= now``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from urllib.parse import urlsplit

FAMILIES = ("files", "ips", "domains")
FILE_TABLES = ("DeviceFileEvents", "DeviceProcessEvents", "DeviceImageLoadEvents", "DeviceEvents")
FILE_HASH_COLUMNS = (
    ("SHA1", "SHA256", "MD5"),
    ("InitiatingProcessSHA1", "InitiatingProcessSHA256", "InitiatingProcessMD5"),
)
IP_COLUMN = ("DeviceNetworkEvents", "RemoteIP")
DOMAIN_COLUMN = ("DeviceNetworkEvents", "RemoteUrl")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@lru_cache(maxsize=65536)
def normalize_ip(text: str) -> str | None:
    """The canonical form of an IPv4/IPv6 address, or None when `text` is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def normalize_domain(text: str) -> str | None:
    """Lower-case host name without trailing dot, or None when `text` is not a valid DNS host name."""
    host = text.strip().lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253 or "." not in host:
        return None
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return host


@lru_cache(maxsize=65536)
def host_of(remote_url: str) -> str:
    """The lower-case host of a RemoteUrl value (a bare FQDN or a URL), without port or trailing dot."""
    if not remote_url:
        return ""
    if "://" not in remote_url:
        remote_url = "//" + remote_url
    try:
        host = urlsplit(remote_url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


@lru_cache(maxsize=65536)
def ip_type(text: str) -> str:
    """MDE's RemoteIPType/LocalIPType wording for an address ("" when `text` is not one)."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return ""
    if ip.is_loopback:
        return "Loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo:
            return "Teredo"
        if ip.ipv4_mapped:
            return "FourToSixMapping"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "Broadcast"
    if ip.is_private and not ip.is_reserved:
        return "Private"
    if ip.is_reserved or ip.is_multicast or ip.is_link_local or ip.is_unspecified:
        return "Reserved"
    return "Public"


def entity_keys(
    table: str, row: Mapping[str, object], file_id: Callable[[str], str | None]
) -> set[tuple[str, str]]:
    """The (family, key) pairs a row counts for; files are keyed by `file_id(hash)` (None: unknown)."""
    keys: set[tuple[str, str]] = set()
    if table in FILE_TABLES:
        for group in FILE_HASH_COLUMNS:
            for column in group:
                value = row.get(column)
                if value and isinstance(value, str):
                    found = file_id(value.lower())
                    if found:
                        keys.add(("files", found))
                        break
    if table == IP_COLUMN[0]:
        raw = row.get(IP_COLUMN[1])
        ip = normalize_ip(raw) if isinstance(raw, str) and raw else None
        if ip:
            keys.add(("ips", ip))
    if table == DOMAIN_COLUMN[0]:
        raw = row.get(DOMAIN_COLUMN[1])
        host = normalize_domain(host_of(raw)) if isinstance(raw, str) and raw else None
        if host:
            keys.add(("domains", host))
    return keys
