"""A report from earlier outputs of `enrich run`: CSV files, xlsx workbooks (`from_xlsx.py`: one
input a sheet, the Summary sheet's lookback and mode), STIX bundles or JSON Lines.

- CSV: the `mde_*` columns (the last column of each name: an input may carry its own, ours come
  after it). Without a `source_file` column the file itself stands for the input, and `row` is
  the data row (one output row per input row, in input order). A row of several indicators
  holds only the row's status: each of its types is counted under it.
- STIX: the sightings carrying enrich's extension (`mde_status`, `mde_type`, `mde_value`,
  `mde_devices` (the count), `mde_device_names`, `mde_events`, `mde_answered_by`,
  `mde_lookback_hours`, `mde_queried_at`), one row each; `row` is the sighting's
  position among the file's objects. Without `--negative-sightings` a STIX output holds only
  what was seen.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from enrich.errors import InputError
from enrich.report.data import Collector
from enrich.report.from_xlsx import read_xlsx
from enrich.sinks.stix_objects import EXTENSION_ID

csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # as the CSV source: long cells are fine


class ReportInputError(InputError):
    """An output given to `enrich report` cannot be read (one line naming it and the problem)."""


OUTPUT_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl")


def output_files(paths: Sequence[str]) -> list[str]:
    """`paths` with each folder replaced by the outputs in it (as `run -o FOLDER` writes them):
    its `*.csv *.xlsx *.json *.jsonl` files by name, less hidden ones and `*.summary.json`;
    ReportInputError for a folder holding none."""
    files: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if name.lower().endswith(OUTPUT_SUFFIXES)
            and not name.startswith(".")
            and not name.lower().endswith(".summary.json")
            and os.path.isfile(os.path.join(path, name))
        )
        if not found:
            raise ReportInputError(
                f"{path}: a folder with no output of enrich run in it (*.csv *.xlsx *.json)"
            )
        files.extend(found)
    return files


def collect_outputs(paths: Sequence[str]) -> Collector:
    """A report of every output in `paths` (CSV, xlsx or STIX written by `enrich run`)."""
    collector = Collector(origin="outputs", title="enrich report")
    lookbacks: set[int] = set()
    modes: set[str] = set()
    times: list[str] = []
    for path in paths:
        kind = _kind(path)
        if kind == "csv":
            _read_csv(path, collector)
            times.append(_mtime(path))
        elif kind == "xlsx":
            facts = read_xlsx(path, collector, ReportInputError)
            hours, mode, written = (
                facts.get("lookback hours"),
                facts.get("mode (how MDE was asked)"),
                facts.get("written (UTC)"),
            )
            if isinstance(hours, (int, float)):
                lookbacks.add(int(hours))
            if mode:
                modes.add(str(mode))
            times.append(
                written.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(written, datetime) else _mtime(path)
            )
        else:
            lookbacks |= _read_stix(path, kind, collector, times)
    collector.headline.update(
        {
            "when": max(times) if times else "",
            "lookback_hours": ", ".join(map(str, sorted(lookbacks))) if lookbacks else None,
            "mode": ", ".join(sorted(modes)) or None,
        }
    )
    collector.settings = [["outputs read", ", ".join(paths)]]
    if lookbacks:
        collector.settings.append(["lookback (hours)", ", ".join(map(str, sorted(lookbacks)))])
    else:
        collector.notes.append("The lookback is not recorded in a CSV output (see the run's --summary file).")
    if not collector.answered_by:
        collector.notes.append("Which mode answered is not recorded in these outputs (no mde_answered_by).")
    return collector


def _mtime(path: str) -> str:
    moment = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _kind(path: str) -> str:
    """ "csv", "xlsx", "bundle" or "jsonl", from the first bytes of the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "bundle"
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
        except ValueError:
            return "bundle"  # a document over several lines
        return "bundle" if isinstance(obj, dict) and obj.get("type") == "bundle" else "jsonl"
    return "csv"


def _last_index(header: list[str], name: str) -> int | None:
    found = None
    for i, h in enumerate(header):
        if h == name:
            found = i
    return found


