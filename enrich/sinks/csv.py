"""CSV output: every input column, unchanged and in order, then the `mde_*` columns.

- One output row per input row, in input order.
- Atomic: rows go to a hidden temporary file next to the target, which replaces the target only
  when everything is written (`commit`). On any error or Ctrl-C (`abort`) the temporary file is
  removed and an existing target is left as it was. `-` writes to stdout (not atomic).
- Spreadsheet-formula neutralisation (on by default): a cell starting with `=`, `+`, `-`, `@`,
  tab, CR or NUL gets a leading `'`, so Excel/LibreOffice show it as text instead of running it.
  Plain numbers (`-1`, `+44`, `-2.5e3`) and a lone `-` or `+` are left alone: they cannot run.
  Header cells are treated the same way.
- Name clashes: when an input already has a column called like an `mde_*` column (e.g. a file
  that was enriched before), both are written: the input's column where it was, ours appended
  under the same name. `csv.DictReader` then gives ours (the last wins); pandas names ours
  `mde_status.1`.
- Several sources in one file: a first column `source_file` (the input as given), then the union
  of the inputs' columns in order of first appearance (matched by name; a name repeated within
  one input is matched by occurrence), empty where an input lacks a column, then `mde_*`.
- UTF-8, `\n` line ends, fields quoted only when needed. A byte order mark when an input had
  one (a UTF-16 input's becomes UTF-8's) or when asked (`bom=True`: Excel reads UTF-8 without
  a BOM as the local code page).
- A source whose rows grew wider than its columns when the header was written (a ragged row
  after the sampled part of a CSV file) raises `ColumnsChanged`: write again from the start
  (`enrich.classify_job` does; `enrich run` has read every input once before it writes).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import IO

import numpy as np
import pandas as pd

from enrich.errors import OutputError
from enrich.model import MDE_COLUMNS
from enrich.outcome import Outcomes
from enrich.sinks.atomic import AtomicFile
from enrich.sinks.interface import Sink
from enrich.sinks.targets import writable_problem
from enrich.sources.interface import Source

__all__ = [
    "SOURCE_COLUMN",
    "ColumnsChanged",
    "CsvSink",
    "CsvWriter",
    "SinkError",
    "mde_text",
    "neutralise_cell",
    "output_columns",
]

SOURCE_COLUMN = "source_file"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
_FIRST = frozenset(_TRIGGERS)
_ANY_TRIGGER = re.compile(r"\n[=+\-@\t\r\0]")
_LATER_TRIGGER = re.compile(r",[=+\-@\t\r\0]")  # in a row of cells: a cell after the first one starts so
_PLAIN_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)?")
# mde_* cells that may carry input or MDE-provided text (the rest is ours): neutralised like input cells.
_CHECKED_MDE = tuple(
    MDE_COLUMNS.index(name)
    for name in (
        "mde_value",
        "mde_error",
        "mde_note",
        "mde_lookup",
        "mde_top_file_names",
        "mde_file_signer",
        "mde_file_issuer",
        "mde_file_publisher",
        "mde_file_product",
        "mde_file_determination_value",
        "mde_devices",
    )
)
_checked = itemgetter(*_CHECKED_MDE)


class SinkError(OutputError):
    """The output cannot be written. The message is one line naming the output and the problem."""


class ColumnsChanged(SinkError):
    """A source has more columns than when the output's header was written."""

    def __init__(self, source: Source) -> None:
        super().__init__(
            f"{source.name}: a row has more fields than the columns written in the output's header "
            "(did the file change while it was read?)"
        )
        self.source = source


