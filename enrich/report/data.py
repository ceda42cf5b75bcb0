"""What a report shows, gathered row by row from a run or from earlier outputs.

`Collector` takes each row's `mde_*` cells (by column name, as the CSV output holds them) and
its indicators' (type, status) pairs, and keeps only what the page needs: counts, the seen rows
(the table), and per distinct seen value its prevalence and first/last seen (the charts). It
never keeps an unseen row, so a feed of a million rows costs what its seen rows cost.
`Collector.data()` is the JSON-able dict the page reads (`page.render`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from enrich import __version__

# The table's columns, in order (the page names them; `file` is an index into `inputs`).
TABLE_COLUMNS = (
    "value",
    "type",
    "prevalence",
    "first_seen",
    "last_seen",
    "devices",
    "events",
    "answered_by",
    "file",
    "row",
)
STATUSES = ("seen", "not_seen", "invalid", "unsupported", "error", "pending")
NO_TYPE = "none"  # an entry that is not an indicator (as the run summary counts it)
TIMELINE_LIMIT = 300  # spans drawn: the values seen on the most devices


def utc_now() -> str:
    """Now, as the report states times: `2026-12-07T01:02:03Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(text: str) -> int | float | None:
    """A prevalence cell as a number (the largest of a `;`-joined list), None when empty."""
    best: int | float | None = None
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            value: int | float = int(part)
        except ValueError:
            try:
                value = float(part)
            except ValueError:
                continue
        if math.isfinite(value) and (best is None or value > best):
            best = value
    return best


def prevalence_bins(values: Iterable[float]) -> list[list[Any]]:
    """Counts of values in power-of-two bins: [low, high, count] for 1, 2-3, 4-7, ... (and 0 when
    present), up to the largest value: a histogram on a log scale."""
    counts: Counter[int] = Counter()
    for v in values:
        counts[-1 if v < 1 else int(v).bit_length() - 1] += 1
    if not counts:
        return []
    bins = []
    if counts[-1]:
        bins.append([0, 0, counts[-1]])
    for k in range(0, max(counts) + 1):
        bins.append([1 << k, (1 << (k + 1)) - 1, counts[k]])
    return bins


@dataclass
class _Value:
    """One distinct seen value: what the charts need."""

    type: str
    prevalence: float | None
    first: str
    last: str


@dataclass
class Collector:
    """Gathers a report, one row at a time (`add_row`), then `data()` for the page."""

    title: str = "enrich report"
    origin: str = "run"  # "run" or "outputs" (made by `enrich report` from files)
    rows: int = 0
    rows_by_status: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, Counter[str]] = field(default_factory=dict)
    answered_by: Counter[str] = field(default_factory=Counter)
    seen: list[list[Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    settings: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    _values: dict[tuple[str, str], _Value] = field(default_factory=dict)
    _files: dict[str, int] = field(default_factory=dict)

    def file_index(self, name: str) -> int:
        """The index of input `name` in `inputs` (added with no rows when new)."""
        index = self._files.get(name)
        if index is None:
            index = self._files[name] = len(self.inputs)
            self.inputs.append({"name": name, "rows": 0})
        return index

    def add_row(
        self,
        file: str,
        row: int,
        cells: Mapping[str, str],
        indicators: Iterable[tuple[str, str]],
    ) -> None:
        """One row: its `mde_*` cells by column name, and each indicator's (type, status)."""
        self.rows += 1
        index = self.file_index(file)
        self.inputs[index]["rows"] += 1
        status = cells.get("mde_status", "")
        self.rows_by_status[status] += 1
        for kind, state in indicators:
            counts = self.by_type.get(kind or NO_TYPE)
            if counts is None:
                counts = self.by_type[kind or NO_TYPE] = Counter()
            counts[state] += 1
        for how in filter(None, cells.get("mde_answered_by", "").split(";")):
            self.answered_by[how] += 1
        if status != "seen":
            return
        value, kind = cells.get("mde_value", ""), cells.get("mde_type", "")
        prevalence = _number(cells.get("mde_org_prevalence", ""))
        first, last = cells.get("mde_org_first_seen", ""), cells.get("mde_org_last_seen", "")
        events = _number(cells.get("mde_events", ""))
        self.seen.append(
            [
                value,
                kind,
                prevalence,
                first,
                last,
                cells.get("mde_devices", ""),
                events,
                cells.get("mde_answered_by", ""),
                index,
                row,
            ]
        )
        known = self._values.get((kind, value))
        if known is None:
            self._values[(kind, value)] = _Value(kind, prevalence, first, last)

    def indicator_counts(self) -> Counter[str]:
        """Indicators by status, over every type."""
        total: Counter[str] = Counter()
        for counts in self.by_type.values():
            total.update(counts)
        return total

    def timeline(self) -> list[list[Any]]:
        """[value, type, first, last, prevalence] of the values seen on most devices (with dates),
        ordered by first seen."""
        dated = [(k, v) for k, v in self._values.items() if v.first and v.last]
        dated.sort(key=lambda kv: (-(kv[1].prevalence or 0), kv[0][1]))
        spans = [[k[1], v.type, v.first, v.last, v.prevalence] for k, v in dated[:TIMELINE_LIMIT]]
        spans.sort(key=lambda s: (s[2], s[0]))
        return spans

    def data(self) -> dict[str, Any]:
        """Everything the page shows, JSON-able."""
        indicators = self.indicator_counts()
        headline = {
            "rows": self.rows,
            "indicators": sum(indicators.values()),
            **{s: indicators.get(s, 0) for s in STATUSES},
            "rows_by_status": {s: self.rows_by_status[s] for s in STATUSES if self.rows_by_status[s]},
            "answered_by": dict(self.answered_by.most_common()),
        }
        headline.update(self.headline)
        types = sorted(self.by_type, key=lambda t: (t == NO_TYPE, -sum(self.by_type[t].values()), t))
        prevalences = [v.prevalence for v in self._values.values() if v.prevalence is not None]
        dated = sum(1 for v in self._values.values() if v.first and v.last)
        return {
            "title": self.title,
            "origin": self.origin,
            "generated": utc_now(),
            "version": __version__,
            "headline": headline,
            "statuses": list(STATUSES),
            "status_by_type": [
                [t, {s: self.by_type[t][s] for s in STATUSES if self.by_type[t][s]}] for t in types
            ],
            "prevalence": {"bins": prevalence_bins(prevalences), "values": len(prevalences)},
            "timeline": {"spans": self.timeline(), "dated": dated, "limit": TIMELINE_LIMIT},
            "columns": list(TABLE_COLUMNS),
            "seen": self.seen,
            "inputs": self.inputs,
            "settings": self.settings,
            "notes": self.notes,
        }
