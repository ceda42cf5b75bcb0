"""The CSV writer: columns, order, atomic replace, formula neutralisation, name clashes, several inputs."""

from __future__ import annotations

import csv
import io
import os
import stat

import pandas as pd
import pytest

from enrich.model import MDE_COLUMNS
from enrich.sinks.csv import CsvWriter, SinkError, neutralise_cell, output_columns
from enrich.sources.interface import Chunk, Source


class FakeSource(Source):
    format = "csv"

    def __init__(self, name: str, columns: list[str], rows: list[list[str]]) -> None:
        self.name = name
        self._columns = columns
        self.rows = rows

    def columns(self) -> list[str]:
        return list(self._columns)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, dtype=str)
        frame.columns = self._columns
        return frame

    def chunks(self):
        yield Chunk(self.frame(), [() for _ in self.rows])


def mde(*head: str) -> tuple[str, ...]:
    """An mde_* cells tuple: `head` then empty cells up to len(MDE_COLUMNS)."""
    return head + ("",) * (len(MDE_COLUMNS) - len(head))


def cells(n: int, value: str = "198.51.100.1") -> list[tuple[str, ...]]:
    return [mde("ipv4", value, "pending")] * n


def rows_of(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_columns_order_and_rows(tmp_path):
    src = FakeSource("in.csv", ["value", "note"], [["198.51.100.1", "a, b"], ["x", 'say "hi"\nbye']])
    out = tmp_path / "out.csv"
    with CsvWriter(str(out), [src]) as sink:
        sink.write(src, src.frame(), cells(2))
    got = rows_of(out)
    assert got[0] == ["value", "note", *MDE_COLUMNS]
    assert got[1][:2] == ["198.51.100.1", "a, b"]
    assert got[2][:2] == ["x", 'say "hi"\nbye']
    assert got[1][2:] == list(cells(1)[0])
    assert sink.rows == 2
    assert output_columns([src]) == got[0]


def test_written_in_chunks_in_order(tmp_path):
    src = FakeSource("in.csv", ["v"], [])
    out = tmp_path / "out.csv"
    with CsvWriter(str(out), [src]) as sink:
        for k in range(5):
            frame = pd.DataFrame({"v": [f"{k}-{i}" for i in range(3)]}, dtype=str)
            sink.write(src, frame, cells(3))
    assert [r[0] for r in rows_of(out)[1:]] == [f"{k}-{i}" for k in range(5) for i in range(3)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-- note", "'-- note"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-1", "-1"),
        ("+44", "+44"),
        ("-2.5e3", "-2.5e3"),
        ("-.5", "-.5"),
        ("-", "-"),
        ("", ""),
        ("a=b", "a=b"),
        ("198.51.100.1", "198.51.100.1"),
    ],
)
def test_neutralise_rule(cell, expected):
    assert neutralise_cell(cell) == expected


def test_neutralise_on_by_default_and_switchable(tmp_path):
    src = FakeSource("in.csv", ["=name", "note"], [["=1+1", "-1"], ["@x", "ok"]])
    rows = [mde("", "=1+1", "invalid", "", "", "", "not an IP", "")] + [
        mde("", "@x", "invalid", "", "", "", "", "@n")
    ]
    top = MDE_COLUMNS.index("mde_top_file_names")
    rows[1] = rows[1][:top] + ("=file.exe",) + rows[1][top + 1 :]  # MDE text is neutralised too
    on, off = tmp_path / "on.csv", tmp_path / "off.csv"
    with CsvWriter(str(on), [src]) as sink:
        sink.write(src, src.frame(), rows)
    with CsvWriter(str(off), [src], neutralise=False) as sink:
        sink.write(src, src.frame(), rows)
    got = rows_of(on)
    assert got[0][0] == "'=name"
    assert got[1][:2] == ["'=1+1", "-1"] and got[1][3] == "'=1+1"
    note = 2 + MDE_COLUMNS.index("mde_note")
    assert got[2][:2] == ["'@x", "ok"] and got[2][3] == "'@x" and got[2][note] == "'@n"
    assert got[2][2 + top] == "'=file.exe" and got[1][2 + top] == ""
    raw = rows_of(off)
    assert raw[0][0] == "=name" and raw[1][:2] == ["=1+1", "-1"] and raw[2][note] == "@n"
    assert raw[2][2 + top] == "=file.exe"


def test_name_clash_keeps_both_columns(tmp_path):
    src = FakeSource("in.csv", ["value", "mde_status"], [["198.51.100.1", "seen"]])
    out = tmp_path / "out.csv"
    with CsvWriter(str(out), [src]) as sink:
        sink.write(src, src.frame(), cells(1))
    header, row = rows_of(out)
    assert header == ["value", "mde_status", *MDE_COLUMNS]
    assert row[1] == "seen" and row[2 + MDE_COLUMNS.index("mde_status")] == "pending"
    with open(out, newline="") as fh:
        assert next(csv.DictReader(fh))["mde_status"] == "pending"  # ours is the last one
    assert list(pd.read_csv(out, dtype=str).columns)[:3] == ["value", "mde_status", "mde_type"]


def test_several_sources_union_of_columns(tmp_path):
    a = FakeSource("a.csv", ["value", "type", "x"], [["198.51.100.1", "ip", "1"]])
    b = FakeSource("b.csv", ["type", "ioc", "x", "x"], [["domain", "evil.example", "2", "3"]])
    out = tmp_path / "out.csv"
    with CsvWriter(str(out), [a, b]) as sink:
        sink.write(a, a.frame(), cells(1))
        sink.write(b, b.frame(), cells(1))
    got = rows_of(out)
    assert got[0][:6] == ["source_file", "value", "type", "x", "ioc", "x"]
    assert got[1][:6] == ["a.csv", "198.51.100.1", "ip", "1", "", ""]
    assert got[2][:6] == ["b.csv", "", "domain", "2", "evil.example", "3"]
    assert output_columns([a, b]) == got[0]


