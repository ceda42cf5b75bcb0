"""Input cells come back as read (spaces, ragged rows, trailing empty fields), the input's BOM is
kept (or asked for with --bom), and bytes that are not UTF-8 are read one by one and named:
through `enrich classify` and `enrich run --sandbox`, fast path and general path alike."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.classify_job import classify_cells, classify_files
from enrich.cli import cli
from enrich.model import MDE_COLUMNS
from enrich.sinks.csv import ColumnsChanged, CsvWriter
from enrich.sources import csv_layout
from enrich.sources.csv import CsvSource

BOM = "\ufeff".encode()
RAGGED = (
    "value, note ,tag\n"
    "  007 ,  x,a\n"
    "198.51.100.1,y,b,extra,\n"
    "evil.example\n"
    ' 198.51.100.2 ,"  quoted, "" ",c\n'
)
# The input part of each output line, as the input wrote it (padded with "," where a row was short).
RAGGED_OUT = [
    "value, note ,tag,extra_1,extra_2",
    "  007 ,  x,a,,",
    "198.51.100.1,y,b,extra,",
    "evil.example,,,,",
    ' 198.51.100.2 ,"  quoted, "" ",c,,',
]


def classify(*args: str, input: bytes | None = None):
    result = CliRunner().invoke(cli, ["classify", *args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def run_sandbox(*args: str):
    result = CliRunner().invoke(cli, ["run", "--sandbox", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def general_path(path: str, out: str, *, neutralise: bool = True, bom: bool = False) -> None:
    """What classify writes, the long way: the source's chunks, `classify_cells`, `CsvWriter.write`."""
    src = CsvSource(path)
    src.settle_columns()
    with CsvWriter(out, [src], neutralise=neutralise, bom=bom) as sink:
        for chunk in src.chunks():
            sink.write(src, chunk.frame, classify_cells(chunk.indicators, Counter()))


