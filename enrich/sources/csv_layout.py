"""The layout of a CSV or plain-list input, worked out from its first 256 KiB.

`sniff()` reads the first 256 KiB once and decides, in this order:
- the encoding: UTF-8 (BOM or not), UTF-16 (BOM, or NUL-byte pattern without one), else cp1252.
  A sample that is not valid UTF-8 is still UTF-8 when it holds at least as many valid multi-byte
  UTF-8 characters as invalid bytes (a few cp1252 bytes pasted into a UTF-8 file); cp1252 when
  it holds none or fewer. Bytes that do not decode (those stray bytes, anywhere in the file; bytes
  cp1252 leaves undefined) are read one by one as their cp1252/Latin-1 character (the error
  handler `DECODE_ERRORS`); reading never fails on encoding.
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
  Header-less files get `column_1..N`. Header names are kept as written (outer spaces too).
- the width: every field of every record of the sample gets a column (trailing empty fields too);
  fields beyond the header's are named `extra_1`, `extra_2`, ... (`column_K` without a header).
  Rows found wider later widen the source (`CsvSource`).
- spaces: cells keep their leading and trailing spaces, except in files that pad quoted fields
  after the delimiter (`"a", "b"`: ThreatFox), where spaces before a field are skipped so that
  the quotes still quote (`skip_space`).

"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from enrich.indicators import extract
from enrich.model import IndicatorType, Status
from enrich.outcome import url_host
from enrich.sources.interface import SourceError

__all__ = ["CHUNK_ROWS", "DECODE_ERRORS", "ONE_VALUE", "CsvLayout", "fallback_count", "sniff", "stray_lines"]

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
_STRAY = re.compile("[\udc80-\udcff]")  # bytes `surrogateescape` could not decode
csv.field_size_limit(2**31 - 1)  # one cell may be long (a pasted report); the classifier caps it
_fallbacks = threading.local()  # .count: bytes the handler decoded in this thread


def _decode_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode error handler: undecodable bytes become their cp1252 (or Latin-1) character, one by one."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _fallbacks.count = getattr(_fallbacks, "count", 0) + 1
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(DECODE_ERRORS, _decode_fallback)


def fallback_count() -> int:
    """How many times this thread's decoding met bytes that did not decode (a counter, for noticing)."""
    return getattr(_fallbacks, "count", 0)


def stray_lines(path: str, limit: int = 20) -> tuple[int, list[int]]:
    """(how many lines of the file at `path` hold bytes that are not UTF-8, the first `limit` of
    their 1-based numbers). Lines end at LF; valid blocks are skipped at C speed."""
    count, line, rest = 0, 1, b""
    first: list[int] = []
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if block and not cut:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
            if not data:
                return count, first
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                for k, text in enumerate(data.split(b"\n")):
                    try:
                        text.decode("utf-8")
                    except UnicodeDecodeError:
                        count += 1
                        if len(first) < limit:
                            first.append(line + k)
            line += data.count(b"\n")


@dataclass(frozen=True)
class CsvLayout:
    """What `sniff` found out about a file."""

    encoding: str  # codec for the bytes after the BOM ("utf-8", "utf-16-le", "cp1252", ...)
    data_offset: int  # byte offset of the header row (or of the first data row)
    delimiter: str  # "," "\t" ";" "|" or ONE_VALUE
    has_header: bool  # the record at data_offset is the header row
    header_source: str  # "row", "comment" (a `#` banner line) or "none"
    columns: tuple[str, ...]  # one per field of the widest record of the sample
    read_width: int  # fields the C parser is given room for (== len(columns))
    indicator_column: int  # 0-based
    scores: tuple[float, ...]  # per column, on the sample
    bom: bool = False  # the file starts with a byte order mark
    skip_space: bool = False  # spaces after a delimiter are padding (fields quoted as `, "x"`)
    stray_bytes: bool = False  # the sample holds bytes that are not valid in `encoding`
    whole: bool = False  # the sample is the whole file (so no row is wider than `columns`)


