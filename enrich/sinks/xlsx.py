"""Excel output (`--to xlsx`): one sheet per input, then a `Summary` sheet.

Each input sheet holds every input column (as text, exactly as read) and the `mde_*` columns
(`enrich.model.MDE_COLUMNS`, read when the sheet is made, so columns added there appear here);
the header row is frozen, an autofilter covers every row, column widths fit the longest cell
(up to a cap), and the rows whose `mde_status` is `seen` are filled in a light colour.
Prevalence columns (`*_prevalence`, `mde_events`) are numbers, first/last-seen columns are
Excel date-times in UTC (their header says `(UTC)`); a cell that does not parse (a `;`-joined
list from a row of several indicators) stays text.

Every cell is a value, never a formula: input text such as `=1+1`, `+1`, `-x` or `@SUM(A1)` is
written as a string cell, so no spreadsheet runs it (there is no leading `'` as in CSV: the cell
type says "text"). xlsxwriter passes a string that starts with `<r>` and ends with `</r>` into
the XML unescaped (its rich-text shortcut); such cells are written as a rich string of plain
runs, which reads back as the same text. Cells longer than Excel's 32,767 characters are cut
there (counted in `counts["truncated_cells"]`).

Writer: xlsxwriter in `constant_memory` mode. Rows are streamed to one temporary file per sheet
and the memory held does not grow with the rows; openpyxl keeps every cell as a Python object
until it saves (over 1 GB more for the 100,000 rows of `bench/report.py`) and writes slower;
pandas' `to_excel` goes through one of the two with its own per-cell overhead (3x our time with
xlsxwriter). Figures in BENCHMARKS.md.

A sheet holds 1,048,576 rows, one of them the header: `check_targets` refuses more, before any
lookup. The workbook is built in a temporary file next to the target and renamed over it when
complete (`sinks/atomic.py`); to a stream (`-`, a pipe) it is written at the end, never to a
terminal.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pandas as pd

from enrich import __version__
from enrich.errors import UsageError
from enrich.model import MDE_COLUMNS, Status
from enrich.outcome import Outcomes, answered_by
from enrich.sinks.atomic import AtomicFile
from enrich.sinks.csv import SinkError
from enrich.sinks.interface import Sink
from enrich.sinks.targets import Target, writable_problem
from enrich.sources.interface import Source

__all__ = [
    "MAX_SHEET_ROWS",
    "XlsxSink",
    "check_targets",
    "column_kind",
    "sheet_names",
]

MAX_SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header included
MAX_CELL_CHARS = 32_767  # Excel's characters per cell
MAX_WIDTH = 60  # widest column, in characters
MIN_WIDTH = 6
SUMMARY_SHEET = "Summary"
SEEN_FILL = "#FFF2CC"  # light amber: readable in print and for most colour vision
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_SEEN = Status.SEEN.value
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss.000"
_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")


def column_kind(name: str) -> str:
    """How an `mde_*` column is written: "number", "time" or "text" (by its name)."""
    if name.endswith("_prevalence") or name in ("mde_events",):
        return "number"
    if name.endswith(("_first_seen", "_last_seen")):
        return "time"
    return "text"


def _header(name: str) -> str:
    return f"{name} (UTC)" if column_kind(name) == "time" else name


@lru_cache(maxsize=65536)
def parse_time(text: str) -> datetime | None:
    """An ISO 8601 timestamp as a naive UTC datetime (what Excel holds), None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_number(text: str) -> int | float | None:
    """A prevalence cell as a number, None when it is not one (e.g. "3;5")."""
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def sheet_names(sources: Sequence[Source]) -> list[str]:
    """A valid, unique sheet name per source: the file's name without extension, without the
    characters Excel refuses (`[]:*?/\\`), at most 31 characters, not `Summary` nor `History`,
    unique ignoring case (a `(2)`, `(3)`... suffix when taken)."""
    taken = {SUMMARY_SHEET.lower(), "history"}
    names = []
    for src in sources:
        base = "stdin" if src.name == "-" else os.path.basename(src.name.rstrip("/\\")) or src.name
        stem = os.path.splitext(base)[0] or base
        clean = _BAD_SHEET_CHARS.sub("_", stem).strip().strip("'").strip() or "input"
        name, n = clean[:31], 1
        while name.lower() in taken:
            n += 1
            suffix = f" ({n})"
            name = clean[: 31 - len(suffix)].rstrip() + suffix
        taken.add(name.lower())
        names.append(name)
    return names


def check_targets(targets: Sequence[Target], rows: int, count_rows=None) -> None:
    """Before any lookup: UsageError when an input has more rows than a sheet holds, or when the
    workbook would go to a terminal.

    `rows` is every input's rows together (the plan's count): when it fits in a sheet, so does each
    input; otherwise each input's rows are counted (`count_rows(source)`, default: read it).
    """
    for target in targets:
        if target.path == "-" and sys.stdout.isatty():
            raise UsageError("an xlsx workbook is binary: give -o FILE.xlsx rather than the terminal")
    if rows < MAX_SHEET_ROWS:
        return
    count = count_rows or _count_rows
    for target in targets:
        for src in target.sources:
            n = count(src)
            if n >= MAX_SHEET_ROWS:
                raise UsageError(
                    f"{src.name}: {n:,} rows, more than an Excel sheet holds ({MAX_SHEET_ROWS - 1:,} under "
                    "the header); write CSV (--to csv) or split the input"
                )


