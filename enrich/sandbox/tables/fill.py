"""The column values an event row takes from what it is about: its device, its file, its initiating process.

Pure functions of their arguments (process ids, creation times and SIDs derive from stable
hashes, not from a random source), so rebuilding a dataset from the same inputs gives the same rows.
Each returns a dict of column -> value; the caller keeps the columns its table has.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from enrich.sandbox.tables.counting import ip_type

if TYPE_CHECKING:  # pragma: no cover - typing only
    from enrich.sandbox.data import Device, FileInfo

TICKS_PER_SECOND = 10_000_000
ACCOUNT_DOMAIN = "contoso"
SYSTEM_PROCESSES = frozenset({"svchost.exe", "services.exe", "lsass.exe", "wininit.exe", "MsMpEng.exe"})


def stable(*parts: object) -> int:
    """A stable non-negative 32-bit number for `parts` (same inputs, same number, every run)."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


def user_sid(user: str) -> str:
    """A domain user's SID in the sandbox's one domain."""
    return f"S-1-5-21-1004336348-1177238915-682003330-{1100 + stable('sid', user) % 9000}"


def device_columns(device: Device, report_id: int) -> dict[str, object]:
    """DeviceId, DeviceName and ReportId: the columns every Device* row has besides Timestamp."""
    return {"DeviceId": device.id, "DeviceName": device.name, "ReportId": report_id}


def file_columns(info: FileInfo) -> dict[str, object]:
    """The target-file columns: name, full path, the three hashes, size, version info."""
    return {
        "FileName": info.name,
        "FolderPath": f"{info.folder}\\{info.name}",
        "SHA1": info.sha1,
        "SHA256": info.sha256,
        "MD5": info.md5,
        "FileSize": info.size,
        "ProcessVersionInfoCompanyName": info.publisher or "",
        "ProcessVersionInfoProductName": info.product or "",
        "ProcessVersionInfoOriginalFileName": info.name if info.is_pe else "",
        "ProcessVersionInfoFileDescription": info.product or "",
    }


def initiating_columns(
    proc: FileInfo, device: Device, ticks: int, parent: str = "explorer.exe", command_line: str = ""
) -> dict[str, object]:
    """The InitiatingProcess* columns for `proc` running on `device` at `ticks`."""
    from enrich.sandbox.data import format_ticks  # local: data imports this module's package

    pid = 1000 + stable(device.id, proc.sha1, ticks // (3600 * TICKS_PER_SECOND)) % 60000
    created = ticks - (1 + pid % 7200) * TICKS_PER_SECOND
    parent_created = created - (60 + stable("pc", device.id, parent) % 86400) * TICKS_PER_SECOND
    columns = dict(_process_columns(proc, device.id, device.user, parent))
    columns["InitiatingProcessId"] = pid
    columns["InitiatingProcessCreationTime"] = format_ticks(created, trim=False)
    columns["InitiatingProcessParentCreationTime"] = format_ticks(parent_created, trim=False)
    if command_line:
        columns["InitiatingProcessCommandLine"] = command_line
    return columns


_STATIC: dict[tuple[str, str, str, str, str], dict[str, object]] = {}


def _process_columns(proc: FileInfo, device_id: str, user: str, parent: str) -> dict[str, object]:
    """The columns of a process that do not change from one of its events to the next (memoised)."""
    key = (proc.sha1, proc.name, device_id, user, parent)
    found = _STATIC.get(key)
    if found is not None:
        return found
    if len(_STATIC) > 100_000:
        _STATIC.clear()
    system = proc.name in SYSTEM_PROCESSES
    domain, name, sid, upn = (
        ("nt authority", "system", "S-1-5-18", "")
        if system
        else (ACCOUNT_DOMAIN, user, user_sid(user), f"{user}@contoso.com")
    )
    signed = bool(proc.signer)
    microsoft = (proc.publisher or "").startswith("Microsoft")
    columns: dict[str, object] = {
        "InitiatingProcessSHA1": proc.sha1,
        "InitiatingProcessSHA256": proc.sha256,
        "InitiatingProcessMD5": proc.md5,
        "InitiatingProcessFileName": proc.name,
        "InitiatingProcessFileSize": proc.size,
        "InitiatingProcessFolderPath": f"{proc.folder}\\{proc.name}".lower(),
        "InitiatingProcessVersionInfoCompanyName": proc.publisher or "",
        "InitiatingProcessVersionInfoProductName": proc.product or "",
        "InitiatingProcessVersionInfoOriginalFileName": proc.name if proc.is_pe else "",
        "InitiatingProcessVersionInfoInternalFileName": proc.name.rsplit(".", 1)[0] if proc.is_pe else "",
        "InitiatingProcessVersionInfoFileDescription": proc.product or "",
        "InitiatingProcessCommandLine": f'"{proc.name}"',
        "InitiatingProcessParentFileName": parent,
        "InitiatingProcessParentId": 400 + stable("parent", device_id, parent) % 9000,
        "InitiatingProcessAccountDomain": domain,
        "InitiatingProcessAccountName": name,
        "InitiatingProcessAccountSid": sid,
        "InitiatingProcessAccountUpn": upn,
        "InitiatingProcessIntegrityLevel": "System" if system else "Medium",
        "InitiatingProcessTokenElevation": "TokenElevationTypeDefault",
        "InitiatingProcessLogonId": 999 if system else 0x3E7 + stable("logon", device_id) % 900000,
        "InitiatingProcessSessionId": 0 if system else 1,
        "IsInitiatingProcessRemoteSession": False,
        "InitiatingProcessSignerType": ("OsVendor" if microsoft else "ThirdParty") if signed else "None",
        "InitiatingProcessSignatureStatus": ("Valid" if proc.valid_cert else "Invalid")
        if signed
        else "Unsigned",
    }
    _STATIC[key] = columns
    return columns


def local_network_columns(device: Device, remote_ip: str, report_id: int) -> dict[str, object]:
    """LocalIP/LocalPort/LocalIPType/RemoteIPType of a connection from `device`."""
    return {
        "LocalIP": device.local_ip,
        "LocalPort": 49152 + stable("port", device.id, report_id) % 16000,
        "LocalIPType": ip_type(device.local_ip),
        "RemoteIPType": ip_type(remote_ip) if remote_ip else "",
    }
