"""Load a user's own dataset (`enrich sandbox --data FILE`) instead of the generated indicators.

FILE is JSON (a list of objects, or {"indicators": [...]}) or CSV with a header. Fields:

| field | meaning |
|---|---|
| `indicator` | SHA-1/SHA-256/MD5, IPv4/IPv6 address, domain, or URL (its host is the domain); required unless a hash field is given |
| `sha1`, `sha256`, `md5` | hashes of the same file (any subset): the file answers by each of them, and every event carries all three |
| `prevalence` | distinct devices that saw it; 0 = MDE knows the file but the organisation never saw it |
| `first_seen`, `last_seen` | ISO 8601 time ("2026-11-01T10:00:00Z") or age ("36h", "12d", "90m"); defaults: 7 days, 1 hour (or the earliest and latest device time) |
| `devices` | devices that saw it, by name (JSON list or `;`-separated); `name@time` (or `{"name": ..., "times": [...]}` in JSON) plants an event on that device at that time; padded with generated devices up to `prevalence` |
| `events` | number of events (default: one per device, at least 2 when first_seen != last_seen) |
| `url` | a full URL to plant: `RemoteUrl` of a domain's (or IP's) connections, `FileOriginUrl` of a file's download events; a URL `indicator` is planted as given |
| `file_name` | file name for hash indicators (default `sample.exe`) |

Ages count back from the moment the sandbox starts; the data clock then runs with real time, so
an event planted "2h" ago is 3 hours old an hour later, as in MDE. The first event is placed
exactly at `first_seen` and the last exactly at `last_seen`, so the stats API answers those
times back (when inside the lookback window). Devices named here keep their names in every
table (`DeviceName`) and in `/api/machines` (`computerDnsName`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from enrich.sandbox.generate import file_hashes
from enrich.sandbox.generator import Generator

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HEX = re.compile(r"^[0-9a-f]+$")
HASH_FIELDS = {"sha1": 40, "sha256": 64, "md5": 32}


class DataFileError(ValueError):
    """The --data file cannot be used; the message says where and why."""


@dataclass
class Planting:
    """One validated record: what to plant and where."""

    family: str
    key: str
    hashes: tuple[str, ...] = ()  # every hash the record gives (files)
    prevalence: int = 0
    first: int = 0
    last: int = 0
    timed: list[tuple[str, int]] = field(default_factory=list)  # (device name, ticks)
    untimed: list[str] = field(default_factory=list)  # device names without a time
    events: int = 0
    url: str = ""
    file_name: str = "sample.exe"
    where: str = ""  # "FILE: record N", for messages


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
    if rows and "indicator" not in rows[0] and not set(HASH_FIELDS) & set(rows[0]):
        raise DataFileError(f"{path}: the CSV header must name an 'indicator' column (or sha1, sha256, md5)")
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


def _time(value: object, now: int, where: str) -> int:
    """Ticks of an ISO 8601 time or an age ("36h") counted back from `now`."""
    text = str(value).strip()
    m = _AGE.match(text)
    if m:
        return now - int(float(m.group(1)) * _UNITS[m.group(2).lower()] * TICKS_PER_SECOND)
    try:
        return parse_ticks(text)
    except ValueError as exc:
        raise DataFileError(f"{where}: {exc}") from exc


def _count(value: object, default: int, where: str) -> int:
    """prevalence/events: an integer (a JSON number or CSV text), `default` when absent."""
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise DataFileError(f"{where}: prevalence and events must be integers")
    try:
        return int(value)
    except ValueError as exc:
        raise DataFileError(f"{where}: prevalence and events must be integers") from exc


def _bound(value: object, default: int, now: int, where: str) -> int:
    """first_seen/last_seen: the given time, else `default` (from the device times, or 7 days / 1 hour ago)."""
    return default if value in (None, "") else _time(value, now, where)


def _devices(value: object, now: int, where: str) -> tuple[list[tuple[str, int]], list[str]]:
    """(timed (name, ticks) pairs, untimed names) of a `devices` field."""
    if value in (None, ""):
        return [], []
    items: list[object] = list(value) if isinstance(value, list) else list(str(value).split(";"))
    timed: list[tuple[str, int]] = []
    untimed: list[str] = []
    for item in items:
        if isinstance(item, dict):
            name = str(item.get("name") or "").strip()
            times = item.get("times", [item["time"]] if "time" in item else [])
            if not name or not isinstance(times, list):
                raise DataFileError(f'{where}: a device object needs "name" and optional "times": [...]')
        else:
            text = str(item).strip()
            if not text:
                continue
            name, _, at = text.partition("@")
            name, times = name.strip(), [at.strip()] if at.strip() else []
            if not name:
                raise DataFileError(f"{where}: device entry {text!r} has no name")
        if times:
            timed += [(name, _time(t, now, f"{where}: device {name}")) for t in times]
        else:
            untimed.append(name)
    return timed, untimed


def _hashes(rec: Mapping[str, object], where: str) -> dict[int, str]:
    """The record's hash fields by length (validated)."""
    out: dict[int, str] = {}
    for name, size in HASH_FIELDS.items():
        raw = str(rec.get(name) or "").strip().lower()
        if not raw:
            continue
        if len(raw) != size or not _HEX.match(raw):
            raise DataFileError(f"{where}: {name} {raw!r} is not a {size}-digit hex {name.upper()}")
        out[size] = raw
    return out


