"""The run summary: a few lines on stderr, and JSON for cron (`--summary FILE`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


def write_json_atomic(path: str, data: Mapping[str, Any]) -> None:
    """Write JSON to `path` through a temporary file and a rename (never a half file)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_counts(counts: Mapping[str, int]) -> str:
    """`seen=3 not_seen=10` in a stable order (largest first)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return " ".join(f"{k}={v}" for k, v in items) or "none"


def print_summary(summary: Mapping[str, Any], stream: TextIO) -> None:
    """The human-readable end-of-run lines."""
    rows = summary["rows"]
    lookups = summary["lookups"]
    print(f"enrich: {rows['total']} rows: {format_counts(rows['by_status'])}", file=stream)
    print(f"enrich: indicators by type: {format_counts(summary['indicators']['by_type'])}", file=stream)
    if lookups is not None:
        calls = summary["calls"]
        print(
            f"enrich: {lookups['distinct']} distinct lookups: {lookups['from_cache']} from cache, "
            f"{lookups['asked']} asked of MDE; {calls['total']} API calls "
            f"({format_counts(calls['by_family'])}), {calls['throttled_429']} throttled (429), "
            f"{calls['retries']} retries, {summary['quota_wait_seconds']:.1f}s waited on quota",
            file=stream,
        )
    stix = summary.get("stix")
    if stix:
        print(
            f"enrich: STIX: {stix.get('sightings', 0)} sightings, {stix.get('negative_sightings', 0)} negative "
            f"sightings, {stix.get('indicators', 0)} indicators created for observables and values, "
            f"{stix.get('objects_without_indicator', 0)} input objects carried no indicator",
            file=stream,
        )
    print(f"enrich: finished in {summary['duration_seconds']:.1f}s", file=stream)
