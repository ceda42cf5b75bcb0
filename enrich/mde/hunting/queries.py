"""The KQL each family's chunk is asked with, and how its result rows map back to the values asked.

Every query summarises per value over the lookback: `Devices = dcount(DeviceId)`, `Events =
count()`, `FirstSeen = min(Timestamp)`, `LastSeen = max(Timestamp)` and, when device names are
wanted, `DeviceNames = make_set(DeviceName, N)`, by `Value`. Values enter a query only as string
literals inside `dynamic([...])` (literals.py). The exact semantics per family are in
docs/hunting.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from enrich.indicators.hosts import url_host
from enrich.mde.hunting.literals import dynamic_list, kql_string

# The hash columns of the four event tables, per hash length, with their initiating-process twins.
_HASH_COLUMNS = {
    32: ("MD5", "InitiatingProcessMD5"),
    40: ("SHA1", "InitiatingProcessSHA1"),
    64: ("SHA256", "InitiatingProcessSHA256"),
}
FILE_TABLES = ("DeviceFileEvents", "DeviceProcessEvents", "DeviceImageLoadEvents", "DeviceEvents")
# scheme:// (optional), then the authority: what a URL's key lower-cases (RE2 and Python alike).
HEAD_PATTERN = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?[^/?#]*"
# The host of a RemoteUrl, bare FQDN or URL: after an optional scheme:// and user info, up to / ? # :.
HOST_PATTERN = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#@]*@)?([^/?#:]*)"
TRAILING_DOT = r"\."  # what trim_end takes off the end of a host (a fully qualified name's dot)
_HEAD = re.compile(HEAD_PATTERN)
MAPPED_PREFIX = "::ffff:"  # an IPv4 address as an IPv4-mapped IPv6 address, as RemoteIP may show it


def _verbatim(pattern: str) -> str:
    """A regular expression as a KQL verbatim string (@"..."); the patterns here hold no double quote."""
    assert '"' not in pattern and "\n" not in pattern
    return '@"' + pattern + '"'


def _summary(max_devices: int) -> str:
    names = f", DeviceNames = make_set(DeviceName, {int(max_devices)})" if max_devices > 0 else ""
    return (
        "| summarize Devices = dcount(DeviceId), Events = count(), FirstSeen = min(Timestamp), "
        f"LastSeen = max(Timestamp){names} by Value"
    )


def url_key(url: str) -> str:
    """The form a URL is compared in: scheme and authority lower-cased, the rest exact, an empty path as "/"."""
    head = _HEAD.match(url)
    end = head.end() if head else 0
    rest = url[end:]
    return url[:end].lower() + ("" if rest.startswith("/") else "/") + rest


def files_query(values: Sequence[str], lookback_hours: int, max_devices: int) -> str:
    """Hashes (any mix of MD5, SHA-1, SHA-256) in the file and initiating-process hash columns of four tables."""
    pairs = [_HASH_COLUMNS[n] for n in sorted({len(v) for v in values})]
    matched = " or ".join(f"{own} in (hashes) or {parent} in (hashes)" for own, parent in pairs)
    # An event whose initiating process carries the same hash as the file counts once.
    cells = ", ".join(
        [own for own, _ in pairs] + [f'iff({parent} == {own}, "", {parent})' for own, parent in pairs]
    )
    return "\n".join(
        [
            f"let hashes = {dynamic_list(values)};",
            "union " + ", ".join(FILE_TABLES),
            f"| where Timestamp > ago({int(lookback_hours)}h)",
            f"| where {matched}",
            f"| extend Value = pack_array({cells})",
            "| mv-expand Value to typeof(string)",
            "| where Value in (hashes)",
            _summary(max_devices),
        ]
    )


def ips_query(values: Sequence[str], lookback_hours: int, max_devices: int) -> str:
    """IP addresses as `DeviceNetworkEvents.RemoteIP`; an IPv4 address also as MDE's IPv4-mapped `::ffff:a.b.c.d`."""
    mapped = [MAPPED_PREFIX + v for v in values if "." in v]
    lines = [
        f"let ips = {dynamic_list([*values, *mapped])};",
        "DeviceNetworkEvents",
        f"| where Timestamp > ago({int(lookback_hours)}h)",
        "| where RemoteIP in (ips)",
    ]
    if mapped:
        lines.append(
            f'| extend Value = iff(RemoteIP startswith "{MAPPED_PREFIX}" and RemoteIP contains ".", '
            f"substring(RemoteIP, {len(MAPPED_PREFIX)}), RemoteIP)"
        )
        lines.append(_summary(max_devices))
    else:
        lines.append(_summary(max_devices).replace("by Value", "by Value = RemoteIP"))
    return "\n".join(lines)


