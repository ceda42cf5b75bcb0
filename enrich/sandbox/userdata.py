"""Load a user's own dataset (`enrich sandbox --data FILE`) instead of the generated indicators.

FILE is JSON (a list of objects, or {"indicators": [...]}) or CSV with a header. Fields:

| field | meaning |
|---|---|
| `indicator` | SHA-1/SHA-256/MD5, IPv4/IPv6 address, domain, or URL (its host is used); required |
| `prevalence` | distinct devices that saw it; 0 = MDE knows the file but the organisation never saw it |
| `first_seen`, `last_seen` | ISO 8601 time ("2026-11-01T10:00:00Z") or age ("36h", "12d", "90m"); defaults: 7 days, 1 hour |
| `devices` | device names that saw it (JSON list or `;`-separated); padded with generated devices up to `prevalence` |
| `events` | number of events (default: one per device, at least 2 when first_seen != last_seen) |
| `file_name` | file name for hash indicators (default `sample.exe`) |

The first event is placed exactly at `first_seen` and the last exactly at `last_seen`, so the
stats API answers those times back (when inside the lookback window).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

from enrich.sandbox.data import (
    TICKS_PER_SECOND,
    Dataset,
    Device,
    FileInfo,
    host_of,
    normalize_domain,
    normalize_ip,
    parse_ticks,
)
from enrich.sandbox.generator import Generator

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HEX = re.compile(r"^[0-9a-f]+$")


class DataFileError(ValueError):
    """The --data file cannot be used; the message says where and why."""


def read_records(path: str) -> list[dict]:
    """The records of a JSON or CSV data file."""
    text = Path(path).read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: not valid JSON: {exc}") from exc
        records = doc.get("indicators") if isinstance(doc, dict) else doc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise DataFileError(f'{path}: expected a list of objects or {{"indicators": [...]}}')
        return records
    rows = list(csv.DictReader(text.splitlines()))
    if rows and "indicator" not in rows[0]:
        raise DataFileError(f"{path}: the CSV header must name an 'indicator' column")
    return rows


def _classify(value: str) -> tuple[str, str] | None:
    v = value.strip()
    low = v.lower()
    if _HEX.match(low) and len(low) in (32, 40, 64):
        return "files", low
    ip = normalize_ip(v.strip("[]"))
    if ip:
        return "ips", ip
    if "://" in v:
        host = host_of(v)
        ip = normalize_ip(host)
        if ip:
            return "ips", ip
        v = host
    domain = normalize_domain(v)
    return ("domains", domain) if domain else None


def _time(value: object, now: int, default_age: int, where: str) -> int:
    if value in (None, ""):
        return now - default_age * TICKS_PER_SECOND
    text = str(value)
    m = _AGE.match(text)
    if m:
        return now - int(float(m.group(1)) * _UNITS[m.group(2).lower()] * TICKS_PER_SECOND)
    try:
        return parse_ticks(text)
    except ValueError as exc:
        raise DataFileError(f"{where}: {exc}") from exc


def _devices_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(";") if v.strip()]


def load(path: str, seed: int, now: int, tenant_id: str, device_count: int = 50) -> Dataset:
    """A dataset holding exactly the indicators of `path` (plus generated devices)."""
    g = Generator(seed, now, tenant_id)
    g.make_devices(device_count)
    g.make_processes()
    ds = g.ds
    by_name = {d.name: d for d in ds.devices}
    for n, rec in enumerate(read_records(path), start=1):
        where = f"{path}: record {n}"
        raw = str(rec.get("indicator") or "").strip()
        found = _classify(raw)
        if not found:
            raise DataFileError(f"{where}: {raw!r} is not a hash, IP address, domain or URL")
        family, key = found
        names = _devices_list(rec.get("devices"))
        try:
            prevalence = (
                int(rec.get("prevalence") or 0) if rec.get("prevalence") not in (None, "") else len(names)
            )
            events = int(rec["events"]) if rec.get("events") not in (None, "") else 0
        except (TypeError, ValueError) as exc:
            raise DataFileError(f"{where}: prevalence and events must be integers") from exc
        prevalence = max(prevalence, len(names))
        first = _time(rec.get("first_seen"), now, 7 * 86400, where)
        last = _time(rec.get("last_seen"), now, 3600, where)
        if last < first:
            raise DataFileError(f"{where}: last_seen is before first_seen")
        if last > now:
            raise DataFileError(f"{where}: last_seen is in the future")
        info = None
        if family == "files":
            info = FileInfo(
                sha1=key
                if len(key) == 40
                else hashlib.sha1(f"enrich-sandbox/sha1/{key}".encode()).hexdigest(),
                sha256=key
                if len(key) == 64
                else hashlib.sha256(f"enrich-sandbox/sha256/{key}".encode()).hexdigest(),
                md5=key if len(key) == 32 else hashlib.md5(f"enrich-sandbox/md5/{key}".encode()).hexdigest(),
                name=str(rec.get("file_name") or "sample.exe"),
                folder=r"C:\Users\Public\Downloads",
            )
            g.global_profile(info)
            info = ds.add_file(info)
        ds.planted[(family, key)] = prevalence > 0
        if prevalence == 0:
            continue
        devices = [_named_device(g, ds, by_name, name) for name in names]
        pool = [d for d in ds.devices if d not in devices]
        while len(devices) < prevalence:
            if not pool:
                pool = [_named_device(g, ds, by_name, f"extra-{len(ds.devices) + 1:04d}.corp.contoso.com")]
            devices.append(pool.pop(g.rng.randrange(len(pool))))
        count = max(events, len(devices), 2 if last > first else 1)
        times = [first, last] + [g.rng.randint(first, last) for _ in range(count - 2)]
        for i, t in enumerate(times[:count]):
            dev = devices[i % len(devices)]
            if info is not None:  # family == "files": info is set for files and only for them
                table = "DeviceProcessEvents" if i % 2 else "DeviceFileEvents"
                action = "ProcessCreated" if i % 2 else "FileCreated"
                ds.add_file_event(table, t, dev, info, action, "explorer.exe", info.name)
            elif family == "ips":
                ds.add_network_event(t, dev, key, "", 443, "ConnectionSuccess", g.processes["chrome.exe"])
            else:
                ds.add_network_event(
                    t,
                    dev,
                    g.public_ip(),
                    f"https://{key}/",
                    443,
                    "ConnectionSuccess",
                    g.processes["chrome.exe"],
                )
    ds.finish()
    return ds


def _named_device(g: Generator, ds: Dataset, by_name: dict[str, Device], name: str) -> Device:
    if name in by_name:
        return by_name[name]
    template = g.rng.choice(ds.devices)
    dev = Device(
        id=g.hexstr(160),
        name=name,
        local_ip=f"10.20.{g.rng.randint(0, 254)}.{g.rng.randint(2, 254)}",
        external_ip=template.external_ip,
        os_platform=template.os_platform,
        os_build=template.os_build,
        version=template.version,
        aad_device_id=template.aad_device_id,
        first_seen=template.first_seen,
        last_seen=template.first_seen,
    )
    ds.add_device(dev)
    by_name[name] = dev
    return dev
