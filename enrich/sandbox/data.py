"""The sandbox dataset: devices, files, hunting tables and the indexes the entity APIs answer from.

Every event is added through `Dataset.add_file_event` / `add_network_event`, which write the
hunting-table row and the index entry together, so the entity statistics and what a hunting
query counts can never disagree. Times are kept as integer ticks (100 ns since the Unix epoch),
the resolution MDE serialises ("2017-09-19T03:51:27.6785431Z").
"""

from __future__ import annotations

import calendar
import datetime as dt
import ipaddress
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TICKS_PER_SECOND = 10_000_000
TICKS_PER_HOUR = 3600 * TICKS_PER_SECOND
MAX_LOOKBACK_HOURS = 720
FAMILIES = ("files", "ips", "domains")

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def ticks_now() -> int:
    """The current time in ticks."""
    return time.time_ns() // 100


def format_ticks(ticks: int, *, trim: bool = True) -> str:
    """ISO 8601 UTC with a 7-digit fraction; `trim` drops trailing zeros like .NET does."""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:07d}"
    if trim:
        digits = digits.rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def parse_ticks(text: str) -> int:
    """Parse an ISO 8601 timestamp (any fraction length, Z or offset; naive means UTC) into ticks."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "").ljust(7, "0")[:7]
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    tz = m.group(8)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        seconds -= sign * (hh * 3600 + mm * 60)
    return seconds * TICKS_PER_SECOND + int(frac)


def normalize_ip(text: str) -> str | None:
    """The canonical form of an IPv4/IPv6 address, or None when `text` is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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