# ---------------------------------------------------------------------------- sniffing
def sniff(path: str, name: str | None = None, column: str | None = None) -> CsvLayout:
    """Work out encoding, banner, delimiter, header and indicator column of a CSV/list file."""
    name = path if name is None else name
    head, complete = _read_head(path, name)
    if not head.strip():
        raise _fail(name, "is empty" if not head else "is empty (only blank lines)")
    codec, bom, stray = _encoding(head, complete, name)
    banner = _split_banner(_lines(head[bom:], codec))
    offset = bom + banner.size
    if not banner.text.strip():
        lay = _layout_without_data(name, codec, offset, banner, complete, column)
    else:
        if _looks_binary(banner.text):
            raise _fail(name, "is binary data, not text (CSV or STIX expected)")
        delimiter = _delimiter(banner.text, complete)
        records = _records(banner.text, delimiter, len(banner.text) + 1, complete, skip_space=False)
        skipped = (
            _records(banner.text, delimiter, len(banner.text) + 1, complete)
            if " " in banner.text
            else records
        )
        skip_space = _padded(records, skipped)
        if skip_space:
            records = skipped
        width = max((len(r) for r in records), default=1)
        commented = _comment_header(banner.comments, delimiter)
        lay = _layout(name, codec, offset, delimiter, records[:SAMPLE_RECORDS], commented, column, width)
        lay = dataclasses.replace(lay, skip_space=skip_space)
    return dataclasses.replace(lay, bom=bom > 0, stray_bytes=stray, whole=complete)


def _layout(
    name: str,
    codec: str,
    offset: int,
    delimiter: str,
    records: list[list[str]],
    commented: list[str] | None,
    column: str | None,
    width: int = 1,
) -> CsvLayout:
    """The layout from the sample records (`width`: fields of the widest record of the sample):
    header row or not, column names, indicator column."""
    commented = _fitting_comment_header(commented, records)
    as_data = _data_reading(records, commented, width)
    as_header = _header_reading(records, width) if records else None
    header_pick = _choose(as_header.names, as_header.rows) if as_header is not None else None
    has_header = header_pick is not None and _is_header(records[0], header_pick)
    if column is not None:
        has_header = _header_by_column(column, as_header, as_data, has_header)
    if has_header and as_header is not None and header_pick is not None:  # (both set when has_header)
        reading, (index, scores) = as_header, header_pick
    else:
        reading, (index, scores) = as_data, _pick_column(as_data)
    if column is not None:
        index = _user_column(name, column, reading.names)
    return CsvLayout(
        encoding=codec,
        data_offset=offset,
        delimiter=delimiter,
        has_header=has_header,
        header_source="row" if has_header else "comment" if commented else "none",
        columns=tuple(reading.names),
        read_width=reading.read_width,
        indicator_column=index,
        scores=tuple(round(s.score, 3) for s in scores),
    )


# ---------------------------------------------------------------------------- step 1: bytes
def _fail(name: str, problem: str) -> SourceError:
    """The error for a problem with the file `name`."""
    return SourceError(f"{name}: {problem}")


def _read_head(path: str, name: str) -> tuple[bytes, bool]:
    """(the first SAMPLE_BYTES of the file, whether that is the whole file); SourceError if unreadable."""
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


# ---------------------------------------------------------------------------- step 2: encoding
def _utf16_guess(head: bytes) -> str | None:
    """The UTF-16 byte order when NUL bytes sit (nearly) only at odd or only at even offsets."""
    even, odd = head[0::2], head[1::2]
    n = max(len(odd), 1)
    if odd.count(0) / n > 0.3 and even.count(0) / n < 0.05:
        return "utf-16-le"
    if even.count(0) / n > 0.3 and odd.count(0) / n < 0.05:
        return "utf-16-be"
    return None


