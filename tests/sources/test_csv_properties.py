"""Property tests: the reader and the classifier never raise on arbitrary input, and keep every row."""

from __future__ import annotations

import csv
import io
import os
import tempfile

import pandas as pd
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from enrich.sources.csv import CsvSource
from enrich.sources.interface import SourceError
from enrich.sources.open import open_source

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Text that is hard for CSV: delimiters, quotes, '#', newlines, formula starts, non-ASCII.
CELL = st.lists(
    st.sampled_from(
        list("ab19.:/[]()-_@=+#,;|\"' \tn\u00e9\u4e2d\U0001f600") + ["\n", "hxxp", "[.]", "198.51.100.7"]
    ),
    max_size=8,
).map("".join)


def _read_all(source) -> tuple[int, int]:
    rows = inds = 0
    for chunk in source.chunks():
        rows += len(chunk.frame)
        inds += len(chunk.indicators)
        assert all(len(i) >= 1 for i in chunk.indicators)
    return rows, inds


def _with_file(data: bytes, fn):
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return fn(path)
    finally:
        os.unlink(path)


@SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_rows_or_one_source_error(data):
    def check(path):
        for opener in (CsvSource, open_source):
            try:
                source = opener(path)
            except SourceError as exc:
                assert "\n" not in str(exc) and str(exc).startswith(path)
                continue
            rows, inds = _read_all(source)
            assert rows == inds

    _with_file(data, check)


@SETTINGS
@given(
    st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=15),
    st.sampled_from([",", ";", "\t"]),
)
def test_arbitrary_ragged_rows_never_raise(rows, delimiter):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)

    def check(path):
        try:
            source = CsvSource(path)
        except SourceError:
            return
        got, inds = _read_all(source)
        assert got == inds

    _with_file(buf.getvalue().encode("utf-8"), check)


@SETTINGS
@given(
    st.integers(min_value=2, max_value=4).flatmap(
        lambda n: st.lists(st.lists(CELL, min_size=n, max_size=n), max_size=20)
    )
)
def test_rectangular_rows_come_back_unchanged(rows):
    width = len(rows[0]) if rows else 2
    header = [f"h{k}" for k in range(1, width + 1)]
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([header, *rows])
    kept = [r for r in rows if not (r[0].lstrip().startswith("#") and not any(r[1:]))]

    def check(path):
        source = CsvSource(path)
        assert source.columns() == header
        frames = [c.frame.values.tolist() for c in source.chunks()]
        assert [r for f in frames for r in f] == kept

    _with_file(buf.getvalue().encode("utf-8"), check)


@SETTINGS
@given(
    st.lists(st.tuples(CELL, CELL, st.integers(0, 3)), min_size=1, max_size=30),
    st.booleans(),
    st.integers(min_value=1, max_value=7),
)
def test_sink_round_trips_any_text(rows, neutralise, chunk):
    """Whatever the cells hold, reading the output back gives them (neutralised or not), in order."""
    from enrich.model import MDE_COLUMNS
    from enrich.sinks.csv import CsvWriter, neutralise_cell
    from tests.sinks.test_csv_sink import FakeSource

    pool = [(f"t{k}", f"={k}\r", "invalid") + ("",) * (len(MDE_COLUMNS) - 3) for k in range(4)]
    pool[1] = ("url", 'v,"q"\n', "pending") + ("x\r",) * (len(MDE_COLUMNS) - 3)
    src = FakeSource("in.csv", ["a", "b"], [])
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        with CsvWriter(path, [src], neutralise=neutralise) as sink:
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                frame = pd.DataFrame({"a": [r[0] for r in part], "b": [r[1] for r in part]}, dtype=str)
                sink.write(src, frame, [pool[r[2]] for r in part])
        with open(path, newline="", encoding="utf-8") as fh:
            back = list(csv.reader(fh))[1:]
    finally:
        os.unlink(path)
    fix = neutralise_cell if neutralise else (lambda v: v)
    assert back == [
        [fix(a), fix(b), *(fix(v) if k else v for k, v in enumerate(pool[i]))] for a, b, i in rows
    ]


# Cells for the round trip: no other delimiter (so "," is the one found), spaces at either end.
PLAIN_CELL = st.lists(
    st.sampled_from(
        list("ab19.:/[]()-_@=+#,\"' \u00e9\u4e2d") + ["  ", "\n", "198.51.100.7", "evil.example"]
    ),
    max_size=6,
).map("".join)


@SETTINGS
@given(
    st.lists(st.lists(PLAIN_CELL, min_size=2, max_size=5), min_size=1, max_size=15),
    st.integers(min_value=1, max_value=4),
)
@example(rows=[["  ", '  "']], chunk_rows=1)  # a quoted cell starting with spaces then a quote
def test_ragged_rows_come_back_whole_spaces_and_all(rows, chunk_rows):
    """Every field of every row, as written (outer spaces, trailing empty fields); fields past the
    header's go under extra_1, extra_2, ..."""
    header = ["h1", "h2", "h3"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    # Rows whose first cell starts with "#" may be comment lines (their own tests): not here.
    assume(not any(r[0].lstrip().startswith("#") for r in rows))
    kept = rows
    width = max(len(r) for r in [header, *kept])

    def check(path):
        source = CsvSource(path, chunk_rows=chunk_rows)
        assert source.columns() == header + [f"extra_{k}" for k in range(1, width - 2)]
        got = [r for c in source.chunks() for r in c.frame.values.tolist()]
        assert got == [r + [""] * (width - len(r)) for r in kept]

    _with_file(buf.getvalue().encode("utf-8"), check)


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.integers(0x80, 0xFF)), min_size=1, max_size=12))
def test_stray_bytes_in_utf8_are_read_one_by_one_as_cp1252(strays):
    """A UTF-8 file with a stray byte here and there stays UTF-8; each stray byte is its cp1252
    (else Latin-1) character; the lines holding them are named."""
    lines, want = [b"ip,city\n"], []
    for i, stray in enumerate(strays):
        extra = b"" if stray is None else bytes([stray])
        lines.append(f"198.51.100.{i + 1},Zürich ".encode() + extra + b"x\n")
        shown = "" if stray is None else (bytes([stray]).decode("cp1252", errors="ignore") or chr(stray))
        want.append(f"Zürich {shown}x")
    bad = [k + 2 for k, stray in enumerate(strays) if stray is not None]

    def check(path):
        source = CsvSource(path)
        assert source.layout.encoding == "utf-8"
        got = [r[1] for c in source.chunks() for r in c.frame.values.tolist()]
        assert got == want
        assert source.stray_lines() == (len(bad), bad)

    _with_file(b"".join(lines), check)
