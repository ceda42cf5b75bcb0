"""The run summary: a record of what a run read, asked and wrote; a few lines on stderr, JSON for cron."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from enrich import __version__
from enrich.errors import EXIT_OK, EXIT_ROW_ERRORS
from enrich.mde.client import ClientMetrics
from enrich.model import MDE_COLUMNS
from enrich.sinks.atomic import write_text_atomic


@dataclass(frozen=True)
class LookupCounts:
    """How the distinct lookups of a run were answered."""

    distinct: int
    by_family: dict[str, int]
    from_cache: int
    asked: int
    by_answer: dict[str, int]


@dataclass(frozen=True)
class RunSummary:
    """What one run did (`--summary FILE` writes `to_dict()`); several can be read side by side."""

    inputs: list[str]
    output: str
    rows: int
    rows_by_status: dict[str, int]
    indicators: int
    indicators_by_type: dict[str, int]
    indicators_by_classification: dict[str, int]
    lookups: LookupCounts | None
    metrics: ClientMetrics | None
    quota_wait_seconds: float
    duration_seconds: float
    endpoints: dict[str, str] | None
    lookback_hours: int | None
    tenant_id: str | None
    stix: dict[str, int] | None = None
    # How lookups were answered: asked/chosen mode, why, per-path usability, estimated seconds per mode
    mode: dict[str, Any] | None = None
    version: str = __version__
    columns: list[str] = field(default_factory=lambda: list(MDE_COLUMNS))
    # CSV inputs whose bytes were not all UTF-8: {"input", "lines" (how many), "first_lines"}
    encoding_fallbacks: list[dict[str, Any]] = field(default_factory=list)

    def calls(self) -> dict[str, Any]:
        """The API calls made: totals, per family and status, throttling, retries, sign-ins."""
        m = self.metrics
        calls = dict(m.calls) if m else {}
        throttled = dict(m.throttled) if m else {}
        return {
            "total": sum(calls.values()),
            "by_family": calls,
            "by_status": dict(m.responses) if m else {},
            "throttled_429": sum(throttled.values()),
            "throttled_by_family": throttled,
            "retries": m.retries if m else 0,
            "reauthentications": m.reauths if m else 0,
            "token_acquisitions": m.token_acquisitions if m else 0,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (keys and order as documented in the README)."""
        lookups = self.lookups
        data: dict[str, Any] = {
            "version": self.version,
            "status": "finished",
            "exit_code": EXIT_ROW_ERRORS if self.rows_by_status.get("error") else EXIT_OK,
            "error": None,
            "inputs": self.inputs,
            "output": self.output,
            "columns": self.columns,
            "rows": {"total": self.rows, "by_status": self.rows_by_status},
            "indicators": {
                "total": self.indicators,
                "by_type": self.indicators_by_type,
                "by_classification": self.indicators_by_classification,
            },
            "lookups": None
            if lookups is None
            else {
                "distinct": lookups.distinct,
                "by_family": lookups.by_family,
                "from_cache": lookups.from_cache,
                "asked": lookups.asked,
                "by_answer": lookups.by_answer,
            },
            "mode": self.mode,
            "calls": self.calls(),
            "quota_wait_seconds": round(self.quota_wait_seconds, 3),
            "duration_seconds": round(self.duration_seconds, 3),
            "endpoints": self.endpoints,
            "lookback_hours": self.lookback_hours,
            "tenant_id": self.tenant_id,
        }
        if self.stix is not None:
            data["stix"] = self.stix
        if self.encoding_fallbacks:
            data["encoding_fallbacks"] = self.encoding_fallbacks
        return data


def write_summary(path: str, summary: RunSummary | Mapping[str, Any]) -> None:
    """`summary` (a RunSummary, or a dict such as `failed_summary`'s) as JSON at `path`, whole or not at all."""
    data = summary.to_dict() if isinstance(summary, RunSummary) else dict(summary)
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def failed_summary(
    inputs: list[str],
    output: str | None,
    error: str,
    exit_code: int,
    duration_seconds: float,
    status: str = "failed",
) -> dict[str, Any]:
    """The summary of a run that stopped before its end (fatal error: `status` "failed").

    The keys of a finished run's summary, in the same order; what the run did not get to is None.
    """
    return {
        "version": __version__,
        "status": status,
        "exit_code": exit_code,
        "error": error,
        "inputs": inputs,
        "output": output or "-",
        "columns": list(MDE_COLUMNS),
        "rows": None,
        "indicators": None,
        "lookups": None,
        "mode": None,
        "calls": None,
        "quota_wait_seconds": None,
        "duration_seconds": round(duration_seconds, 3),
        "endpoints": None,
        "lookback_hours": None,
        "tenant_id": None,
    }


def format_counts(counts: Mapping[str, int]) -> str:
    """`seen=3 not_seen=10` in a stable order (largest first)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return " ".join(f"{k}={v}" for k, v in items) or "none"


def print_summary(summary: Mapping[str, Any], stream: TextIO) -> None:
    """The human-readable end-of-run lines, from `RunSummary.to_dict()`."""
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
    if summary.get("mode"):
        print(f"enrich: {describe_mode(summary['mode'])}", file=stream)
    stix = summary.get("stix")
    if stix:
        print(
            f"enrich: STIX: {stix.get('sightings', 0)} sightings, {stix.get('negative_sightings', 0)} negative "
            f"sightings, {stix.get('indicators', 0)} indicators created for observables and values, "
            f"{stix.get('objects_without_indicator', 0)} input objects carried no indicator",
            file=stream,
        )
    for fallback in summary.get("encoding_fallbacks") or ():
        count, first = fallback["lines"], fallback["first_lines"]
        shown = ", ".join(map(str, first)) + (", ..." if count > len(first) else "")
        print(
            f"enrich: {fallback['input']}: {count} line{'s' * (count != 1)} with bytes that are not UTF-8, "
            f"read as cp1252: line{'s' * (count != 1)} {shown}",
            file=stream,
        )
    print(f"enrich: finished in {summary['duration_seconds']:.1f}s", file=stream)


def describe_mode(mode: Mapping[str, Any]) -> str:
    """One line: the mode asked, what answered and why, and each mode's least time under the quotas."""
    asked, chosen = mode.get("asked"), mode.get("chosen")
    head = f"mode {asked}" + (f": {chosen}" if chosen != asked else "")
    line = f"{head} ({mode.get('reason', '')})"
    estimates = mode.get("estimated_seconds") or {}
    if estimates:
        shown = ", ".join(f"{name} {_duration(seconds)}" for name, seconds in estimates.items())
        line += f"; least time under the quotas for these lookups: {shown}"
    return line


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def count_answers(answers: Mapping[Any, Any]) -> dict[str, int]:
    """Answers by status."""
    return dict(Counter(a.status.value for a in answers.values()))
