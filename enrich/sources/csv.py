"""CSV and plain-list input, with the layout worked out from content.

`sniff()` reads the first 256 KiB once and decides, in this order:
- the encoding: UTF-8 (BOM or not), UTF-16 (BOM, or NUL-byte pattern without one), else cp1252.
  Bytes that do not decode (a stray cp1252 byte deep in a UTF-8 file, bytes cp1252 leaves
  undefined) are read as their cp1252/Latin-1 character; reading never fails on encoding.
- the banner: leading `#` and blank lines are skipped; the last `#` line may be the header
  (abuse.ch: `# id,dateadded,url,...`) when it has as many fields as the data rows.
- the delimiter (`,` tab `;` `|`): the one that splits the sample into the most consistent number
  of fields (ties: more fields, then that order). No consistent split: one value per line.
- the indicator column: each column is scored on the sample by the share of its cells holding an
  indicator (lookupable 1, unsupported 0.6). A column that nearly always holds the same value, or
  URLs on one host, counts half (reference links, a hosts file's sinkhole address). Columns within
  0.05 of the best are told apart by name (`ioc`, `indicator`, `value`... over `link`,
  `reference`, `mde_*`), then by position. `column=` (a name or a 1-based number) overrides.
- the header: the first row is data when its cell in that column holds an indicator that fits
  the column (not of another type than a single-typed column's); otherwise it is the header.
  Header-less files get `column_1..N`.

Rows are then streamed with pandas' C parser (all text, nothing turned into NaN). Rows with more
fields than the header keep their extra text, joined to the last column with the delimiter
(trailing empty fields are dropped); rows with fewer fields are padded with "". When the C parser
rejects a row that the sample did not foresee, reading continues with Python's csv module from
that row on. A row whose first cell starts with `#` and whose other cells are empty is a comment
(`# END 28 entries`) and is skipped; blank lines too. Every other row is kept.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd
from pandas.errors import EmptyDataError, ParserError, ParserWarning

from enrich.indicators import extract
from enrich.model import Indicator, IndicatorType, Status
from enrich.outcome import url_host
from enrich.sources.interface import Chunk, Source, SourceError

__all__ = ["CHUNK_ROWS", "ONE_VALUE", "CsvLayout", "CsvSource", "describe", "sniff"]

SAMPLE_BYTES = 256 * 1024
SAMPLE_RECORDS = 500
CHUNK_ROWS = 100_000
MEMO_CELLS = 1 << 17  # distinct cells remembered per source (plus one chunk's: ~80 MB at most)
DELIMITERS = (",", "\t", ";", "|")
ONE_VALUE = "\x1f"  # the "delimiter" of one-value-per-line files (a byte text never holds)
DECODE_ERRORS = "enrich-cp1252"
_GOOD_NAMES = re.compile(
    r"^(ioc|iocs|ioc_value|indicator|indicators|indicator_value|value|observable|data|"
    r"ip|ip_address|dst_ip|src_ip|domain|hostname|host|url|hash|md5|sha1|sha256|sha-256)$",
    re.I,
)
_BAD_NAMES = re.compile(r"(link|reference|^refs?$|^source|report|^mde_)", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_CP1252 = [bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)]
csv.field_size_limit(2**31 - 1)  # one cell may be long (a pasted report); the classifier caps it


def _decode_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode error handler: undecodable bytes become their cp1252 (or Latin-1) character."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(DECODE_ERRORS, _decode_fallback)


@dataclass(frozen=True)
class CsvLayout:
    """What `sniff` found out about a file."""

    encoding: str  # codec for the bytes after the BOM ("utf-8", "utf-16-le", "cp1252", ...)
    data_offset: int  # byte offset of the header row (or of the first data row)
    delimiter: str  # "," "\t" ";" "|" or ONE_VALUE
    has_header: bool  # the record at data_offset is the header row
    header_source: str  # "row", "comment" (a `#` banner line) or "none"
    columns: tuple[str, ...]
    read_width: int  # fields the C parser is given room for (>= len(columns))
    indicator_column: int  # 0-based
    scores: tuple[float, ...]  # per column, on the sample


# ---------------------------------------------------------------------------- sniffing
def _fail(name: str, problem: str) -> SourceError:
    return SourceError(f"{name}: {problem}")


def _read_head(path: str, name: str) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(SAMPLE_BYTES + 1)
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except IsADirectoryError:
        raise _fail(name, "is a directory, not a file") from None
    except PermissionError:
        raise _fail(name, "permission denied (cannot read the file)") from None
    except OSError as exc:
        raise _fail(name, f"cannot read ({exc.strerror or exc})") from None
    return head[:SAMPLE_BYTES], len(head) <= SAMPLE_BYTES


def _utf16_guess(head: bytes) -> str | None:
    even, odd = head[0::2], head[1::2]
    n = max(len(odd), 1)
    if odd.count(0) / n > 0.3 and even.count(0) / n < 0.05:
        return "utf-16-le"
    if even.count(0) / n > 0.3 and odd.count(0) / n < 0.05:
        return "utf-16-be"
    return None


def _encoding(head: bytes, complete: bool, name: str) -> tuple[str, int]:
    """(codec, BOM length) for the head of a file; SourceError for binary data."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"), 2
    if head.startswith(b"\x1f\x8b"):
        raise _fail(name, "is gzip-compressed; decompress it first")
    if head.startswith(b"PK\x03\x04"):
        raise _fail(name, "is a zip archive; extract the files first")
    if b"\x00" in head:
        guess = _utf16_guess(head)
        if guess is None:
            raise _fail(name, "is binary data, not text (CSV or STIX expected)")
        return guess, 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return "cp1252", 0
    return "utf-8", 0


