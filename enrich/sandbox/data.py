"""The sandbox dataset: devices, files, the hunting tables and the indexes the entity APIs answer from.

Every row goes through `Dataset.add_row`, which stores the row and indexes it with
`tables.counting.entity_keys` (the one rule for what counts), so the entity statistics follow
from the rows and a hunting query over the same rows and lookback counts the same devices and
times. Times are integer ticks (100 ns since the Unix epoch), the resolution MDE serialises
("2017-09-19T03:51:27.6785431Z").

The data clock (`Dataset.now`) is frozen while a dataset is built, so rebuilding from a seed
gives the same rows, and runs with real time from `finish()` on: event times stay where they were
planted while "now" advances, so a long-running sandbox still answers "the last 30 days" as
MDE does. `time_scale` (default 1) makes the clock run faster, as the quota windows do.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from enrich.sandbox.tables import LAYOUTS, Row
from enrich.sandbox.tables.counting import (
    FAMILIES,
    entity_keys,
    host_of,
    ip_type,
    normalize_domain,
    normalize_ip,
)
from enrich.sandbox.tables.fill import (
    ACCOUNT_DOMAIN,
    device_columns,
    file_columns,
    initiating_columns,
    local_network_columns,
    stable,
    user_sid,
)

__all__ = [
    "FAMILIES",
    "MAX_LOOKBACK_HOURS",
    "TICKS_PER_HOUR",
    "TICKS_PER_SECOND",
    "Dataset",
    "Device",
    "FileInfo",
    "format_ticks",
    "host_of",
    "normalize_domain",
    "normalize_ip",
    "parse_ticks",
    "ticks_now",
]

TICKS_PER_SECOND = 10_000_000
TICKS_PER_HOUR = 3600 * TICKS_PER_SECOND
MAX_LOOKBACK_HOURS = 720

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


def _iso(ticks: int) -> str:
    return format_ticks(ticks, trim=False)


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
    user: str = "alice"  # the account that usually signs in

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

    def hashes(self) -> tuple[str, str, str]:
        """(SHA-1, SHA-256, MD5)."""
        return self.sha1, self.sha256, self.md5

    def profile(self) -> dict[str, object]:
        """The columns `invoke FileProfile()` adds for this file (see tables.FILE_PROFILE)."""
        signed = bool(self.signer)
        return {
            "SHA1": self.sha1,
            "SHA256": self.sha256,
            "MD5": self.md5,
            "FileSize": self.size,
            "GlobalPrevalence": self.global_prevalence,
            "GlobalFirstSeen": _iso(self.global_first) if self.global_first else None,
            "GlobalLastSeen": _iso(self.global_last) if self.global_last else None,
            "Signer": self.signer or "",
            "Issuer": self.issuer or "",
            "SignerHash": self.signer_hash or "",
            "IsCertificateValid": self.valid_cert if signed else None,
            "IsRootSignerMicrosoft": signed and (self.issuer or "").startswith("Microsoft"),
            "SignatureState": ("SignedValid" if self.valid_cert else "SignedInvalid")
            if signed
            else "Unsigned",
            "IsExecutable": self.is_pe,
            "ThreatName": self.determination_value or "",
            "Publisher": self.publisher or "",
            "SoftwareName": self.product or "",
            "ProfileAvailability": "Available",
        }


class Dataset:
    """Devices, files, alerts and the hunting tables, with the entity index that follows from the rows."""

    def __init__(self, now: int, time_scale: float = 1.0) -> None:
        self._anchor = now  # the data time when the clock was last (re)started or frozen
        self._wall: int | None = None  # the wall time then; None while frozen
        self.time_scale = time_scale
        self.start = now  # data time at build: planted relative times ("36h ago") count from here
        self.devices: list[Device] = []
        self.files: dict[str, FileInfo] = {}  # by sha1
        self._by_hash: dict[str, FileInfo] = {}  # sha1, sha256 and md5 -> file
        self._by_name: dict[str, FileInfo] = {}  # process image name -> file (first registered)
        self.alerts: list[dict] = []
        self.tables: dict[str, list[Row]] = {name: [] for name in LAYOUTS}
        self._ticks: dict[str, list[int]] = {name: [] for name in LAYOUTS}
        # (family, key) -> [(ticks, device id)]; files are keyed by sha1
        self._sightings: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        self._alerts_by: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self._device_by_id: dict[str, Device] = {}
        self._report_id = 0
        self._device_last: dict[str, int] = {}  # device id -> its latest row (any table)
        # indicators taken from sample files / fixtures: (family, key) -> chosen to be seen
        self.planted: dict[tuple[str, str], bool] = {}

    # --- the data clock ---------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The data clock in ticks: frozen while building, real (scaled) time after `finish`."""
        if self._wall is None:
            return self._anchor
        return self._anchor + int((ticks_now() - self._wall) * self.time_scale)

    @now.setter
    def now(self, ticks: int) -> None:
        self._anchor = ticks
        if self._wall is not None:
            self._wall = ticks_now()

    def run_clock(self) -> None:
        """Let the data clock advance with real time (scaled by `time_scale`) from its current value."""
        self._anchor, self._wall = self.now, ticks_now()

    def freeze_clock(self, at: int | None = None) -> None:
        """Stop the data clock (at `at`, or where it is now): answers stop moving, for exact comparisons."""
        self._anchor, self._wall = (self.now if at is None else at), None

    def now_datetime(self) -> dt.datetime:
        """The data clock as an aware datetime (what hunting's now() and ago() use)."""
        seconds, frac = divmod(self.now, TICKS_PER_SECOND)
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=frac // 10)

    # --- building ---------------------------------------------------------------------------

    def add_device(self, device: Device) -> None:
        self.devices.append(device)
        self._device_by_id[device.id] = device

    def add_file(self, info: FileInfo) -> FileInfo:
        """Register a file (idempotent on any of its hashes); returns the registered object.

        A file whose SHA-1, SHA-256 or MD5 is already known is that file: the known object is
        returned, so one file keeps one identity.
        """
        for h in info.hashes():
            existing = self._by_hash.get(h) if h else None
            if existing:
                return existing
        if not info.names:
            info.names = [info.name]
        self.files[info.sha1] = info
        for h in info.hashes():
            if h:
                self._by_hash[h] = info
        self._by_name.setdefault(info.name.lower(), info)
        return info

    def _file_id(self, file_hash: str) -> str | None:
        info = self._by_hash.get(file_hash)
        return info.sha1 if info else None

    def add_row(
        self,
        table: str,
        ticks: int,
        values: Mapping[str, object],
        extra: Mapping[str, object] | None = None,
    ) -> Row:
        """Store one row of `table` at `ticks` and index it for the entity statistics.

        `values` must name columns of the table; `extra` (shared column groups such as the
        InitiatingProcess* columns) is kept only where the table has the column.
        """
        layout = LAYOUTS[table]
        fixed: dict[str, object] = {"Timestamp": _iso(ticks)}
        if "ReportId" in layout.index and values.get("ReportId") is None:
            fixed["ReportId"] = self._next_report_id()
        row = layout.row({**values, **fixed}, extra)
        self.tables[table].append(row)
        self._ticks[table].append(ticks)
        device_id = row.get("DeviceId")
        if isinstance(device_id, str) and device_id:
            if table.startswith("Device") and ticks > self._device_last.get(device_id, 0):
                self._device_last[device_id] = ticks  # a device's own report (not alert evidence)
            for key in entity_keys(table, row, self._file_id):
                self._sightings[key].append((ticks, device_id))
        return row

    def _next_report_id(self) -> int:
        self._report_id += 1
        return self._report_id

    def _process(self, initiating: FileInfo | str) -> FileInfo | None:
        if isinstance(initiating, FileInfo):
            return initiating
        return self._by_name.get(initiating.lower()) if initiating else None

    def _actor(
        self,
        device: Device,
        initiating: FileInfo | str,
        ticks: int,
        parent: str = "explorer.exe",
        command_line: str = "",
    ) -> dict[str, object]:
        """The InitiatingProcess* columns for `initiating` (a registered process or just a name)."""
        proc = self._process(initiating)
        if proc is None:
            return {"InitiatingProcessFileName": str(initiating)}
        return initiating_columns(proc, device, ticks, parent, command_line)

    def add_file_event(
        self,
        table: str,
        ticks: int,
        device: Device,
        info: FileInfo,
        action: str,
        initiating: FileInfo | str,
        command_line: str = "",
        *,
        origin_url: str = "",
        origin_ip: str = "",
    ) -> Row:
        """One event about file `info` on `device` (DeviceFileEvents, DeviceProcessEvents,
        DeviceImageLoadEvents or DeviceEvents), started by process `initiating`."""
        report_id = self._next_report_id()
        values: dict[str, object] = {**device_columns(device, report_id), "ActionType": action}
        target = file_columns(info)
        values.update({k: v for k, v in target.items() if k in LAYOUTS[table].index})
        if table == "DeviceProcessEvents":
            values.update(
                ProcessCommandLine=command_line or info.name,
                ProcessId=1000 + (report_id * 7919) % 60000,
                ProcessCreationTime=_iso(ticks),
                ProcessIntegrityLevel="Medium",
                ProcessTokenElevation="TokenElevationTypeDefault",
                AccountDomain=ACCOUNT_DOMAIN,
                AccountName=device.user,
                AccountSid=user_sid(device.user),
            )
        if table == "DeviceFileEvents":
            values.update(FileOriginUrl=origin_url, FileOriginIP=origin_ip)
            if origin_url:
                values["FileOriginReferrerUrl"] = origin_url.split("?", 1)[0].rsplit("/", 1)[0] + "/"
                values["RequestProtocol"] = "Local"
        extra = self._actor(device, initiating, ticks)
        return self.add_row(table, ticks, values, extra)

    def add_network_event(
        self,
        ticks: int,
        device: Device,
        remote_ip: str,
        remote_url: str,
        port: int,
        action: str,
        initiating: FileInfo | str,
        protocol: str = "Tcp",
    ) -> Row:
        """One DeviceNetworkEvents row (RemoteUrl a bare host or a full URL)."""
        report_id = self._next_report_id()
        values: dict[str, object] = {
            **device_columns(device, report_id),
            **local_network_columns(device, remote_ip, report_id),
            "ActionType": action,
            "RemoteIP": remote_ip,
            "RemotePort": port,
            "RemoteUrl": remote_url,
            "Protocol": protocol,
        }
        return self.add_row("DeviceNetworkEvents", ticks, values, self._actor(device, initiating, ticks))

    def add_logon_event(
        self,
        ticks: int,
        device: Device,
        action: str,
        logon_type: str,
        account_name: str,
        *,
        remote_ip: str = "",
        remote_device: str = "",
        failure: str = "",
        initiating: FileInfo | str = "",
    ) -> Row:
        """One DeviceLogonEvents row for `account_name` (domain `contoso`) on `device`."""
        report_id = self._next_report_id()
        values: dict[str, object] = {
            **device_columns(device, report_id),
            "ActionType": action,
            "LogonType": logon_type,
            "AccountDomain": ACCOUNT_DOMAIN,
            "AccountName": account_name,
            "AccountSid": user_sid(account_name),
            "Protocol": "Kerberos" if logon_type in ("Interactive", "RemoteInteractive") else "NTLM",
            "FailureReason": failure,
            "IsLocalAdmin": account_name == device.user and logon_type == "Interactive",
            "LogonId": 0x10000 + stable("logon", device.id, report_id) % 0xFFFFF,
            "RemoteDeviceName": remote_device,
            "RemoteIP": remote_ip,
            "RemoteIPType": ip_type(remote_ip) if remote_ip else "",
            "RemotePort": 49152 + report_id % 16000 if remote_ip else None,
        }
        extra = self._actor(device, initiating, ticks, parent="wininit.exe") if initiating else {}
        return self.add_row("DeviceLogonEvents", ticks, values, extra)

    def add_registry_event(
        self,
        ticks: int,
        device: Device,
        action: str,
        key: str,
        value_name: str,
        value_data: str,
        initiating: FileInfo | str,
        value_type: str = "String",
    ) -> Row:
        """One DeviceRegistryEvents row (e.g. a Run key written by `initiating`)."""
        values: dict[str, object] = {
            **device_columns(device, self._next_report_id()),
            "ActionType": action,
            "RegistryKey": key,
            "RegistryValueType": value_type,
            "RegistryValueName": value_name,
            "RegistryValueData": value_data,
        }
        return self.add_row("DeviceRegistryEvents", ticks, values, self._actor(device, initiating, ticks))

    def add_heartbeat(self, ticks: int, device: Device) -> None:
        """A DeviceInfo and a DeviceNetworkInfo row for `device` at `ticks` (its periodic report)."""
        self.add_row(
            "DeviceInfo",
            ticks,
            {
                **device_columns(device, self._next_report_id()),
                "ClientVersion": "10.8760.19041.4355",
                "PublicIP": device.external_ip,
                "OSArchitecture": "64-bit",
                "OSPlatform": device.os_platform,
                "OSBuild": device.os_build,
                "IsAzureADJoined": True,
                "JoinType": "Hybrid Azure AD Join",
                "AadDeviceId": device.aad_device_id,
                "LoggedOnUsers": [
                    {"UserName": device.user, "DomainName": "CONTOSO", "Sid": user_sid(device.user)}
                ],
                "OSVersion": "10.0",
                "MachineGroup": device.rbac_group,
                "OnboardingStatus": "Onboarded",
                "DeviceCategory": "Endpoint",
                "DeviceType": "Server" if device.os_platform.startswith("WindowsServer") else "Workstation",
                "OSDistribution": "Windows",
                "OSVersionInfo": device.version,
                "IsInternetFacing": False,
                "SensorHealthState": "Active",
                "IsExcluded": False,
                "ExposureLevel": "Low",
                "AssetValue": "Normal",
                "DeviceManualTags": _json_list(device.tags),
                "DeviceDynamicTags": "[]",
                "ConnectivityType": "Streamlined",
            },
        )
        gateway = ".".join(device.local_ip.split(".")[:3] + ["1"])
        self.add_row(
            "DeviceNetworkInfo",
            ticks,
            {
                **device_columns(device, self._next_report_id()),
                "NetworkAdapterName": "Ethernet",
                "MacAddress": "-".join(device.id[i : i + 2].upper() for i in range(0, 12, 2)),
                "NetworkAdapterType": "Ethernet",
                "NetworkAdapterStatus": "Up",
                "TunnelType": "None",
                "ConnectedNetworks": [
                    {
                        "Name": "corp.contoso.com",
                        "Category": "Domain",
                        "Description": "corp.contoso.com",
                        "IsConnectedToInternet": True,
                    }
                ],
                "DnsAddresses": [gateway],
                "IPv4Dhcp": gateway,
                "DefaultGateways": [gateway],
                "IPAddresses": [{"IPAddress": device.local_ip, "SubnetPrefix": 24, "AddressType": "Private"}],
                "NetworkAdapterVendor": "Intel Corporation",
            },
        )

    def add_alert(self, alert: dict, keys: list[tuple[str, str]]) -> None:
        """An alert (the /api/alerts entity) with its AlertInfo row and one AlertEvidence row per entity."""
        self.alerts.append(alert)
        for key in keys:
            self._alerts_by[key].append(alert)
        ticks = parse_ticks(alert["alertCreationTime"])
        techniques = _json_list(alert.get("mitreTechniques") or ())
        common = {
            "AlertId": alert["id"],
            "Title": alert["title"],
            "ServiceSource": "Microsoft Defender for Endpoint",
            "DetectionSource": "EDR",
            "AttackTechniques": techniques,
        }
        severity = alert.get("severity") or ""
        self.add_row(
            "AlertInfo", ticks, {**common, "Category": alert.get("category") or "", "Severity": severity}
        )
        categories = _json_list([alert.get("category")] if alert.get("category") else [])
        evidence = {**common, "Categories": categories, "Severity": severity}
        device = self._device_by_id.get(alert.get("machineId") or "")
        if device is not None:
            self.add_row(
                "AlertEvidence",
                ticks,
                {
                    **evidence,
                    "EntityType": "Machine",
                    "EvidenceRole": "Impacted",
                    "DeviceId": device.id,
                    "DeviceName": device.name,
                    "LocalIP": device.local_ip,
                },
            )
        for item in alert.get("evidence") or ():
            kind = item.get("entityType")
            values: dict[str, object] = {**evidence, "EvidenceRole": "Related"}
            if device is not None:
                values.update(DeviceId=device.id, DeviceName=device.name)
            if kind == "File":
                info = self.find_file(item.get("sha1") or "")
                values.update(
                    EntityType="File",
                    EvidenceRole="Impacted",
                    FileName=item.get("fileName") or "",
                    FolderPath=f"{item.get('filePath') or ''}\\{item.get('fileName') or ''}",
                    SHA1=item.get("sha1") or "",
                    SHA256=item.get("sha256") or "",
                    FileSize=info.size if info else None,
                    ThreatFamily=alert.get("threatFamilyName") or "",
                )
            elif kind == "Ip":
                values.update(
                    EntityType="Ip", RemoteIP=item.get("ipAddress") or "", EvidenceDirection="Destination"
                )
            elif kind == "Url":
                values.update(
                    EntityType="Url", RemoteUrl=item.get("url") or "", EvidenceDirection="Destination"
                )
            else:
                continue
            self.add_row("AlertEvidence", ticks, values)

    def finish(self) -> None:
        """Sort tables and sightings by time, set devices' last seen, and start the data clock."""
        for name in list(self.tables):
            order = sorted(range(len(self.tables[name])), key=self._ticks[name].__getitem__)
            self.tables[name] = [self.tables[name][i] for i in order]
            self._ticks[name] = [self._ticks[name][i] for i in order]
        for sightings in self._sightings.values():
            sightings.sort()
        for dev in self.devices:  # /api/machines lastSeen: the device's latest report in any table
            dev.last_seen = max(dev.last_seen, self._device_last.get(dev.id, 0))
        self.run_clock()

    # --- reading ----------------------------------------------------------------------------

    def find_file(self, file_hash: str) -> FileInfo | None:
        """The file with this SHA-1, SHA-256 or MD5 (any case), if MDE knows it."""
        return self._by_hash.get(file_hash.strip().lower())

    def file_profile(self, file_hash: str) -> dict[str, object] | None:
        """FileProfile()'s columns for the file with this SHA-1, SHA-256 or MD5; None when unknown.

        The same file `/api/files/{hash}` answers for, whichever of its hashes is asked.
        """
        info = self.find_file(file_hash) if isinstance(file_hash, str) else None
        return info.profile() if info else None

    def device(self, device_id: str) -> Device | None:
        return self._device_by_id.get(device_id)

    def device_named(self, name: str) -> Device | None:
        """The device whose DeviceName (FQDN) is `name` (case-insensitive)."""
        low = name.strip().lower()
        return next((d for d in self.devices if d.name.lower() == low), None)

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
        self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS, *, now: int | None = None
    ) -> list[tuple[int, str]]:
        """(ticks, device id) of the indicator's events with ``now - lookback <= ticks <= now``."""
        k = self._key(family, key)
        if k is None:
            return []
        end = self.now if now is None else now
        cutoff = end - lookback_hours * TICKS_PER_HOUR
        return [(t, d) for t, d in self._sightings.get(k, ()) if cutoff <= t <= end]

    def stats(
        self, family: str, key: str, lookback_hours: int = MAX_LOOKBACK_HOURS, *, now: int | None = None
    ) -> tuple[int, int | None, int | None]:
        """(distinct devices, first ticks, last ticks) within the lookback window."""
        hits = self.sightings(family, key, lookback_hours, now=now)
        if not hits:
            return 0, None, None
        return len({d for _, d in hits}), min(t for t, _ in hits), max(t for t, _ in hits)

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


def _json_list(items) -> str:
    """A JSON array text (the form MDE's string-typed list columns hold)."""
    return json.dumps(list(items))