def domains_query(values: Sequence[str], lookback_hours: int, max_devices: int) -> str:
    """Host names as the exact host of `DeviceNetworkEvents.RemoteUrl` (a bare FQDN or a URL's host)."""
    return "\n".join(
        [
            f"let hosts = {dynamic_list(values)};",
            "DeviceNetworkEvents",
            f"| where Timestamp > ago({int(lookback_hours)}h)",
            "| where RemoteUrl has_any (hosts)",
            # the host, in lower case, without the trailing dot of a fully qualified name
            f"| extend Value = trim_end({_verbatim(TRAILING_DOT)}, "
            f"tolower(extract({_verbatim(HOST_PATTERN)}, 1, RemoteUrl)))",
            "| where Value in (hosts)",
            _summary(max_devices),
        ]
    )


def urls_query(values: Sequence[str], lookback_hours: int, max_devices: int) -> str:
    """Full URLs in `DeviceNetworkEvents.RemoteUrl` and `DeviceFileEvents.FileOriginUrl` (see `url_key`)."""
    keys = list(dict.fromkeys(url_key(v) for v in values))
    hosts = list(dict.fromkeys(url_host(v) for v in values))
    since = f"| where Timestamp > ago({int(lookback_hours)}h)"
    legs = [
        f"(DeviceNetworkEvents {since} | where RemoteUrl has_any (hosts) "
        "| project Timestamp, DeviceId, DeviceName, Url = RemoteUrl)",
        f"(DeviceFileEvents {since} | where FileOriginUrl has_any (hosts) "
        "| project Timestamp, DeviceId, DeviceName, Url = FileOriginUrl)",
    ]
    return "\n".join(
        [
            f"let urls = {dynamic_list(keys)};",
            f"let hosts = {dynamic_list(hosts)};",
            "union " + ",\n  ".join(legs),
            f"| extend Head = extract({_verbatim(HEAD_PATTERN)}, 0, Url)",
            "| extend Rest = substring(Url, strlen(Head))",
            '| extend Key = strcat(tolower(Head), iff(Rest startswith "/", "", "/"), Rest)',
            # RemoteUrl may leave the scheme out: such a row counts for the http and https URL.
            '| extend Value = iff(Head contains "://", pack_array(Key), '
            'pack_array(strcat("http://", Key), strcat("https://", Key)))',
            "| mv-expand Value to typeof(string)",
            "| where Value in (urls)",
            _summary(max_devices),
        ]
    )


@dataclass(frozen=True)
class QueryPlan:
    """One chunk's query and how a result row's `Value` maps to the values asked."""

    text: str
    owners: dict[str, tuple[str, ...]]  # a row's Value -> the values it answers


_BUILDERS = {"files": files_query, "ips": ips_query, "domains": domains_query, "urls": urls_query}


def build(family: str, values: Sequence[str], lookback_hours: int, max_devices: int) -> QueryPlan:
    """The query of one chunk of (canonical) `values` of `family`."""
    text = _BUILDERS[family](values, lookback_hours, max_devices)
    owners: dict[str, tuple[str, ...]] = {}
    for value in values:
        key = url_key(value) if family == "urls" else value
        owners[key] = (*owners.get(key, ()), value)
    return QueryPlan(text, owners)


def literal_cost(family: str, value: str) -> int:
    """Characters `value` adds to its family's query text (its literals and separators)."""
    if family == "urls":
        return len(kql_string(url_key(value))) + len(kql_string(url_host(value))) + 4
    if family == "ips" and "." in value:
        return len(kql_string(value)) + len(kql_string(MAPPED_PREFIX + value)) + 4
    return len(kql_string(value)) + 2