# ------------------------------------------------------------------------------ item 6: cells as read
@pytest.mark.parametrize("neutralise", [True, False])
def test_classify_writes_spaces_and_ragged_rows_back_as_read(tmp_path, neutralise):
    src = tmp_path / "in.csv"
    src.write_text(RAGGED)
    out = tmp_path / "out.csv"
    classify(str(src), "-o", str(out), *([] if neutralise else ["--no-neutralise"]))
    data = out.read_bytes()
    lines = data.decode().splitlines()
    assert [line[: len(want)] for line, want in zip(lines, RAGGED_OUT, strict=True)] == RAGGED_OUT
    assert lines[0] == RAGGED_OUT[0] + "," + ",".join(MDE_COLUMNS)
    table = rows(data)
    assert all(len(r) == 5 + len(MDE_COLUMNS) for r in table)
    by_name = [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    assert [r["mde_type"] for r in by_name] == ["", "ipv4", "domain", "ipv4"]
    assert [r["mde_value"] for r in by_name] == ["007", "198.51.100.1", "evil.example", "198.51.100.2"]
    general_path(str(src), str(tmp_path / "general.csv"), neutralise=neutralise)
    assert (tmp_path / "general.csv").read_bytes() == data


def test_run_writes_the_same_input_cells_as_classify(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(RAGGED)
    run_sandbox(str(src), "-o", str(tmp_path / "run.csv"), "--no-neutralise")
    classify(str(src), "-o", str(tmp_path / "cls.csv"), "--no-neutralise")
    ran, classified = rows((tmp_path / "run.csv").read_bytes()), rows((tmp_path / "cls.csv").read_bytes())
    assert (
        [r[:5] for r in ran]
        == [r[:5] for r in classified]
        == [next(csv.reader([line])) for line in RAGGED_OUT]
    )
    assert (tmp_path / "run.csv").read_text().splitlines()[1].startswith("  007 ,  x,a,,,")


def _wide_late(tmp_path: Path) -> Path:
    """A file bigger than the sniffed sample whose widest row comes after it (10,101 rows, six
    distinct indicators)."""
    good = [f"198.51.100.{i % 5 + 1},ip,plain row {i:06d}\n" for i in range(10_000)]
    path = tmp_path / "late.csv"
    path.write_text(
        "value,type,description\n" + "".join(good) + "evil.example,domain,has, two,\n" + "".join(good[:100])
    )
    assert path.stat().st_size > csv_layout.SAMPLE_BYTES
    return path


@pytest.mark.parametrize("to_stdout", [False, True])
def test_classify_a_row_wider_than_the_sample_widens_the_whole_output(tmp_path, to_stdout):
    path = _wide_late(tmp_path)
    out = tmp_path / "out.csv"
    result = classify(str(path), "-o", "-" if to_stdout else str(out))
    data = result.stdout_bytes if to_stdout else out.read_bytes()
    table = rows(data)
    assert table[0][:5] == ["value", "type", "description", "extra_1", "extra_2"]
    assert {len(r) for r in table} == {5 + len(MDE_COLUMNS)}
    wide = [r[:5] for r in table if r[0] == "evil.example"]
    assert wide == [["evil.example", "domain", "has", " two", ""]]
    assert "classified 10101 rows" in result.stderr  # counted once, whether or not written again
    assert ("writing" in result.stderr) == (not to_stdout)  # a file is written again; stdout is read first
    general_path(str(path), str(tmp_path / "general.csv"))
    assert (tmp_path / "general.csv").read_bytes() == data


def test_run_a_row_wider_than_the_sample(tmp_path):
    path = _wide_late(tmp_path)
    run_sandbox(str(path), "-o", str(tmp_path / "run.csv"))
    table = rows((tmp_path / "run.csv").read_bytes())
    assert table[0][:5] == ["value", "type", "description", "extra_1", "extra_2"]
    assert {len(r) for r in table} == {5 + len(MDE_COLUMNS)}


def test_writer_refuses_a_source_grown_wider_than_its_header(tmp_path):
    path = _wide_late(tmp_path)
    src = CsvSource(str(path))
    writer = CsvWriter(str(tmp_path / "o.csv"), [src])
    with pytest.raises(ColumnsChanged, match="late.csv"):
        for chunk in src.chunks():
            writer.write(src, chunk.frame, classify_cells(chunk.indicators, Counter()))
    writer.abort()
    assert not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------ item 7: BOM
BODY = "indicator,comment\n198.51.100.7,café\n"


@pytest.mark.parametrize(
    ("data", "flags", "bom"),
    [
        (BODY.encode(), [], False),
        (BOM + BODY.encode(), [], True),
        (BODY.encode("utf-16"), [], True),  # UTF-16 with BOM in: UTF-8 with BOM out
        (BODY.encode("utf-16-le"), [], False),
        (BODY.encode(), ["--bom"], True),
        (BOM + BODY.encode(), ["--bom"], True),
    ],
)
def test_classify_keeps_the_inputs_bom_or_adds_one(tmp_path, data, flags, bom):
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    classify(str(src), "-o", str(tmp_path / "out.csv"), *flags)
    out = (tmp_path / "out.csv").read_bytes()
    assert out.startswith(BOM) == bom
    assert out[len(BOM) :].startswith(b"indicator,comment,mde_type") if bom else out.startswith(b"indicator,")
    assert rows(out)[1][:2] == ["198.51.100.7", "café"]
    assert out.count(BOM) == int(bom)


def test_classify_bom_on_stdout_and_with_several_inputs(tmp_path):
    (tmp_path / "a.csv").write_bytes(BODY.encode())
    (tmp_path / "b.csv").write_bytes(BOM + BODY.encode())
    assert classify(str(tmp_path / "a.csv"), "--bom").stdout_bytes.startswith(BOM)
    assert not classify(str(tmp_path / "a.csv")).stdout_bytes.startswith(BOM)
    both = classify(str(tmp_path / "a.csv"), str(tmp_path / "b.csv")).stdout_bytes
    assert both.startswith(BOM + b"source_file,") and both.count(BOM) == 1


@pytest.mark.parametrize(
    ("data", "flags", "bom"), [(BOM + BODY.encode(), [], True), (BODY.encode(), ["--bom"], True)]
)
def test_run_keeps_the_inputs_bom_or_adds_one(tmp_path, data, flags, bom):
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    run_sandbox(str(src), "-o", str(tmp_path / "out.csv"), *flags)
    assert (tmp_path / "out.csv").read_bytes().startswith(BOM) == bom
    run_sandbox(str(src), "-o", str(tmp_path / "out2.csv"), "--no-cache")
    assert (tmp_path / "out2.csv").read_bytes().startswith(BOM) == data.startswith(BOM)


# ------------------------------------------------------------------------------ item 7: stray bytes
def _stray(tmp_path: Path) -> Path:
    lines = [f"198.51.100.{i},Zürich\n".encode() for i in range(1, 7)]
    lines[1] = b"198.51.100.2,Z\xfcrich\n"  # cp1252 in a UTF-8 file
    lines[4] = b"198.51.100.5,caf\xe9\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"ip,city\n" + b"".join(lines))
    return path


def test_classify_reads_stray_bytes_as_cp1252_and_names_their_lines(tmp_path):
    path = _stray(tmp_path)
    result = classify(str(path), "-o", str(tmp_path / "out.csv"))
    cities = [r[1] for r in rows((tmp_path / "out.csv").read_bytes())[1:]]
    assert cities == ["Zürich", "Zürich", "Zürich", "Zürich", "café", "Zürich"]
    assert f"{path}: utf-8 (bytes that are not UTF-8 read as cp1252)" in result.stderr
    assert f"{path}: 2 lines with bytes that are not UTF-8, read as cp1252: lines 3, 6" in result.stderr


def test_run_says_how_inputs_were_read_and_names_stray_lines(tmp_path):
    path = _stray(tmp_path)
    summary = tmp_path / "s.json"
    result = run_sandbox(str(path), "-o", str(tmp_path / "out.csv"), "--summary", str(summary))
    assert f"enrich: {path}: utf-8 (bytes that are not UTF-8 read as cp1252), delimiter ','" in result.stderr
    assert (
        f"enrich: {path}: 2 lines with bytes that are not UTF-8, read as cp1252: lines 3, 6" in result.stderr
    )
    assert json.loads(summary.read_text())["encoding_fallbacks"] == [
        {"input": str(path), "lines": 2, "first_lines": [3, 6]}
    ]
    cities = [r[1] for r in rows((tmp_path / "out.csv").read_bytes())[1:]]
    assert cities == ["Zürich", "Zürich", "Zürich", "Zürich", "café", "Zürich"]
    clean = tmp_path / "clean.csv"
    clean.write_text("ip\n198.51.100.1\n")
    run_sandbox(str(clean), "-o", str(tmp_path / "o2.csv"), "--summary", str(summary))
    assert "encoding_fallbacks" not in json.loads(summary.read_text())


def test_classify_function_takes_bom(tmp_path):
    (tmp_path / "a.csv").write_text(BODY)
    classify_files([str(tmp_path / "a.csv")], str(tmp_path / "o.csv"), None, True, None, bom=True)
    assert (tmp_path / "o.csv").read_bytes().startswith(BOM)
