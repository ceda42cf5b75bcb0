"""CSV and plain-list input: rows streamed with the layout `enrich.sources.csv_layout.sniff` found.

Rows are then streamed with pandas' C parser (all text, nothing turned into NaN). Cells are kept
exactly as read, leading and trailing spaces included (the classifier trims what it reads, not
the cell). Every field is kept: the layout has a column for each field of the widest record of
the sample (`extra_1`, `extra_2`, ... after the header's names), trailing empty fields included;
rows with fewer fields are padded with "". When the C parser rejects a row wider than that,
reading continues with Python's csv module from that row on and the source gets more columns
(`columns()` grows: a writer that already wrote its header must start again, see `widened`).
A row whose first cell starts with `#` and whose other cells are empty is a comment
(`# END 28 entries`) and is skipped; blank lines (and lines of spaces) too. Every other row is kept.

Bytes that are not UTF-8 in a UTF-8 file are read one by one as cp1252 characters; once a pass
met some, `stray_lines()` says which lines hold them.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from itertools import islice

import numpy as np
import pandas as pd
from pandas.errors import EmptyDataError, ParserError, ParserWarning

from enrich.indicators import extract
from enrich.model import Indicator
from enrich.sources.csv_layout import (
    CHUNK_ROWS,
    DECODE_ERRORS,
    MEMO_CELLS,
    ONE_VALUE,
    CsvLayout,
    _fail,
    _fit,
    _is_blank,
    _is_comment,
    extra_names,
    fallback_count,
    sniff,
    stray_lines,
)
from enrich.sources.interface import Chunk, Source

__all__ = [
    "CHUNK_ROWS",
    "ONE_VALUE",
    "CsvLayout",
    "CsvSource",
    "describe",
    "describe_stray",
    "sniff",
]


class _Ragged(Exception):
    """The C parser met a row it cannot take; continue with the csv module."""


class CsvSource(Source):
    """A CSV file (or a one-value-per-line list) read in chunks; see the module docstring."""

    format = "csv"

    def __init__(
        self, path: str, column: str | None = None, *, name: str | None = None, chunk_rows: int = CHUNK_ROWS
    ) -> None:
        self.path = path
        self.name = path if name is None else name
        self.chunk_rows = chunk_rows
        self.layout = sniff(path, self.name, column)
        self.bom = self.layout.bom
        self._columns = list(self.layout.columns)  # grows when a row wider than the sample's is read
        self._python_reader = False  # set once the C parser failed on this file
        self._memo: dict[str, tuple[Indicator, ...]] = {}
        self._stray: tuple[int, list[int]] | None = None  # see stray_lines()
        self._scanned = False  # the file was scanned for stray bytes
        self._settled = self.layout.whole  # columns() is final (the file was read whole once)

    def settle_columns(self) -> None:
        """Make `columns()` final: read the file once unless that was done (or the sniffer saw it whole)."""
        if not self._settled:
            for _ in self.frames():
                pass

    def describe(self) -> str:
        return describe(self)

    def stray_lines(self) -> tuple[int, list[int]]:
        """(lines holding bytes that are not UTF-8, the first 20 line numbers, 1-based, counted
        from the start of the file) in a UTF-8 file; (0, []) for other encodings. Known once the
        file has been read whole (a pass of `chunks()` or `frames()`), or at once when the sniffed
        sample already held such bytes."""
        if self._stray is None and self.layout.stray_bytes:
            self._scan()
        return self._stray or (0, [])

    def _scan(self) -> None:
        if self._scanned or self.layout.encoding != "utf-8":
            return
        self._scanned = True
        try:
            self._stray = stray_lines(self.path)
        except OSError as exc:
            raise _fail(self.name, f"read failed ({exc.strerror or exc})") from None

    @property
    def indicator_column(self) -> str:
        """The name of the column the indicators are read from."""
        return self.layout.columns[self.layout.indicator_column]

    def columns(self) -> list[str]:
        return list(self._columns)

    def _widen(self, width: int) -> None:
        """Columns for `width` fields: the reader met a row wider than any before."""
        self._columns += extra_names(self._columns, width, self.layout.header_source != "none")

    def chunks(self) -> Iterator[Chunk]:
        for frame in self.frames():
            yield Chunk(frame, self.indicators(frame))

    def indicators(self, frame: pd.DataFrame) -> list[tuple[Indicator, ...]]:
        """extract() of the indicator column, row by row.

        Each distinct cell is classified once per chunk, and is remembered across chunks and
        passes (up to MEMO_CELLS cells): equal cells share one tuple object.
        """
        values = frame.iloc[:, self.layout.indicator_column].to_numpy(dtype=object)
        if len(values) == 0:
            return []
        codes, uniques = pd.factorize(values)
        memo = self._memo
        if len(memo) > MEMO_CELLS:
            memo.clear()
        found = np.empty(len(uniques), dtype=object)
        found[:] = [memo.get(v) or memo.setdefault(v, extract(v)) for v in uniques.tolist()]
        return found[codes].tolist()

    def frames(self, rows: int | None = None) -> Iterator[pd.DataFrame]:
        """The rows as DataFrames of text, columns named as in `columns()` (duplicates kept).

        `rows`: rows per frame (at most; default `chunk_rows`).
        """
        rows = self.chunk_rows if rows is None else rows
        before = fallback_count()
        yield from self._frames(rows)
        self._settled = True
        if fallback_count() != before:  # some bytes did not decode: which lines hold them?
            self._scan()

    def _frames(self, rows: int) -> Iterator[pd.DataFrame]:
        done = 0
        if not self._python_reader:
            try:
                for raw in self._c_frames(rows):
                    done += len(raw)
                    frame = self._finish(raw)
                    if len(frame):
                        yield frame
                return
            except _Ragged:
                self._python_reader = True
        for raw in self._python_frames(done, rows):
            frame = self._finish(raw)
            if len(frame):
                yield frame

    def _open(self):
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 (closed by the callers)
            fh.seek(self.layout.data_offset)
        except OSError as exc:
            raise _fail(self.name, f"cannot read ({exc.strerror or exc})") from None
        return fh

    def _c_frames(self, rows: int) -> Iterator[pd.DataFrame]:
        lay = self.layout
        with self._open() as fh:
            try:
                reader = pd.read_csv(
                    fh,
                    sep=lay.delimiter,
                    header=0 if lay.has_header else None,
                    names=[f"c{k}" for k in range(len(self._columns))],
                    index_col=False,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skipinitialspace=lay.skip_space,
                    encoding=lay.encoding,
                    encoding_errors=DECODE_ERRORS,
                    chunksize=rows,
                    engine="c",
                )
                while True:
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", ParserWarning)
                        try:
                            raw = next(reader)
                        except StopIteration:
                            return
                    yield raw
            except EmptyDataError:
                return
            except (ParserError, ParserWarning):
                raise _Ragged from None
            except OSError as exc:
                raise _fail(self.name, f"read failed ({exc.strerror or exc})") from None

    def _python_frames(self, skip: int, rows: int) -> Iterator[pd.DataFrame]:
        lay = self.layout
        with self._open() as fh:
            text = io.TextIOWrapper(fh, encoding=lay.encoding, errors=DECODE_ERRORS, newline="")
            reader = csv.reader(text, delimiter=lay.delimiter, skipinitialspace=lay.skip_space, strict=False)
            rows_read: Iterator[list[str]] = (r for r in reader if not _is_blank(r))
            try:
                if lay.has_header:
                    next(rows_read, None)
                records = islice(rows_read, skip, None)
                while batch := list(islice(records, rows)):
                    # a comment line (dropped by `_finish`) never widens the source
                    width = max((len(r) for r in batch if not _is_comment(r)), default=0)
                    if width > len(self._columns):
                        self._widen(width)
                    width = len(self._columns)
                    # only a comment line can be wider now, and its cells past the first are empty
                    batch = [r[:width] if len(r) > width else _fit(r, width) for r in batch]
                    yield pd.DataFrame(batch, columns=[f"c{k}" for k in range(width)], dtype=str)
            except csv.Error as exc:
                raise _fail(self.name, f"unreadable CSV near record {reader.line_num}: {exc}") from None
            except OSError as exc:
                raise _fail(self.name, f"read failed ({exc.strerror or exc})") from None

    def _finish(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Drop comment rows, set the column names."""
        first = raw.iloc[:, 0].to_numpy(dtype=object)
        if "#" in "".join(first):  # cheap test first; most chunks have no comment rows
            maybe = np.fromiter((v.lstrip().startswith("#") for v in first), dtype=bool, count=len(first))
            rest_empty = (raw.iloc[:, 1:].to_numpy(dtype=object) == "").all(axis=1)
            if (maybe & rest_empty).any():
                raw = raw[~(maybe & rest_empty)]
        raw = raw.reset_index(drop=True)
        raw.columns = self._columns[: raw.shape[1]]
        return raw


def describe(source: CsvSource) -> str:
    """One line on how a file was read (for messages and --verbose output)."""
    lay = source.layout
    delim = {"\t": "tab", ONE_VALUE: "one value per line"}.get(lay.delimiter, repr(lay.delimiter))
    header = {"row": "header row", "comment": "header in a # comment line", "none": "no header"}
    encoding = lay.encoding + " with BOM" * lay.bom
    if lay.stray_bytes:
        encoding += " (bytes that are not UTF-8 read as cp1252)"
    return (
        f"{source.name}: {encoding}, delimiter {delim}, {header[lay.header_source]}, "
        f"indicators from column {source.indicator_column!r}"
    )


def describe_stray(source: CsvSource) -> str | None:
    """One line naming the lines of `source` with bytes that are not UTF-8, None when it has none."""
    count, lines = source.stray_lines()
    if not count:
        return None
    shown = ", ".join(map(str, lines)) + (", ..." if count > len(lines) else "")
    return (
        f"{source.name}: {count} line{'s' * (count != 1)} with bytes that are not UTF-8, "
        f"read as cp1252: line{'s' * (count != 1)} {shown}"
    )
