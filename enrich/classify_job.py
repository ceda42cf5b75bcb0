"""`enrich classify`: read inputs, classify every entry, write the CSV with `mde_*` columns, no API calls."""

from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import numpy as np
import pandas as pd

from enrich.model import Indicator, IndicatorType, Status
from enrich.outcome import mde_columns
from enrich.sinks.csv import CsvSink
from enrich.sources.csv import CsvSource, describe
from enrich.sources.interface import Source
from enrich.sources.open import open_sources

__all__ = [
    "OUTPUT_SUFFIX",
    "CellMemo",
    "classify_cells",
    "classify_files",
    "fewer_gc_passes",
    "output_targets",
    "summary_table",
]

OUTPUT_SUFFIX = ".classified.csv"
_TYPES = [t.value for t in IndicatorType] + ["-"]
_STATUSES = [Status.PENDING.value, Status.UNSUPPORTED.value, Status.INVALID.value]


class CellMemo:
    """The `mde_*` cells and count keys already worked out, keyed by the identity of a row's tuple.

    Sources hand out one tuple object per distinct cell (and the classifier's caches keep handing
    out the same object), so identity is a cheap key across chunks. Each entry holds its tuple,
    which keeps the object, and so its id, alive while the entry exists. Bounded: cleared when full.
    An entry is (tuple, mde cells, count group): the group numbers the tuple's (type, status) keys.
    """

    def __init__(self, size: int = 1 << 17) -> None:
        self.size = size
        self._entries: dict[int, tuple[tuple[Indicator, ...], tuple[str, ...], int]] = {}
        self.groups: list[tuple[tuple[str, str], ...]] = []
        self._group_ids: dict[tuple[tuple[str, str], ...], int] = {}

    def lookup(self, distinct: list[tuple[Indicator, ...]]) -> list[tuple]:
        """(tuple, mde cells, count group) for each of `distinct`."""
        if len(self._entries) > self.size:
            self._entries.clear()
        out = list(map(self._entries.get, map(id, distinct)))
        for k, hit in enumerate(out):
            if hit is None or hit[0] is not distinct[k]:
                out[k] = self._add(distinct[k])
        return out

    def _add(self, inds: tuple[Indicator, ...]) -> tuple:
        cells = mde_columns(inds, None)
        if len(inds) == 1:  # the row's type and status are the indicator's
            keys: tuple = ((cells[0] or "-", cells[2]),)
        else:
            keys = tuple((i.type.value if i.type else "-", i.status.value) for i in inds)
        group = self._group_ids.get(keys)
        if group is None:
            group = self._group_ids[keys] = len(self.groups)
            self.groups.append(keys)
        entry = self._entries[id(inds)] = (inds, cells, group)
        return entry


def classify_cells(
    indicators: Sequence[tuple[Indicator, ...]], counts: Counter, memo: CellMemo | None = None
) -> list[tuple[str, ...]]:
    """The `mde_*` cells (answers=None) of each row; adds (type, status) per indicator to `counts`.

    Rows whose indicator tuples are the same object (sources hand out one tuple per distinct
    cell) are worked out once; with a `memo`, once across chunks too.
    """
    n = len(indicators)
    if n == 0:
        return []
    memo = CellMemo() if memo is None else memo
    codes, _ = pd.factorize(np.fromiter(map(id, indicators), dtype=np.int64, count=n))
    first = np.empty(codes.max() + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    entries = memo.lookup([indicators[i] for i in first.tolist()])
    groups = np.fromiter((e[2] for e in entries), dtype=np.int64, count=len(entries))
    per_group = np.bincount(groups[codes])
    for group in np.flatnonzero(per_group).tolist():
        for key in memo.groups[group]:
            counts[key] += int(per_group[group])
    cells = np.empty(len(entries), dtype=object)
    cells[:] = [e[1] for e in entries]
    return cells[codes].tolist()


@contextmanager
def fewer_gc_passes(threshold: int = 100_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often while millions of small objects are made.

    Classifying creates and drops many tuples; with the default threshold (700) the collector
    runs thousands of times over the caches for nothing (about 20% of the run time on 1M rows).
    """
    old = gc.get_threshold()
    gc.set_threshold(threshold, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def output_targets(
    sources: list[Source], output: str | None, suffix: str = OUTPUT_SUFFIX
) -> list[tuple[str, list[Source]]]:
    """(output path, its sources): one file for all, or one `<name><suffix>` per input into an existing folder."""
    out = "-" if output is None else output
    if out == "-" or not os.path.isdir(out):
        return [(out, sources)]
    targets, used = [], set()
    for src in sources:
        base = "stdin" if src.name == "-" else os.path.basename(src.name.rstrip("/"))
        stem = os.path.splitext(base)[0]
        name = stem if stem not in used else base
        used.add(name)
        targets.append((os.path.join(out, name + suffix), [src]))
    return targets


def summary_table(counts: Counter, rows: int, inputs: int, outputs: Sequence[str]) -> str:
    """The end-of-run summary: rows, and indicators per type (rows) and status (columns)."""
    shown = ", ".join("stdout" if o == "-" else o for o in outputs)
    lines = [f"classified {rows} row{'s' * (rows != 1)} from {inputs} input{'s' * (inputs != 1)} -> {shown}"]
    statuses = _STATUSES + sorted({s for _, s in counts} - set(_STATUSES))
    lines.append("  " + f"{'type':<8}" + "".join(f"{s:>13}" for s in statuses) + f"{'total':>10}")
    for kind in _TYPES:
        row = [counts.get((kind, s), 0) for s in statuses]
        if any(row):
            lines.append("  " + f"{kind:<8}" + "".join(f"{v:>13}" for v in row) + f"{sum(row):>10}")
    total = [sum(v for (_, s), v in counts.items() if s == st) for st in statuses]
    lines.append("  " + f"{'all':<8}" + "".join(f"{v:>13}" for v in total) + f"{sum(total):>10}")
    return "\n".join(lines)


def classify_files(
    inputs: list[str],
    output: str | None,
    column: str | None,
    neutralise: bool,
    to: str | None,
    *,
    err: TextIO | None = None,
) -> Counter:
    """Classify every entry of `inputs` and write them with the `mde_*` columns.

    `output`: a file, `-`/None for stdout, or an existing folder (one `<name>.classified.csv` per
    input). Several inputs into one file get a `source_file` column first and the union of their
    columns. `to` must be None or "csv" (classify writes CSV only). Returns the count of
    indicators per (type, status); the summary is printed on `err` (default stderr).
    Raises SourceError / SinkError (one line) when an input or the output cannot be used.
    """
    if to not in (None, "csv"):
        raise ValueError(f"classify writes CSV only, not {to!r}")
    err = sys.stderr if err is None else err
    sources = open_sources(inputs, column)
    counts: Counter = Counter()
    memo = CellMemo()
    rows = 0
    targets = output_targets(sources, output)
    with fewer_gc_passes():
        for path, group in targets:
            with CsvSink(path, group, neutralise=neutralise) as sink:
                for src in group:
                    print(
                        describe(src) if isinstance(src, CsvSource) else f"{src.name}: {src.format}", file=err
                    )
                    for chunk in src.chunks():
                        sink.write(src, chunk.frame, classify_cells(chunk.indicators, counts, memo))
                rows += sink.rows
    print(summary_table(counts, rows, len(sources), [t for t, _ in targets]), file=err)
    return counts