def _lines(head: bytes, codec: str) -> Iterator[tuple[str, int]]:
    """Physical lines of `head` as (text, byte length), line ends kept."""
    if codec.startswith("utf-16"):
        text = head[: len(head) // 2 * 2].decode(codec, errors=DECODE_ERRORS)
        for line in io.StringIO(text, newline=""):
            yield line, len(line.encode(codec, errors="surrogatepass"))
    else:
        for line in head.splitlines(keepends=True):
            yield line.decode(codec, errors=DECODE_ERRORS), len(line)


def _is_blank(rec: Sequence[str]) -> bool:
    return not rec or (len(rec) == 1 and not rec[0].strip())


def _is_comment(rec: Sequence[str]) -> bool:
    return rec[0].lstrip().startswith("#") and not any(rec[1:])


def _records(text: str, delimiter: str, limit: int, complete: bool) -> list[list[str]]:
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=False
    )
    out: list[list[str]] = []
    try:
        for rec in reader:
            if not _is_blank(rec) and not _is_comment(rec):
                out.append(rec)
                if len(out) > limit:
                    break
    except csv.Error:
        pass
    if len(out) > limit:
        return out[:limit]
    return out if complete or len(out) < 2 else out[:-1]  # the last one may be cut short


def _delimiter(text: str, complete: bool) -> str:
    best: tuple[float, int, int] | None = None
    chosen = ONE_VALUE
    for rank, delim in enumerate(DELIMITERS):
        widths = [len(r) for r in _records(text, delim, 200, complete)]
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        key = (count / len(widths), width, -rank)
        if best is None or key > best:
            best, chosen = key, delim
    return chosen


def _effective_width(rec: Sequence[str], floor: int) -> int:
    n = len(rec)
    while n > floor and not rec[n - 1]:
        n -= 1
    return n


def _fit(rec: list[str], width: int, delimiter: str) -> list[str]:
    """A record made `width` long: padded with "", or extra fields joined to the last one."""
    if len(rec) == width:
        return rec
    if len(rec) < width:
        return rec + [""] * (width - len(rec))
    extra = rec[width - 1 : _effective_width(rec, width)]
    return rec[: width - 1] + [delimiter.join(extra)]


@dataclass
class _Score:
    score: float
    types: frozenset
    valid: int = 0