def parse_record(rec: Mapping[str, object], where: str, now: int) -> Planting:
    """Validate one record into a Planting; DataFileError says what is wrong."""
    raw = str(rec.get("indicator") or "").strip()
    given = _hashes(rec, where)
    found = _classify(raw) if raw else None
    if raw and not found:
        raise DataFileError(f"{where}: {raw!r} is not a hash, IP address, domain or URL")
    if found is None:
        if not given:
            raise DataFileError(f"{where}: an 'indicator' (or a sha1, sha256 or md5) is required")
        found = ("files", next(iter(given.values())))
    family, key = found
    if family == "files":
        if given.get(len(key), key) != key:
            raise DataFileError(
                f"{where}: indicator {key} and the {len(key) * 4}-bit hash field name two files"
            )
        given[len(key)] = key
    elif given:
        raise DataFileError(f"{where}: sha1/sha256/md5 fields only go with a file indicator")
    timed, untimed = _devices(rec.get("devices"), now, where)
    names = {n for n, _ in timed} | set(untimed)
    prevalence = _count(rec.get("prevalence"), len(names), where)
    events = _count(rec.get("events"), 0, where)
    if prevalence < 0 or events < 0:
        raise DataFileError(f"{where}: prevalence and events must not be negative")
    if timed and rec.get("prevalence") not in (None, "") and prevalence == 0:
        raise DataFileError(f"{where}: prevalence 0 but devices with times are listed")
    stamps = [t for _, t in timed]
    first = _bound(rec.get("first_seen"), min(stamps, default=now - 7 * 86400 * TICKS_PER_SECOND), now, where)
    last = _bound(rec.get("last_seen"), max(stamps, default=now - 3600 * TICKS_PER_SECOND), now, where)
    if last < first:
        raise DataFileError(f"{where}: last_seen is before first_seen")
    if last > now or any(t > now for t in stamps):
        raise DataFileError(f"{where}: a time is in the future")
    if any(not first <= t <= last for t in stamps):
        raise DataFileError(f"{where}: a device time lies outside first_seen..last_seen")
    url = str(rec.get("url") or "").strip()
    if not url and "://" in raw and family != "files":
        url = raw
    if url and family != "files":
        host = host_of(url)
        if (normalize_ip(host) or normalize_domain(host)) != key:
            raise DataFileError(f"{where}: url {url!r} is not on {key}")
    return Planting(
        family=family,
        key=key,
        hashes=tuple(given[n] for n in sorted(given, reverse=True)),
        prevalence=max(prevalence, len(names)),
        first=first,
        last=last,
        timed=timed,
        untimed=untimed,
        events=events,
        url=url,
        file_name=str(rec.get("file_name") or "sample.exe"),
        where=where,
    )