def host_of(remote_url: str) -> str:
    """The host of a DeviceNetworkEvents.RemoteUrl value (a bare FQDN or a URL)."""
    if not remote_url:
        return ""
    if "://" not in remote_url:
        remote_url = "//" + remote_url
    try:
        host = urlsplit(remote_url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


@dataclass
class Device:
    """One onboarded machine."""

    id: str
    name: str
    local_ip: str
    external_ip: str
    os_platform: str
    os_build: int
    version: str
    aad_device_id: str
    first_seen: int
    last_seen: int
    risk: str = "Low"
    rbac_group: str = "UnassignedGroup"
    tags: tuple[str, ...] = ()

    def entity(self) -> dict:
        """The Machine entity as `/api/machines` returns it."""
        return {
            "id": self.id,
            "computerDnsName": self.name,
            "firstSeen": format_ticks(self.first_seen),
            "lastSeen": format_ticks(self.last_seen),
            "osPlatform": self.os_platform,
            "osVersion": None,
            "osProcessor": "x64",
            "version": self.version,
            "lastIpAddress": self.local_ip,
            "lastExternalIpAddress": self.external_ip,
            "agentVersion": "10.8760.19041.4355",
            "osBuild": self.os_build,
            "healthStatus": "Active",
            "deviceValue": "Normal",
            "rbacGroupId": 0,
            "rbacGroupName": self.rbac_group,
            "riskScore": self.risk,
            "exposureLevel": "Low",
            "isAadJoined": True,
            "aadDeviceId": self.aad_device_id,
            "machineTags": list(self.tags),
            "onboardingStatus": "Onboarded",
            "osArchitecture": "64-bit",
            "managedBy": "MicrosoftDefenderForEndpoint",
            "isPotentialDuplication": False,
            "isExcluded": False,
            "exclusionReason": None,
            "mergedIntoMachineId": None,
            "ipAddresses": [
                {"ipAddress": self.local_ip, "macAddress": self.id[:12].upper(), "operationalStatus": "Up"}
            ],
        }


@dataclass
class FileInfo:
    """What MDE knows about one file (global profile, independent of this organisation)."""

    sha1: str
    sha256: str
    md5: str
    name: str
    folder: str
    size: int | None = None
    file_type: str | None = None
    is_pe: bool = True
    publisher: str | None = None
    product: str | None = None
    signer: str | None = None
    issuer: str | None = None
    signer_hash: str | None = None
    valid_cert: bool | None = None
    determination_type: str = "Unknown"
    determination_value: str | None = None
    global_prevalence: int = 0
    global_first: int = 0
    global_last: int = 0
    names: list[str] = field(default_factory=list)

    def entity(self) -> dict:
        """The File entity fields of `/api/files/{id}` (without @odata.context)."""
        return {
            "sha1": self.sha1,
            "sha256": self.sha256,
            "md5": self.md5,
            "globalPrevalence": self.global_prevalence,
            "globalFirstObserved": format_ticks(self.global_first),
            "globalLastObserved": format_ticks(self.global_last),
            "size": self.size,
            "fileType": self.file_type,
            "isPeFile": self.is_pe,
            "filePublisher": self.publisher,
            "fileProductName": self.product,
            "signer": self.signer,
            "issuer": self.issuer,
            "signerHash": self.signer_hash,
            "isValidCertificate": self.valid_cert,
            "determinationType": self.determination_type,
            "determinationValue": self.determination_value,
        }


class Dataset:
    """Devices, files, alerts and the three hunting tables, with indexes for the entity APIs."""

    def __init__(self, now: int) -> None:
        self.now = now  # ticks; the data clock is frozen at build time
        self.devices: list[Device] = []
        self.files: dict[str, FileInfo] = {}  # by sha1
        self._by_hash: dict[str, FileInfo] = {}  # sha1, sha256 and md5 -> file
        self.alerts: list[dict] = []
        self.tables: dict[str, list[dict]] = {
            "DeviceFileEvents": [],
            "DeviceProcessEvents": [],
            "DeviceNetworkEvents": [],
        }
        self._ticks: dict[str, list[int]] = {name: [] for name in self.tables}
        # (family, key) -> [(ticks, device id)]; files are keyed by sha1
        self._sightings: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        self._alerts_by: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self._device_by_id: dict[str, Device] = {}
        # indicators taken from sample files / fixtures: (family, key) -> chosen to be seen
        self.planted: dict[tuple[str, str], bool] = {}

    # --- building ---------------------------------------------------------------------------

    def add_device(self, device: Device) -> None:
        self.devices.append(device)
        self._device_by_id[device.id] = device

    def add_file(self, info: FileInfo) -> FileInfo:
        """Register a file (idempotent on sha1); returns the registered object."""
        existing = self.files.get(info.sha1)
        if existing:
            return existing
        if not info.names:
            info.names = [info.name]
        self.files[info.sha1] = info
        for h in (info.sha1, info.sha256, info.md5):
            if h:
                self._by_hash.setdefault(h, info)
        return info

    def add_file_event(
        self,
        table: str,
        ticks: int,
        device: Device,
        info: FileInfo,
        action: str,
        initiating: str,
        command_line: str = "",
    ) -> None:
        """One DeviceFileEvents or DeviceProcessEvents row for `info` on `device`."""
        row = {
            "Timestamp": format_ticks(ticks, trim=False),
            "DeviceId": device.id,
            "DeviceName": device.name,
            "ActionType": action,
            "FileName": info.name,
            "FolderPath": f"{info.folder}\\{info.name}",
            "SHA1": info.sha1,
            "SHA256": info.sha256,
            "MD5": info.md5,
        }
        if table == "DeviceProcessEvents":
            row["ProcessCommandLine"] = command_line or info.name
        row["InitiatingProcessFileName"] = initiating
        self.tables[table].append(row)
        self._ticks[table].append(ticks)
        self._sightings[("files", info.sha1)].append((ticks, device.id))

    def add_network_event(
        self,
        ticks: int,
        device: Device,
        remote_ip: str,
        remote_url: str,
        port: int,
        action: str,
        initiating: FileInfo,
        protocol: str = "Tcp",
    ) -> None:
        """One DeviceNetworkEvents row; indexes RemoteIP and the host of RemoteUrl."""
        self.tables["DeviceNetworkEvents"].append(
            {
                "Timestamp": format_ticks(ticks, trim=False),
                "DeviceId": device.id,
                "DeviceName": device.name,
                "ActionType": action,
                "RemoteIP": remote_ip,
                "RemotePort": port,
                "RemoteUrl": remote_url,
                "LocalIP": device.local_ip,
                "Protocol": protocol,
                "InitiatingProcessFileName": initiating.name,
                "InitiatingProcessSHA1": initiating.sha1,
            }
        )
        self._ticks["DeviceNetworkEvents"].append(ticks)
        ip = normalize_ip(remote_ip) if remote_ip else None
        if ip:
            self._sightings[("ips", ip)].append((ticks, device.id))
        host = host_of(remote_url)
        if host:
            self._sightings[("domains", host)].append((ticks, device.id))

    def add_alert(self, alert: dict, keys: list[tuple[str, str]]) -> None:
        self.alerts.append(alert)
        for key in keys:
            self._alerts_by[key].append(alert)

    def finish(self) -> None:
        """Sort tables by time and align their columns with the hunting schema (when present)."""
        try:
            from enrich.sandbox.schema import TABLES
        except ImportError:  # pragma: no cover - schema module ships with the package
            TABLES = {}
        for name in list(self.tables):
            order = sorted(range(len(self.tables[name])), key=self._ticks[name].__getitem__)
            rows = [self.tables[name][i] for i in order]
            self._ticks[name] = [self._ticks[name][i] for i in order]
            columns = TABLES.get(name)
            if columns:
                defaults = {col: _default_for(kql) for col, kql in columns}
                rows = [{col: row.get(col, defaults[col]) for col, _ in columns} for row in rows]
            self.tables[name] = rows
        for sightings in self._sightings.values():
            sightings.sort()
        latest: dict[str, int] = {}
        for sightings in self._sightings.values():
            for t, d in sightings:
                if t > latest.get(d, 0):
                    latest[d] = t
        for dev in self.devices:
            dev.last_seen = max(dev.last_seen, latest.get(dev.id, 0))

    # --- reading ----------------------------------------------------------------------------

    def now_datetime(self) -> dt.datetime:
        """The data clock as an aware datetime (what hunting's now() and ago() use)."""
        seconds, frac = divmod(self.now, TICKS_PER_SECOND)
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=frac // 10)

    def find_file(self, file_hash: str) -> FileInfo | None:
        """The file with this SHA-1, SHA-256 or MD5 (lower-case hex), if MDE knows it."""
        return self._by_hash.get(file_hash.lower())

    def device(self, device_id: str) -> Device | None:
        return self._device_by_id.get(device_id)

    def _key(self, family: str, key: str) -> tuple[str, str] | None:
        if family == "files":
            info = self.find_file(key)
            return ("files", info.sha1) if info else None
        if family == "ips":
            ip = normalize_ip(key)
            return ("ips", ip) if ip else None
        if family == "domains":
            host = normalize_domain(key)
            return ("domains", host) if host else None
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")

    def sightings(
        self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS
    ) -> list[tuple[int, str]]:
        """(ticks, device id) of the indicator's events within the window."""
        k = self._key(family, key)
        if k is None:
            return []
        cutoff = self.now - lookback_hours * TICKS_PER_HOUR
        return [(t, d) for t, d in self._sightings.get(k, ()) if cutoff <= t <= self.now]

    def stats(
        self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS
    ) -> tuple[int, int | None, int | None]:
        """(distinct devices, first ticks, last ticks) within the lookback window."""
        hits = self.sightings(family, key, lookback_hours)
        if not hits:
            return 0, None, None
        return len({d for _, d in hits}), hits[0][0], hits[-1][0]

    def devices_for(self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS) -> list[Device]:
        """Devices that saw the indicator within the window, most recent first."""
        latest: dict[str, int] = {}
        for t, d in self.sightings(family, key, lookback_hours):
            latest[d] = max(t, latest.get(d, t))
        ids = sorted(latest, key=latest.__getitem__, reverse=True)
        return [self._device_by_id[d] for d in ids]

    def alerts_for(self, family: str, key: str) -> list[dict]:
        k = self._key(family, key)
        return list(self._alerts_by.get(k, ())) if k else []

    def truth(self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS) -> dict | None:
        """What the stats API answers: None for an unknown file (404); prevalence 0 otherwise."""
        if family == "files" and self.find_file(key) is None:
            return None
        prevalence, first, last = self.stats(family, key, lookback_hours)
        return {
            "prevalence": prevalence,
            "first_seen": format_ticks(first) if first is not None else None,
            "last_seen": format_ticks(last) if last is not None else None,
        }

    def seen_keys(
        self, family: str | None = None, lookback_hours: int = MAX_LOOKBACK_HOURS
    ) -> list[tuple[str, str]]:
        """(family, key) pairs with prevalence > 0 in the window, sorted; files by SHA-1."""
        out = []
        for fam, key in self._sightings:
            if family and fam != family:
                continue
            if self.stats(fam, key, lookback_hours)[0] > 0:
                out.append((fam, key))
        return sorted(out)

    def unseen_keys(self, family: str | None = None) -> list[tuple[str, str]]:
        """Planted indicators (sample files, fixtures) that the API reports as not seen."""
        out = []
        for fam, key in self.planted:
            if family and fam != family:
                continue
            if self.stats(fam, key)[0] == 0:
                out.append((fam, key))
        return sorted(out)

    def summary(self) -> dict:
        """Counts for logs and the stats endpoint."""
        return {
            "devices": len(self.devices),
            "files": len(self.files),
            "alerts": len(self.alerts),
            "events": {name: len(rows) for name, rows in self.tables.items()},
            "seen": {fam: len(self.seen_keys(fam)) for fam in FAMILIES},
            "now": format_ticks(self.now),
        }


def _default_for(kql_type: str) -> object:
    return "" if kql_type.lower() == "string" else None