def _score_column(cells: Sequence[str]) -> _Score:
    if not cells:
        return _Score(0.0, frozenset())
    total, valid, types, keys = 0.0, 0, set(), set()
    for cell in cells:
        inds = extract(cell)
        ok = [i for i in inds if i.status is not Status.INVALID]
        if not ok:
            continue
        valid += 1
        total += 1.0 if any(i.status is Status.PENDING for i in ok) else 0.6
        for ind in ok:
            types.add(ind.type)
            keys.add(url_host(ind.value) if ind.type is IndicatorType.URL else ind.value)
    if valid >= 5 and len(keys) <= max(1, valid // 20):
        total /= 2  # nearly one value (reference links to one site, a sinkhole IP): not the IOCs
    return _Score(total / len(cells), frozenset(types), valid)


def _choose(names: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[int, list[_Score]]:
    width = len(names)
    scores = [_score_column([r[j] for r in rows]) for j in range(width)]
    top = max(s.score for s in scores)

    def rank(j: int) -> tuple[int, float, int]:
        name = names[j].strip()
        hint = 1 if _GOOD_NAMES.match(name) else -1 if _BAD_NAMES.search(name) else 0
        return (hint, scores[j].score, -j)

    near = [j for j in range(width) if scores[j].score >= top - 0.05]
    return max(near, key=rank), scores


def _looks_like_data(cell: str, column: _Score) -> bool:
    """A first-row cell is data when it holds an indicator that fits its column.

    It fits unless the rest of the column holds (at least 5 values of) one single type and this
    is another one (a header `file.name` over a column of hashes). A defanged value is never a
    header.
    """
    inds = [i for i in extract(cell) if i.status is not Status.INVALID]
    if not inds:
        return False
    if len(column.types) != 1 or column.valid < 5 or any("defanged" in i.note for i in inds):
        return True
    return all(i.type in column.types for i in inds)


def _as_header(header: Sequence[str], data: list[list[str]]) -> tuple[list[str], int]:
    """Column names from a header record (widened when nearly every data row is wider)."""
    names = [h.strip() for h in header]
    widths = Counter(_effective_width(r, len(names)) for r in data)
    wide, count = widths.most_common(1)[0] if widths else (0, 0)
    if wide > len(names) and count >= 0.9 * len(data):  # the header lacks names
        names += [f"column_{k}" for k in range(len(names) + 1, wide + 1)]
    return names, max([len(names)] + [len(r) for r in data])


def _match(column: str, names: Sequence[str]) -> int | None:
    want = column.strip()
    for k, n in enumerate(names):
        if n == want:
            return k
    for k, n in enumerate(names):
        if n.strip().lower() == want.lower():
            return k
    return None


def _layout(
    name: str,
    codec: str,
    offset: int,
    delimiter: str,
    records: list[list[str]],
    commented: list[str] | None,
    column: str | None,
) -> CsvLayout:
    first, rest = (records[0], records[1:]) if records else ([], [])
    widths = Counter(len(r) for r in rest or records).most_common(1)
    if commented is not None and (len(commented) < 2 or (widths and len(commented) != widths[0][0])):
        commented = None

    # A: the first record is the header. B: it is data (names from a # comment line, or column_N).
    names_a, read_a = _as_header(first, rest)
    rows_a = [_fit(r, len(names_a), delimiter) for r in rest] or [_fit(first, len(names_a), delimiter)]
    if commented:
        names_b, read_b = _as_header(commented, records)
    else:
        width = max((_effective_width(r, 1) for r in records), default=1)
        names_b, read_b = (
            [f"column_{k}" for k in range(1, width + 1)],
            max([width] + [len(r) for r in records]),
        )
    rows_b = [_fit(r, len(names_b), delimiter) for r in records]

    if not records:  # nothing but a commented header (or nothing at all)
        has_header = False
    else:
        index_a, scores_a = _choose(names_a, rows_a)
        cell = first[index_a] if index_a < len(first) else ""
        has_header = not _looks_like_data(cell, scores_a[index_a])
    if column is not None:
        # The user's column name settles the header question when only one reading has it.
        in_a, in_b = _match(column, names_a) if records else None, _match(column, names_b)
        if in_a is not None and in_b is None:
            has_header = True
        elif in_b is not None and in_a is None:
            has_header = False
    names, read_width, rows = (names_a, read_a, rows_a) if has_header else (names_b, read_b, rows_b)
    index, scores = _choose(names, rows) if rows else (0, [_Score(0.0, frozenset())] * len(names))
    if column is not None:
        picked = _match(column, names)
        if picked is None and column.strip().isdigit() and 1 <= int(column) <= len(names):
            picked = int(column) - 1
        if picked is None:
            shown = ", ".join(repr(n) for n in names)
            raise _fail(
                name, f"has no column {column!r}; its columns are {shown} (or give a number 1-{len(names)})"
            )
        index = picked
    return CsvLayout(
        encoding=codec,
        data_offset=offset,
        delimiter=delimiter,
        has_header=has_header,
        header_source="row" if has_header else "comment" if commented else "none",
        columns=tuple(names),
        read_width=read_width,
        indicator_column=index,
        scores=tuple(round(s.score, 3) for s in scores),
    )


def sniff(path: str, name: str | None = None, column: str | None = None) -> CsvLayout:
    """Work out encoding, banner, delimiter, header and indicator column of a CSV/list file."""
    name = path if name is None else name
    head, complete = _read_head(path, name)
    if not head.strip():
        raise _fail(name, "is empty" if not head else "is empty (only blank lines)")
    codec, offset = _encoding(head, complete, name)
    comment: str | None = None
    comments: list[str] = []
    data_lines: list[str] = []
    in_banner = True
    for line, size in _lines(head[offset:], codec):
        if in_banner:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                offset += size
                if stripped.startswith("#"):
                    comment = stripped.lstrip("#").strip()
                    comments.append(comment)
                continue
            in_banner = False
        data_lines.append(line)
    text = "".join(data_lines)
    if not complete and not text:
        raise _fail(name, f"has no data in its first {SAMPLE_BYTES // 1024} KiB (only # comment lines)")
    if not text.strip():
        # No data rows: fine if the last comment line is a header (an export with 0 entries).
        for line in reversed(comments):
            delimiter = _delimiter(line, True)
            if delimiter != ONE_VALUE:
                header = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))
                return _layout(name, codec, offset, delimiter, [], header, column)
        raise _fail(name, "has no data (only # comment lines)")
    if len(_CONTROL.findall(text, 0, 65536)) > 0.01 * min(len(text), 65536) + 2:
        raise _fail(name, "is binary data, not text (CSV or STIX expected)")
    delimiter = _delimiter(text, complete)
    records = _records(text, delimiter, SAMPLE_RECORDS, complete)
    commented = None
    if comment:
        commented = next(csv.reader([comment], delimiter=delimiter, skipinitialspace=True), [])
    return _layout(name, codec, offset, delimiter, records, commented, column)


# ---------------------------------------------------------------------------- reading
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
            records = (r for r in reader if not _is_blank(r))
            try:
                if lay.has_header:
                    next(records, None)
                records = islice(records, skip, None)
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