def load(path: str, seed: int, now: int, tenant_id: str, device_count: int = 50) -> Dataset:
    """A dataset holding exactly the indicators of the data file `path` (plus generated devices and their heartbeats)."""
    return load_records(read_records(path), seed, now, tenant_id, device_count, source=path)


def load_records(
    records: Sequence[Mapping[str, object]],
    seed: int,
    now: int,
    tenant_id: str,
    device_count: int = 50,
    source: str = "data",
) -> Dataset:
    """A dataset holding exactly `records` (the objects of a data file); errors name `source: record N`."""
    g = Generator(seed, now, tenant_id)
    g.make_devices(device_count)
    g.make_processes()
    plantings = [
        parse_record(dict(rec), f"{source}: record {n}", now) for n, rec in enumerate(records, start=1)
    ]
    for p in plantings:  # generated addresses must never land on a planted one
        g.reserved.add((p.family, p.key))
    by_name = {d.name: d for d in g.ds.devices}
    for p in plantings:
        plant(g, p, by_name)
    g.background()
    g.ds.finish()
    return g.ds


def plant(g: Generator, p: Planting, by_name: dict[str, Device]) -> None:
    """The events of one Planting: its timed events as given, the others filling first..last."""
    ds = g.ds
    info = None
    if p.family == "files":
        info = FileInfo(*file_hashes(p.hashes), name=p.file_name, folder=r"C:\Users\Public\Downloads")
        g.global_profile(info)
        info = ds.add_file(info)
        if not set(p.hashes) <= set(info.hashes()):
            known = ", ".join(info.hashes())
            raise DataFileError(f"{p.where}: an earlier record gave this file other hashes ({known})")
        for h in p.hashes:
            ds.planted[("files", h)] = p.prevalence > 0
    else:
        ds.planted[(p.family, p.key)] = p.prevalence > 0
    if p.prevalence == 0:
        return
    named = list(dict.fromkeys([n for n, _ in p.timed] + p.untimed))
    devices = [_named_device(g, ds, by_name, name) for name in named]
    fill = [_named_device(g, ds, by_name, name) for name in p.untimed]
    taken = {d.id for d in devices}
    pool = [d for d in ds.devices if d.id not in taken] if len(devices) < p.prevalence else []
    while len(devices) < p.prevalence:
        if not pool:
            pool = [_named_device(g, ds, by_name, f"extra-{len(ds.devices) + 1:04d}.corp.contoso.com")]
        dev = pool.pop(g.rng.randrange(len(pool)))
        devices.append(dev)
        fill.append(dev)
    events = [(by_name[name], t) for name, t in p.timed]
    if p.timed:
        edges = [t for t in (p.first, p.last) if t not in {t for _, t in p.timed}]
        count = max(p.events - len(p.timed), len(fill), len(set(edges)))
        times = sorted(set(edges)) + [g.rng.randint(p.first, p.last) for _ in range(count - len(set(edges)))]
        targets = fill or devices
    else:
        count = max(p.events, len(devices), 2 if p.last > p.first else 1)
        times = [p.first, p.last] + [g.rng.randint(p.first, p.last) for _ in range(count - 2)]
        targets = devices
    events += [(targets[i % len(targets)], t) for i, t in enumerate(times[:count])]
    for i, (dev, t) in enumerate(events):
        _event(g, p, info, dev, t, i)


def _event(g: Generator, p: Planting, info: FileInfo | None, dev: Device, t: int, i: int) -> None:
    ds = g.ds
    if info is not None:
        table, action = (
            ("DeviceProcessEvents", "ProcessCreated") if i % 2 else ("DeviceFileEvents", "FileCreated")
        )
        origin = p.url if table == "DeviceFileEvents" else ""
        ds.add_file_event(table, t, dev, info, action, "explorer.exe", info.name, origin_url=origin)
    elif p.family == "ips":
        ds.add_network_event(t, dev, p.key, p.url, 443, "ConnectionSuccess", g.processes["chrome.exe"])
    else:
        url = p.url or f"https://{p.key}/"
        ds.add_network_event(t, dev, g.public_ip(), url, 443, "ConnectionSuccess", g.processes["chrome.exe"])


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
        user=template.user,
    )
    ds.add_device(dev)
    by_name[name] = dev
    return dev