def _read_csv(path: str, collector: Collector) -> None:
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if not header or _last_index(header, "mde_status") is None:
                raise ReportInputError(f"{path}: not an output of enrich run (no mde_status column)")
            names = [h for h in dict.fromkeys(header) if h.startswith("mde_")]
            where = {name: _last_index(header, name) for name in names}
            source_at = 0 if header[0] == "source_file" else None
            rows: dict[str, int] = {}
            for line in reader:
                if not line:
                    continue
                file = line[source_at] if source_at is not None and line else path
                rows[file] = rows.get(file, 0) + 1
                cells = {n: (line[i] if i is not None and i < len(line) else "") for n, i in where.items()}
                status = cells.get("mde_status", "")
                types = cells.get("mde_type", "").split(";")
                collector.add_row(file, rows[file], cells, [(t, status) for t in types])
        except UnicodeDecodeError:
            raise ReportInputError(f"{path}: not UTF-8 text (an enrich output is UTF-8)") from None
        except csv.Error as exc:
            raise ReportInputError(f"{path}: not a CSV file ({exc})") from None


def _objects(path: str, kind: str) -> Iterator[Any]:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            if kind == "jsonl":
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except ValueError as exc:
                            raise ReportInputError(f"{path}: line {number} is not JSON ({exc})") from None
                return
            try:
                doc = json.load(fh)
            except ValueError as exc:
                raise ReportInputError(f"{path}: not JSON ({exc})") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not UTF-8 text") from None
    objects = doc.get("objects") if isinstance(doc, dict) else doc
    if not isinstance(objects, list):
        raise ReportInputError(f"{path}: not a STIX bundle (no objects array)")
    yield from objects


def _names(value: Any) -> str:
    """Device names as the CSV output writes them (`;`-joined), from a STIX list or text."""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value or "")


def _read_stix(path: str, kind: str, collector: Collector, times: list[str]) -> set[int]:
    """The sightings of one STIX output; returns the lookback hours they state."""
    lookbacks: set[int] = set()
    found = 0
    ours = False  # enrich's extension-definition: an output of enrich run, even with no sighting
    latest = ""
    for position, obj in enumerate(_objects(path, kind), 1):
        if isinstance(obj, dict) and obj.get("id") == EXTENSION_ID:
            ours = True
        if not isinstance(obj, dict) or obj.get("type") != "sighting":
            continue
        ext = (obj.get("extensions") or {}).get(EXTENSION_ID)
        if not isinstance(ext, dict):
            continue
        found += 1
        status = str(ext.get("mde_status", ""))
        found_detail = ext.get("mde_detail")
        detail: dict[str, Any] = found_detail if isinstance(found_detail, dict) else {}
        devices = ext.get("mde_devices")
        cells = {
            "mde_status": status,
            "mde_type": str(ext.get("mde_type", "")),
            "mde_value": str(ext.get("mde_value", "") or ext.get("mde_path", "")),
            "mde_org_prevalence": "" if devices is None else str(devices),
            "mde_org_first_seen": str(obj.get("first_seen", "")),
            "mde_org_last_seen": str(obj.get("last_seen", "")),
            "mde_devices": _names(ext.get("mde_device_names", detail.get("devices", ""))),
            "mde_events": str(ext.get("mde_events", detail.get("events", ""))),
            "mde_answered_by": str(ext.get("mde_answered_by", "")),
        }
        collector.add_row(path, position, cells, [(cells["mde_type"], status)])
        hours = ext.get("mde_lookback_hours")
        if isinstance(hours, int):
            lookbacks.add(hours)
        queried = ext.get("mde_queried_at")
        if isinstance(queried, str) and queried > latest:
            latest = queried
    if not found and not ours:
        raise ReportInputError(
            f"{path}: holds no sighting written by enrich run (not an enrich STIX output?)"
        )
    if not found:  # nothing seen, and written without --negative-sightings: a valid, empty output
        collector.file_index(path)
        collector.notes.append(f"{path}: an enrich STIX output with no sighting (nothing was seen).")
        return lookbacks
    collector.notes.append(
        f"{path}: STIX sightings; rows not seen are there only when the run wrote --negative-sightings."
    )
    if latest:
        times.append(latest[:19] + "Z")
    return lookbacks