def test_atomic_failure_leaves_target_untouched(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("previous content\n")
    src = FakeSource("in.csv", ["v"], [["a"]])
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), CsvWriter(str(out), [src]) as sink:
            sink.write(src, src.frame(), cells(1))
            raise exc
        assert out.read_text() == "previous content\n"
        assert os.listdir(tmp_path) == ["out.csv"]


def test_target_replaced_only_at_commit(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    src = FakeSource("in.csv", ["v"], [["a"]])
    sink = CsvWriter(str(out), [src])
    sink.write(src, src.frame(), cells(1))
    assert out.read_text() == "old\n"
    sink.commit()
    assert rows_of(out)[1][0] == "a"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["out.csv"]


def test_new_file_mode_follows_umask(tmp_path):
    out = tmp_path / "new.csv"
    src = FakeSource("in.csv", ["v"], [["a"]])
    with CsvWriter(str(out), [src]) as sink:
        sink.write(src, src.frame(), cells(1))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~mask


def test_stdout(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr("sys.stdout", buf)
    src = FakeSource("in.csv", ["v"], [["a"]])
    with CsvWriter("-", [src]) as sink:
        sink.write(src, src.frame(), cells(1))
    assert buf.getvalue().splitlines()[1].startswith("a,ipv4,")


def test_unwritable_outputs(tmp_path):
    src = FakeSource("in.csv", ["v"], [])
    with pytest.raises(SinkError, match="does not exist") as err:
        CsvWriter(str(tmp_path / "missing" / "out.csv"), [src])
    assert "\n" not in str(err.value)
    with pytest.raises(SinkError, match="is a directory"):
        CsvWriter(str(tmp_path), [src])


def test_row_count_mismatch_is_a_bug(tmp_path):
    src = FakeSource("in.csv", ["v"], [["a"], ["b"]])
    with pytest.raises(ValueError), CsvWriter(str(tmp_path / "o.csv"), [src]) as sink:
        sink.write(src, src.frame(), cells(1))
    assert not (tmp_path / "o.csv").exists()


def test_non_text_cells_are_written_as_text(tmp_path):
    src = FakeSource("in.json", ["id", "n"], [])
    frame = pd.DataFrame({"id": ["x", None], "n": [1, 2]})
    with CsvWriter(str(tmp_path / "o.csv"), [src]) as sink:
        sink.write(src, frame, cells(2))
    assert [r[:2] for r in rows_of(tmp_path / "o.csv")[1:]] == [["x", "1"], ["", "2"]]


def test_shared_cells_tuples_across_chunks(tmp_path):
    """Rows sharing one cells tuple (as classify hands them out) are each neutralised, chunk after chunk."""
    src = FakeSource("in.csv", ["v"], [])
    bad, good = mde("", "=x", "invalid"), mde("ipv4", "198.51.100.1", "pending")
    out = tmp_path / "o.csv"
    with CsvWriter(str(out), [src]) as sink:
        for _ in range(3):
            frame = pd.DataFrame({"v": ["a", "b", "c"]}, dtype=str)
            sink.write(src, frame, [bad, good, bad])
    values = [r[2] for r in rows_of(out)[1:]]
    assert values == ["'=x", "198.51.100.1", "'=x"] * 3
    assert bad[1] == "=x"  # the caller's tuple is not changed


def test_rendered_and_plain_paths_write_the_same_csv(tmp_path):
    """Chunks whose cells were seen before are written from pre-rendered text: same CSV as csv.writer."""
    values = ["a,b", 'say "x"', "line\nbreak", "plain", "", " lead", "é中"]
    shared = [mde("url", v, "pending", "", "", "", "", f"note {v}", f"domains/{v}") for v in values]
    src = FakeSource("in.csv", ["v", "w"], [])
    out = tmp_path / "o.csv"
    expected = []
    with CsvWriter(str(out), [src], neutralise=False) as sink:
        for k in range(4):  # chunk 1 goes the plain way, later ones the rendered way
            frame = pd.DataFrame({"v": values, "w": [f"{k},{v}" for v in values]}, dtype=str)
            sink.write(src, frame, shared)
            expected += [[v, f"{k},{v}", *c] for v, c in zip(values, shared, strict=True)]
    assert rows_of(out)[1:] == expected
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([output_columns([src]), *expected])
    assert out.read_text(encoding="utf-8") == buf.getvalue()


def test_carriage_returns_are_quoted(tmp_path):
    """csv.writer with "\\n" line ends leaves a lone CR bare; the sink quotes it (both paths)."""
    src = FakeSource("in.csv", ["v"], [])
    shared = mde("", "x\ry", "invalid")
    out = tmp_path / "o.csv"
    with CsvWriter(str(out), [src], neutralise=False) as sink:
        sink.write(src, pd.DataFrame({"v": ["a\rb", "c"]}, dtype=str), [shared, shared])  # plain path
        sink.write(src, pd.DataFrame({"v": ["d", "e\r"]}, dtype=str), [shared, shared])  # rendered path
    rows = rows_of(out)[1:]
    assert [r[0] for r in rows] == ["a\rb", "c", "d", "e\r"]
    assert all(r[2] == "x\ry" for r in rows)
    assert pd.read_csv(out, dtype=str, keep_default_na=False)["v"].tolist() == ["a\rb", "c", "d", "e\r"]