def neutralise_cell(value: str) -> str:
    """`value` with a leading `'` when a spreadsheet would run it as a formula."""
    if value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _keys(names: Sequence[str]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    keys = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        keys.append((n, seen[n]))
    return keys


def output_columns(sources: Sequence[Source]) -> list[str]:
    """The header a CsvSink writes for these sources."""
    return _plan(sources)[0] + list(MDE_COLUMNS)


def _plan(sources: Sequence[Source]) -> tuple[list[str], dict[int, list[int]]]:
    """(input part of the header, per source: output position of each of its columns)."""
    if len(sources) == 1:
        cols = sources[0].columns()
        return list(cols), {id(sources[0]): list(range(len(cols)))}
    union: list[tuple[str, int]] = []
    where: dict[tuple[str, int], int] = {}
    positions: dict[int, list[int]] = {}
    for src in sources:
        pos = []
        for key in _keys(src.columns()):
            if key not in where:
                where[key] = len(union) + 1
                union.append(key)
            pos.append(where[key])
        positions[id(src)] = pos
    return [SOURCE_COLUMN] + [name for name, _ in union], positions


class CsvWriter:
    """Writes chunks of rows and their `mde_*` cells to one CSV file (or stdout for `-`).

    The file is opened (and its header written) when the writer is made; `commit` or `abort`.
    """

    def __init__(
        self, path: str, sources: Sequence[Source], *, neutralise: bool = True, bom: bool = False
    ) -> None:
        if not sources:
            raise ValueError("CsvSink needs at least one source")
        self.path = path
        self.neutralise = neutralise
        self.bom = bom or any(getattr(s, "bom", False) for s in sources)
        self.rows = 0
        self._multi = len(sources) > 1
        self._cells = _CellsCache()
        self._header, self._positions = _plan(sources)
        self._widths = {id(s): len(s.columns()) for s in sources}
        self._file = self._open()
        self._out: IO[str] = self._file.file
        header = self._header + list(MDE_COLUMNS)
        self._writer = csv.writer(self._out, lineterminator="\n")
        self._echo = csv.writer(_Echo(), lineterminator="\r\n")
        self._flat = csv.writer(_Echo(), lineterminator="").writerow  # for rows without line breaks
        header = [neutralise_cell(h) for h in header] if neutralise else header
        self._guard(self._out.write, "\ufeff" * self.bom + next(self._lines([header])) + "\n")

    # -- opening and closing ------------------------------------------------------------
    def _open(self) -> AtomicFile:
        problem = writable_problem(self.path)
        if problem:
            raise SinkError(f"{self.path}: {problem}")
        try:
            return AtomicFile(self.path, newline="", buffering=1024 * 1024)
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            self.abort()
            raise SinkError(f"{self.path}: write failed ({exc.strerror or exc})") from None

    def commit(self) -> None:
        """Finish: flush, and move the temporary file over the target."""
        try:
            self._file.commit()
        except OSError as exc:
            raise SinkError(f"{self.path}: write failed ({exc.strerror or exc})") from None

    def abort(self) -> None:
        """Give up: remove the temporary file; the target is untouched."""
        self._file.abort()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    # -- writing ------------------------------------------------------------------------
    def write(self, source: Source, frame: pd.DataFrame, cells: Sequence[tuple[str, ...]]) -> None:
        """Write one chunk: `frame` holds `source`'s columns, `cells[i]` the mde_* cells of row i."""
        n = len(frame)
        if n != len(cells):
            raise ValueError(f"{n} rows but {len(cells)} mde_* rows")
        if n == 0:
            return
        columns, has_cr, breaks, quote = self._columns(source, frame)
        codes, entries, fresh = self._cells.entries(cells, self.neutralise)
        if columns and 2 * fresh <= n:
            # Most rows' mde_* cells were seen before (classify, repeated values): render them once.
            frags = np.empty(len(entries), dtype=object)
            frags[:] = self._cells.rendered(entries)
            lines = self._input_lines(columns, breaks, quote)
            self._guard(self._out.write, "".join(map(str.__add__, lines, frags[codes].tolist())))
        else:
            if all(e[1] is e[0] for e in entries):
                safe: Sequence[tuple[str, ...]] = cells
            else:
                arr = np.empty(len(entries), dtype=object)
                arr[:] = [e[1] for e in entries]
                safe = arr[codes].tolist()
            rows = map(tuple.__add__, zip(*columns, strict=True), safe) if columns else safe
            if has_cr or any(e[3] for e in entries):
                self._guard(self._out.write, "".join(map(str.__add__, self._lines(rows), repeat("\n"))))
            else:
                self._guard(self._writer.writerows, rows)
        self.rows += n

    def write_text(self, source: Source, frame: pd.DataFrame, tails: Sequence[str]) -> None:
        """Write one chunk whose mde_* cells come as CSV text: `tails[i]` is `mde_text()` of row i's
        cells (with this sink's `neutralise`). Same output as `write` with the cells."""
        n = len(frame)
        if n != len(tails):
            raise ValueError(f"{n} rows but {len(tails)} mde_* rows")
        if n == 0:
            return
        columns, _, breaks, quote = self._columns(source, frame)
        if columns:
            lines = self._input_lines(columns, breaks, quote)
            self._guard(self._out.write, "".join(map(str.__add__, lines, tails)))
        else:
            self._guard(self._out.write, "".join(t[1:] for t in tails))
        self.rows += n

    def _columns(self, source: Source, frame: pd.DataFrame) -> tuple[list[list[str]], bool, bool, list[bool]]:
        """(the output's input columns for `frame`, neutralised if asked; a cell holds a CR; a CR or LF).

        And per column: whether a cell holds a `,` or `"` (to quote)."""
        n = len(frame)
        if frame.shape[1] != self._widths[id(source)]:
            raise ColumnsChanged(source)
        values = [_texts(frame.iloc[:, j]) for j in range(frame.shape[1])]
        if self._multi:
            columns: list[list[str]] = [[""] * n for _ in self._header]
            columns[0] = [source.name] * n
            for col, pos in zip(values, self._positions[id(source)], strict=True):
                columns[pos] = col
        else:
            columns = values
        scanned = [_scan_column(c, self.neutralise) for c in columns]
        has_cr = any(s[1] for s in scanned)
        breaks = has_cr or any(s[2] for s in scanned)
        return [s[0] for s in scanned], has_cr, breaks, [s[3] for s in scanned]

    def _quoted(self, column: list[str]) -> list[str]:
        """The cells of a column without line breaks as CSV text (csv.writer's, for those holding
        `,` or `"`: the others it writes as they are)."""
        flat = self._flat
        return [flat((v,)) if "," in v or '"' in v else v for v in column]

    def _input_lines(self, columns: list[list[str]], breaks: bool, quote: list[bool]) -> Iterable[str]:
        """Each row's input cells as CSV text (no line end), to be followed by `,` and the mde_* cells.

        Without line breaks, cell by cell (only the columns that `quote` says hold a `,` or `"`),
        joined by ","; with them, rows whole (a lone empty field renders as `""` there, written as
        nothing when more fields follow).
        """
        if not breaks:
            texts = [self._quoted(c) if q else c for c, q in zip(columns, quote, strict=True)]
            return map(",".join, zip(*texts, strict=True))
        lines = self._lines(zip(*columns, strict=True))
        if len(columns) == 1 and "" in columns[0]:
            return ["" if v == "" else line for v, line in zip(columns[0], lines, strict=True)]
        return lines

    def _lines(self, rows) -> Iterator[str]:
        """Each row as CSV text without its line end; a field holding CR or LF is quoted.

        (csv.writer quotes only the characters of its own line terminator, so a lone CR would go
        out bare with "\n" line ends: rendering with "\r\n" and cutting it off quotes both.)
        """
        return map(str.removesuffix, map(self._echo.writerow, rows), repeat("\r\n"))


def mde_text(cells: tuple[str, ...], neutralise: bool) -> str:
    """`,` + the CSV text of one row's mde_* cells (neutralised if asked) + `\n`, as `CsvSink` writes it."""
    line = ",".join(cells)
    if (
        line.count(",") != len(cells) - 1  # a cell holds a comma
        or '"' in line
        or "\n" in line
        or "\r" in line
        or line[:1] in _FIRST
        or _LATER_TRIGGER.search(line) is not None
    ):  # a cell to quote, or one that may need neutralising: the long way
        safe = _neutralise_cells([cells])[0] if neutralise else cells
        return "," + _RENDER(safe).removesuffix("\r\n") + "\n"
    return "," + line + "\n"


class _CellsCache:
    """Per distinct mde_* cells tuple: its neutralised form and its CSV text, by identity.

    Rows of one value share one cells tuple (classify hands them out that way), so each tuple is
    checked and rendered once, across chunks. Entries hold their tuple, which keeps its id from
    being reused. Bounded: cleared when full.
    """

    def __init__(self, size: int = 1 << 17) -> None:
        self.size = size
        # id -> [tuple, neutralised tuple, CSV text or None, holds a CR]
        self._known: dict[int, list] = {}
        self._render = _RENDER

    def entries(
        self, cells: Sequence[tuple[str, ...]], neutralise: bool
    ) -> tuple[np.ndarray, list[list], int]:
        """(row -> entry index, one entry per distinct tuple in `cells`, how many were new)."""
        n = len(cells)
        known = self._known
        if len(known) > self.size:
            known.clear()
        codes, _ = pd.factorize(np.fromiter(map(id, cells), dtype=np.int64, count=n))
        first = np.empty(codes.max() + 1, dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
        distinct = [cells[i] for i in first.tolist()]
        fresh = [c for c in distinct if id(c) not in known]
        if fresh:
            text = "\n" + "\n".join(chain.from_iterable(map(_checked, fresh)))
            safe = _neutralise_cells(fresh) if neutralise and _ANY_TRIGGER.search(text) else fresh
            crs = (
                [any("\r" in v for v in _checked(c)) for c in fresh] if "\r" in text else [False] * len(fresh)
            )
            for orig, clean, cr in zip(fresh, safe, crs, strict=True):
                known[id(orig)] = [orig, clean, None, cr]
        return codes, [known[id(c)] for c in distinct], len(fresh)

    def rendered(self, entries: list[list]) -> list[str]:
        """`,` + the CSV text (with a "\n" line end) of each entry's neutralised cells."""
        for e in entries:
            if e[2] is None:
                e[2] = "," + self._render(e[1]).removesuffix("\r\n") + "\n"
        return [e[2] for e in entries]


class _Echo:
    """A 'file' whose write returns the text: csv.writer(...).writerow then returns the line."""

    write = staticmethod(str)


_RENDER = csv.writer(_Echo(), lineterminator="\r\n").writerow


def _scan_column(values: list[str], neutralise: bool) -> tuple[list[str], bool, bool, bool]:
    """(the column, neutralised if asked; whether a cell holds a CR; an LF; a `,` or `"`), checked
    at C speed."""
    if not values:
        return values, False, False, False
    text = "\n" + "\n".join(values)
    if neutralise and _ANY_TRIGGER.search(text):
        first, number = _FIRST, _PLAIN_NUMBER.fullmatch
        values = [("'" + v) if v[:1] in first and not number(v) else v for v in values]
    return values, "\r" in text, text.count("\n") > len(values), "," in text or '"' in text


def _neutralise_cells(cells: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`cells` with the cells a spreadsheet would run neutralised (same tuple objects when clean)."""
    rows: set[int] = set()
    for k in _CHECKED_MDE:
        column = list(map(itemgetter(k), cells))
        if _ANY_TRIGGER.search("\n" + "\n".join(column)):
            rows.update(i for i, v in enumerate(column) if v[:1] in _FIRST)
    out = list(cells)
    for i in rows:
        out[i] = tuple(neutralise_cell(v) if k in _CHECKED_MDE else v for k, v in enumerate(out[i]))
    return out


def _texts(column: pd.Series) -> list[str]:
    if column.hasnans:
        column = column.fillna("")
    values = column.tolist()
    if column.dtype != object and pd.api.types.is_string_dtype(column.dtype):
        return values
    return [v if isinstance(v, str) else str(v) for v in values]


class CsvSink(Sink):
    """The CSV output behind the sink interface (a `CsvWriter` per output)."""

    format = "csv"
    suffix = ".enriched.csv"

    _writer: CsvWriter | None = None

    def begin(self) -> None:
        self._writer = CsvWriter(
            self.path, self.sources, neutralise=self.options.neutralise, bom=self.options.bom
        )

    def write(self, source: Source, outcomes: Outcomes) -> None:
        writer = self._writer
        assert writer is not None, "begin() first"
        counts = self.counts
        for chunk, cells in outcomes.rows(source):
            counts.update(c[2] for c in cells)
            writer.write(source, chunk.frame, cells)
        counts["rows"] = writer.rows

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