def _count_rows(source: Source) -> int:
    return sum(len(chunk.indicators) for chunk in source.chunks())


class _Sheet:
    """One input's sheet: its columns, how each is written and how wide it is."""

    def __init__(self, book: Any, name: str, source: Source) -> None:
        self.name = name
        self.source = source
        self.inputs = len(source.columns())
        self.columns = [*source.columns(), *MDE_COLUMNS]
        self.kinds = ["text"] * self.inputs + [column_kind(c) for c in MDE_COLUMNS]
        self.widths = [min(MAX_WIDTH, max(MIN_WIDTH, len(_header(c)) + 2)) for c in self.columns]
        self.rows = 0
        self.sheet = book.add_worksheet(name)


class XlsxSink(Sink):
    """An Excel workbook: one sheet per source, then `Summary`.

    `counts`: rows by `mde_status`, `rows`, `seen_rows`, `indicators` (the `mde_type` entries),
    `truncated_cells` (cut at 32,767 characters).
    """

    format = "xlsx"
    suffix = ".enriched.xlsx"

    _out: AtomicFile | None = None
    _book: Any = None

    @classmethod
    def check_rows(cls, targets: Sequence[Target], rows: int) -> None:
        check_targets(targets, rows)

    def begin(self) -> None:
        import xlsxwriter  # only a run writing xlsx pays for the import

        problem = writable_problem(self.path)
        if problem:
            raise SinkError(f"{self.path}: {problem}")
        try:
            self._out = AtomicFile(self.path)
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        target = self._out.file
        self._book = book = xlsxwriter.Workbook(
            getattr(target, "buffer", target),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        book.set_properties({"title": "enrich: what MDE has seen", "comments": f"enrich {__version__}"})
        self._fmt = {
            "header": book.add_format({"bold": True, "bg_color": "#D9E1F2", "bottom": 1}),
            "seen": book.add_format({"bg_color": SEEN_FILL}),
            "time": book.add_format({"num_format": _TIME_FORMAT}),
            "seen_time": book.add_format({"num_format": _TIME_FORMAT, "bg_color": SEEN_FILL}),
        }
        self._sheets = {
            id(src): _Sheet(book, name, src)
            for src, name in zip(self.sources, sheet_names(self.sources), strict=True)
        }
        for sheet in self._sheets.values():
            self._write_header(sheet)
        self._answers_seen: Counter[str] = Counter()
        self._answered_by: Counter[str] = Counter()
        self._strategy = ""

    def _write_header(self, sheet: _Sheet) -> None:
        header = self._fmt["header"]
        for col, name in enumerate(sheet.columns):
            self._text(sheet.sheet, 0, col, _header(name), header)
        sheet.sheet.freeze_panes(1, 0)

    def _text(self, ws: Any, row: int, col: int, value: str, fmt: Any = None) -> None:
        if len(value) > MAX_CELL_CHARS:
            value = value[:MAX_CELL_CHARS]
            self.counts["truncated_cells"] += 1
        if value.startswith("<r>") and value.endswith("</r>"):
            # xlsxwriter would paste this into the XML as rich text: write plain runs instead
            runs = (value[:1], value[1:2], value[2:])
            ws.write_rich_string(row, col, *runs, *((fmt,) if fmt is not None else ()))
        else:
            ws.write_string(row, col, value, fmt)

    def write(self, source: Source, outcomes: Outcomes) -> None:
        assert self._book is not None, "begin() first"
        sheet = self._sheets[id(source)]
        ws, fmt, widths, kinds = sheet.sheet, self._fmt, sheet.widths, sheet.kinds
        seen_row, time_fmt, seen_time = fmt["seen"], fmt["time"], fmt["seen_time"]
        status_at = MDE_COLUMNS.index("mde_status")
        type_at = MDE_COLUMNS.index("mde_type")
        counts = self.counts
        text, write_number, write_datetime = self._text, ws.write_number, ws.write_datetime
        self._strategy = _mode_text(outcomes.strategy.choice(), outcomes.strategy.name)
        for chunk, cells in outcomes.rows(source):
            inputs = [_texts(chunk.frame.iloc[:, j]) for j in range(chunk.frame.shape[1])]
            if len(inputs) != sheet.inputs:
                raise SinkError(f"{source.name}: a row has more fields than the sheet's columns")
            for j, column in enumerate(inputs):
                longest = max(map(len, column), default=0)
                if longest + 2 > widths[j]:
                    widths[j] = min(MAX_WIDTH, longest + 2)
            first = sheet.rows + 1
            for i, row_cells in enumerate(cells):
                r = first + i
                seen = row_cells[status_at] == _SEEN
                if seen:
                    ws.set_row(r, None, seen_row)
                    counts["seen_rows"] += 1
                counts[row_cells[status_at]] += 1
                if row_cells[type_at]:
                    counts["indicators"] += row_cells[type_at].count(";") + 1
                for j, column in enumerate(inputs):
                    value = column[i]
                    if value:
                        text(ws, r, j, value)
                base = sheet.inputs
                for k, value in enumerate(row_cells):
                    if not value:
                        continue
                    col, kind = base + k, kinds[base + k]
                    if kind == "number" and (number := parse_number(value)) is not None:
                        write_number(r, col, number)
                    elif kind == "time" and (moment := parse_time(value)) is not None:
                        write_datetime(r, col, moment, seen_time if seen else time_fmt)
                    else:
                        text(ws, r, col, value)
                        if len(value) + 2 > widths[col]:
                            widths[col] = min(MAX_WIDTH, len(value) + 2)
            sheet.rows += len(cells)
        counts["rows"] += sheet.rows
        for kind, col in zip(kinds, range(len(kinds)), strict=True):
            if kind == "time":
                widths[col] = max(widths[col], len(_TIME_FORMAT) + 2)
        if outcomes.answers is not None:
            self._answers_seen = Counter(a.status.value for a in outcomes.answers.values())
            self._answered_by = Counter(answered_by(a) or "(not said)" for a in outcomes.answers.values())

    def _finish_sheets(self) -> None:
        for sheet in self._sheets.values():
            ws = sheet.sheet
            ws.autofilter(0, 0, sheet.rows, len(sheet.columns) - 1)
            for col, width in enumerate(sheet.widths):
                ws.set_column(col, col, width)

    def _write_summary(self) -> None:
        ws = self._book.add_worksheet(SUMMARY_SHEET)
        header, bold = self._fmt["header"], self._book.add_format({"bold": True})
        opts = self.options
        lines: list[tuple[str, Any]] = [
            ("written (UTC)", datetime.now(UTC).replace(tzinfo=None, microsecond=0)),
            ("enrich version", __version__),
            ("mode (how MDE was asked)", self._strategy or "(none)"),
            ("lookback hours", opts.lookback_hours),
            ("MDE API", opts.api_url or "(not recorded)"),
            ("rows", self.counts["rows"]),
            ("indicators", self.counts["indicators"]),
        ]
        lines += [(f"rows {s.value}", self.counts[s.value]) for s in Status if s is not Status.PENDING]
        lines += [(f"lookups answered {k}", v) for k, v in sorted(self._answers_seen.items())]
        lines += [(f"lookups answered by {k}", v) for k, v in sorted(self._answered_by.items())]
        if self.counts["truncated_cells"]:
            lines.append(("cells cut at 32,767 characters", self.counts["truncated_cells"]))
        self._text(ws, 0, 0, "what", header)
        self._text(ws, 0, 1, "value", header)
        r = 1
        for label, value in lines:
            self._text(ws, r, 0, label, bold)
            if isinstance(value, datetime):
                ws.write_datetime(r, 1, value, self._fmt["time"])
            elif isinstance(value, int):
                ws.write_number(r, 1, value)
            else:
                self._text(ws, r, 1, str(value))
            r += 1
        r += 1
        for col, name in enumerate(("sheet", "input", "rows")):
            self._text(ws, r, col, name, header)
        for sheet in self._sheets.values():
            r += 1
            self._text(ws, r, 0, sheet.name)
            self._text(ws, r, 1, sheet.source.name)
            ws.write_number(r, 2, sheet.rows)
        ws.set_column(0, 0, 32)
        ws.set_column(1, 1, 60)
        ws.set_column(2, 2, 12)

    def commit(self) -> None:
        if self._book is None or self._out is None:
            return
        self._finish_sheets()
        self._write_summary()
        book, self._book = self._book, None
        try:
            book.close()
            self._out.commit()
        except Exception as exc:  # xlsxwriter wraps OSError in its own FileCreateError
            self._out.abort()
            cause = exc.__cause__ or exc.__context__ or exc
            raise SinkError(
                f"{self.path}: write failed ({getattr(cause, 'strerror', None) or cause})"
            ) from None

    def abort(self) -> None:
        book, self._book = self._book, None
        if book is not None:
            # the sheets' temporary files: closed and removed without assembling a workbook
            for ws in book.worksheets():
                handle = getattr(ws, "row_data_fh", None)
                if handle is not None and not handle.closed:
                    handle.close()
                name = getattr(ws, "row_data_filename", None)
                if name and os.path.exists(name):
                    os.unlink(name)
        if self._out is not None:
            self._out.abort()


def _texts(column: pd.Series) -> list[str]:
    if column.hasnans:
        column = column.fillna("")
    return [v if isinstance(v, str) else str(v) for v in column.tolist()]


def _mode_text(choice: Mapping[str, Any], name: str) -> str:
    """What answered, as the report says it: `hunt (asked: auto)`, or `stats` when asked so."""
    chosen, asked = str(choice.get("chosen") or name), str(choice.get("asked") or name)
    return chosen if chosen == asked else f"{chosen} (asked: {asked})"