def _encoding(head: bytes, complete: bool, name: str) -> tuple[str, int, bool]:
    """(codec, BOM length, whether the head holds bytes invalid in that codec) for the head of a
    file; SourceError for binary data."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"), 2, False
    if head.startswith(b"\x1f\x8b"):
        raise _fail(name, "is gzip-compressed; decompress it first")
    if head.startswith(b"PK\x03\x04"):
        raise _fail(name, "is a zip archive; extract the files first")
    bom = 3 if head.startswith(codecs.BOM_UTF8) else 0
    if not bom and b"\x00" in head:
        guess = _utf16_guess(head)
        if guess is None:
            raise _fail(name, "is binary data, not text (CSV or STIX expected)")
        return guess, 0, False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(head, final=complete)
        stray = len(_STRAY.findall(text))
        valid = len(text) - len(text.encode("ascii", "ignore")) - stray  # multi-byte characters
        utf8 = bool(bom) or 0 < stray <= valid
        return ("utf-8" if utf8 else "cp1252"), bom, utf8
    return "utf-8", bom, False


def _lines(head: bytes, codec: str) -> Iterator[tuple[str, int]]:
    """Physical lines of `head` as (text, byte length), line ends kept."""
    if codec.startswith("utf-16"):
        text = head[: len(head) // 2 * 2].decode(codec, errors=DECODE_ERRORS)
        for line in io.StringIO(text, newline=""):
            yield line, len(line.encode(codec, errors="surrogatepass"))
    else:
        for raw in head.splitlines(keepends=True):
            yield raw.decode(codec, errors=DECODE_ERRORS), len(raw)


# ---------------------------------------------------------------------------- step 3: banner
@dataclass(frozen=True)
class _Banner:
    """The leading `#` and blank lines of a sample, and the text after them."""

    size: int  # bytes of the banner lines
    comments: list[str]  # the `#` lines, without the `#`s and outer spaces
    text: str  # the sample from the first data line on


def _split_banner(lines: Iterator[tuple[str, int]]) -> _Banner:
    """Split (text, byte length) lines into the banner and the data text after it."""
    size, comments, data = 0, [], []
    for line, n in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            data.append(line)
            break
        size += n
        if stripped:
            comments.append(stripped.lstrip("#").strip())
    data.extend(line for line, _ in lines)
    return _Banner(size, comments, "".join(data))


def _layout_without_data(
    name: str, codec: str, offset: int, banner: _Banner, complete: bool, column: str | None
) -> CsvLayout:
    """A file of banner lines only: fine when the last `#` line that splits is a header (0 entries)."""
    if not complete and not banner.text:
        raise _fail(name, f"has no data in its first {SAMPLE_BYTES // 1024} KiB (only # comment lines)")
    for line in reversed(banner.comments):
        delimiter = _delimiter(line, True)
        if delimiter != ONE_VALUE:
            return _layout(name, codec, offset, delimiter, [], _split_line(line, delimiter), column)
    raise _fail(name, "has no data (only # comment lines)")


def _comment_header(comments: Sequence[str], delimiter: str) -> list[str] | None:
    """The fields of the last `#` banner line (a candidate header), None if there is none."""
    return _split_line(comments[-1], delimiter) if comments and comments[-1] else None


def _split_line(line: str, delimiter: str) -> list[str]:
    """The fields of one line of text."""
    return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])


def _looks_binary(text: str) -> bool:
    """More than 1% control characters (bar tab and line ends) in the first 64 Ki characters."""
    return len(_CONTROL.findall(text, 0, 65536)) > 0.01 * min(len(text), 65536) + 2


# ---------------------------------------------------------------------------- step 4: delimiter, records
def _is_blank(rec: Sequence[str]) -> bool:
    """An empty record, or one holding only white space."""
    return not rec or (len(rec) == 1 and not rec[0].strip())


def _is_comment(rec: Sequence[str]) -> bool:
    """A record whose first cell starts with `#` and whose other cells are empty."""
    return rec[0].lstrip().startswith("#") and not any(rec[1:])


def _records(
    text: str, delimiter: str, limit: int, complete: bool, *, skip_space: bool = True
) -> list[list[str]]:
    """Up to `limit` records of `text`, blank and comment records left out.

    When the sample is not the whole file, its last record (possibly cut short) is dropped.
    """
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=skip_space, strict=False
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


def _padded(kept: list[list[str]], skipped: list[list[str]]) -> bool:
    """Whether the sample pads quoted fields after the delimiter (`a, "b, c"`): reading it with the
    spaces skipped changes more than the spaces (fields are split otherwise, or quotes quote)."""
    if len(kept) != len(skipped):
        return True
    for a, b in zip(kept, skipped, strict=True):
        if a != b and (
            len(a) != len(b) or any(x != y and x.lstrip(" ") != y for x, y in zip(a, b, strict=True))
        ):
            return True
    return False


def _delimiter(text: str, complete: bool) -> str:
    """The delimiter giving the most consistent field count (ties: more fields, DELIMITERS order)."""
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


# ---------------------------------------------------------------------------- step 5: header, columns
@dataclass(frozen=True)
class _Reading:
    """One way to read the sample: column names, the parser's width, the rows fitted to the names."""

    names: list[str]
    read_width: int
    rows: list[list[str]]


@dataclass
class _Score:
    """How much a column looks like the indicator column."""

    score: float  # share of cells holding an indicator (lookupable 1, unsupported 0.6)
    types: frozenset[IndicatorType | None]  # of the indicators found
    valid: int = 0  # cells holding an indicator


_Pick = tuple[int, list[_Score]]  # (index of the indicator column, the score of every column)


