"""CSV and plain-list input: rows streamed with the layout `enrich.sources.csv_layout.sniff` found.

Rows are then streamed with pandas' C parser (all text, nothing turned into NaN). Rows with more
fields than the header keep their extra text, joined to the last column with the delimiter
(trailing empty fields are dropped); rows with fewer fields are padded with "". When the C parser
rejects a row that the sample did not foresee, reading continues with Python's csv module from
that row on. A row whose first cell starts with `#` and whose other cells are empty is a comment
(`# END 28 entries`) and is skipped; blank lines too. Every other row is kept.
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
    _effective_width,
    _fail,
    _fit,
    _is_blank,
    sniff,
)
from enrich.sources.interface import Chunk, Source

__all__ = ["CHUNK_ROWS", "ONE_VALUE", "CsvLayout", "CsvSource", "describe", "sniff"]


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
        self._python_reader = False  # set once the C parser failed on this file
        self._memo: dict[str, tuple[Indicator, ...]] = {}

    @property
    def indicator_column(self) -> str:
        """The name of the column the indicators are read from."""
        return self.layout.columns[self.layout.indicator_column]

    def columns(self) -> list[str]:
        return list(self.layout.columns)

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
                    names=[f"c{k}" for k in range(lay.read_width)],
                    index_col=False,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skipinitialspace=True,
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
        names = [f"c{k}" for k in range(lay.read_width)]
        with self._open() as fh:
            text = io.TextIOWrapper(fh, encoding=lay.encoding, errors=DECODE_ERRORS, newline="")
            reader = csv.reader(text, delimiter=lay.delimiter, skipinitialspace=True, strict=False)
            rows_read: Iterator[list[str]] = (r for r in reader if not _is_blank(r))
            try:
                if lay.has_header:
                    next(rows_read, None)
                records = islice(rows_read, skip, None)
                while batch := [_fit(r, lay.read_width, lay.delimiter) for r in islice(records, rows)]:
                    yield pd.DataFrame(batch, columns=names, dtype=str)
            except csv.Error as exc:
                raise _fail(self.name, f"unreadable CSV near record {reader.line_num}: {exc}") from None
            except OSError as exc:
                raise _fail(self.name, f"read failed ({exc.strerror or exc})") from None

    def _finish(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Join extra fields to the last column, drop comment rows, set the column names."""
        lay = self.layout
        width = len(lay.columns)
        if raw.shape[1] > width:
            extra = raw.iloc[:, width:].to_numpy(dtype=object)
            wide = np.flatnonzero((extra != "").any(axis=1))
            if len(wide):
                last = raw.iloc[:, width - 1].to_numpy(dtype=object).copy()
                for i in wide:
                    fields = [last[i], *extra[i]]
                    last[i] = lay.delimiter.join(fields[: _effective_width(fields, 1)])
                raw[raw.columns[width - 1]] = pd.array(last, dtype=raw.dtypes.iloc[width - 1])
            raw = raw.iloc[:, :width]
        first = raw.iloc[:, 0].to_numpy(dtype=object)
        if "#" in "".join(first):  # cheap test first; most chunks have no comment rows
            maybe = np.fromiter((v.lstrip().startswith("#") for v in first), dtype=bool, count=len(first))
            rest_empty = (raw.iloc[:, 1:].to_numpy(dtype=object) == "").all(axis=1)
            if (maybe & rest_empty).any():
                raw = raw[~(maybe & rest_empty)]
        raw = raw.reset_index(drop=True)
        raw.columns = list(lay.columns)
        return raw


def describe(source: CsvSource) -> str:
    """One line on how a file was read (for messages and --verbose output)."""
    lay = source.layout
    delim = {"\t": "tab", ONE_VALUE: "one value per line"}.get(lay.delimiter, repr(lay.delimiter))
    header = {"row": "header row", "comment": "header in a # comment line", "none": "no header"}
    return (
        f"{source.name}: {lay.encoding}, delimiter {delim}, {header[lay.header_source]}, "
        f"indicators from column {source.indicator_column!r}"
    )
