"""A report from the run that just wrote its outputs: the inputs read once more with their outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from enrich.model import MDE_COLUMNS
from enrich.outcome import Outcomes, answered_by
from enrich.report.data import Collector, utc_now
from enrich.sources.interface import Source

# RunRequest fields shown under "settings" (never credentials, the secrets file or the tenant).
_SHOWN = (
    ("mode", "mode asked (--mode)"),
    ("to", "output format (--to)"),
    ("file_info", "file details (--file-info)"),
    ("max_devices", "device names kept per value (--max-devices)"),
    ("column", "indicator column (--column)"),
    ("no_cache", "cache disabled (--no-cache)"),
    ("stix_output", "STIX output (--stix-output)"),
    ("negative_sightings", "negative sightings"),
)


def run_settings(request: Any, summary: Mapping[str, Any], output_format: str) -> list[list[str]]:
    """The settings and figures of a run worth stating, as [label, text] (no secret among them)."""
    facts: list[list[str]] = [["output", str(summary.get("output") or "-")]]
    for name, label in _SHOWN:
        value = getattr(request, name, None)
        if name == "to":
            value = output_format
        if value in (None, "", False) and name not in ("mode",):
            continue
        facts.append([label, "yes" if value is True else str(value)])
    if summary.get("lookback_hours") is not None:
        facts.append(["lookback (hours)", str(summary["lookback_hours"])])
    endpoints = summary.get("endpoints") or {}
    if endpoints.get("api"):
        facts.append(["MDE API", str(endpoints["api"])])
    lookups = summary.get("lookups") or {}
    if lookups:
        facts.append(
            [
                "distinct lookups",
                f"{lookups.get('distinct', 0)} ({lookups.get('from_cache', 0)} from cache, "
                f"{lookups.get('asked', 0)} asked of MDE)",
            ]
        )
    calls = summary.get("calls") or {}
    if calls:
        facts.append(
            [
                "API calls",
                f"{calls.get('total', 0)} ({calls.get('throttled_429', 0)} throttled, "
                f"{calls.get('retries', 0)} retries)",
            ]
        )
    if summary.get("duration_seconds") is not None:
        facts.append(["run time (s)", f"{summary['duration_seconds']:.1f}"])
    facts.append(["enrich version", str(summary.get("version", ""))])
    return facts


def collect_run(
    sources: Sequence[Source],
    outcomes: Outcomes,
    *,
    summary: Mapping[str, Any],
    settings: list[list[str]],
    mode: str,
) -> Collector:
    """Every row of `sources` with its outcome, and the run's figures (`summary`: RunSummary.to_dict())."""
    collector = Collector(origin="run", title="enrich run report")
    names = MDE_COLUMNS
    status_at = names.index("mde_status")
    cells_of, entries_of = outcomes.cells, outcomes.entries
    add = collector.add_row
    for source in sources:
        collector.file_index(source.name)
        row = 0
        for chunk in source.chunks():
            for indicators in chunk.indicators:
                row += 1
                entries = entries_of(indicators)
                pairs = [
                    (e.indicator.type.value if e.indicator.type else "", e.status.value) for e in entries
                ]
                if len(entries) == 1 and pairs[0][1] != "seen":
                    # only counted: its status and how it was answered, without the whole join
                    answer = entries[0].answer
                    by_name = {
                        "mde_status": pairs[0][1],
                        "mde_answered_by": answered_by(answer) if answer else "",
                    }
                else:  # a seen row (the table's) or a row of several indicators: its cells
                    cells = cells_of(indicators)
                    by_name = (
                        dict(zip(names, cells, strict=True))
                        if cells[status_at] == "seen"
                        else {
                            "mde_status": cells[status_at],
                            "mde_answered_by": cells[names.index("mde_answered_by")],
                        }
                    )
                add(source.name, row, by_name, pairs)
    for entry, src in zip(collector.inputs, sources, strict=False):
        entry["format"] = src.format
    collector.headline.update(
        {
            "when": utc_now(),
            "lookback_hours": summary.get("lookback_hours"),
            "mode": mode,
        }
    )
    collector.settings = settings
    return collector