def _fit(rec: list[str], width: int) -> list[str]:
    """A record padded with "" to `width` fields (a longer one is left as it is)."""
    if len(rec) >= width:
        return rec
    return rec + [""] * (width - len(rec))


def extra_names(names: Sequence[str], width: int, header: bool) -> list[str]:
    """The names of columns len(names)+1..width: `extra_K` after a header, else `column_N`."""
    first = len(names) + 1
    if header:
        return [f"extra_{k - first + 1}" for k in range(first, width + 1)]
    return [f"column_{k}" for k in range(first, width + 1)]


def _fitting_comment_header(commented: list[str] | None, records: list[list[str]]) -> list[str] | None:
    """The `#` line's fields when there are 2 or more and as many as the usual data row has."""
    widths = Counter(len(r) for r in records[1:] or records).most_common(1)
    if commented is not None and (len(commented) < 2 or (widths and len(commented) != widths[0][0])):
        return None
    return commented


def _as_header(header: Sequence[str], width: int) -> list[str]:
    """Column names from a header record, as written; `extra_K` for fields up to `width`."""
    return [*header, *extra_names(header, width, True)]


def _header_reading(records: list[list[str]], width: int) -> _Reading:
    """The reading where the first (of 1 or more) records is the header row."""
    first, rest = records[0], records[1:]
    names = _as_header(first, width)
    rows = [_fit(r, len(names)) for r in rest] or [_fit(first, len(names))]
    return _Reading(names, len(names), rows)


def _data_reading(records: list[list[str]], commented: list[str] | None, width: int) -> _Reading:
    """The reading where every record is data: names from the `#` header line, else `column_N`."""
    names = _as_header(commented, width) if commented else extra_names([], max(width, 1), False)
    return _Reading(names, len(names), [_fit(r, len(names)) for r in records])


def _score_column(cells: Sequence[str]) -> _Score:
    """The score of one column's cells (halved when they hold nearly one value)."""
    if not cells:
        return _Score(0.0, frozenset())
    total, valid = 0.0, 0
    types: set[IndicatorType | None] = set()
    keys: set[str] = set()
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


def _choose(names: Sequence[str], rows: Sequence[Sequence[str]]) -> _Pick:
    """The indicator column: best score; within 0.05 of it, by name hint, then score, then position."""
    width = len(names)
    scores = [_score_column([r[j] for r in rows]) for j in range(width)]
    top = max(s.score for s in scores)

    def rank(j: int) -> tuple[int, float, int]:
        name = names[j].strip()
        hint = 1 if _GOOD_NAMES.match(name) else -1 if _BAD_NAMES.search(name) else 0
        return (hint, scores[j].score, -j)

    near = [j for j in range(width) if scores[j].score >= top - 0.05]
    return max(near, key=rank), scores


def _pick_column(reading: _Reading) -> _Pick:
    """`_choose` on a reading; column 0 (all scores 0) when it has no rows."""
    if not reading.rows:
        return 0, [_Score(0.0, frozenset())] * len(reading.names)
    return _choose(reading.names, reading.rows)


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


def _is_header(first: Sequence[str], pick: _Pick) -> bool:
    """The first record is the header unless its cell in the picked column looks like data."""
    index, scores = pick
    cell = first[index] if index < len(first) else ""
    return not _looks_like_data(cell, scores[index])


def _match(column: str, names: Sequence[str]) -> int | None:
    """The index of the column named `column` (exactly, else ignoring case and outer spaces)."""
    want = column.strip()
    for k, n in enumerate(names):
        if n == want:
            return k
    for k, n in enumerate(names):
        if n.strip().lower() == want.lower():
            return k
    return None


def _header_by_column(column: str, as_header: _Reading | None, as_data: _Reading, has_header: bool) -> bool:
    """The user's column name settles the header question when only one reading has it."""
    in_header = _match(column, as_header.names) if as_header is not None else None
    in_data = _match(column, as_data.names)
    if in_header is not None and in_data is None:
        return True
    if in_data is not None and in_header is None:
        return False
    return has_header


def _user_column(name: str, column: str, names: Sequence[str]) -> int:
    """The index of `column=` (a name, else a 1-based number); SourceError when there is no such column."""
    picked = _match(column, names)
    if picked is None and column.strip().isdigit() and 1 <= int(column) <= len(names):
        picked = int(column) - 1
    if picked is None:
        shown = ", ".join(repr(n) for n in names)
        raise _fail(
            name, f"has no column {column!r}; its columns are {shown} (or give a number 1-{len(names)})"
        )
    return picked
