"""The xlsx output, read back with openpyxl: cell types, frozen header, autofilter, highlighting,
widths, the Summary sheet, formulas never written, sheet names, atomic writes, the row limit."""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from enrich.errors import UsageError
from enrich.model import MDE_COLUMNS, Answer, LookupKey, Status
from enrich.outcome import STATS, Outcomes
from enrich.plan import make_plan
from enrich.sinks import xlsx
from enrich.sinks.interface import SinkOptions
from enrich.sinks.registry import output_format, sink_class
from enrich.sinks.targets import Target
from enrich.sinks.xlsx import MAX_SHEET_ROWS, XlsxSink, check_targets, sheet_names
from enrich.sources.open import open_source

SEEN_IP = "198.51.100.7"
SEEN_FIRST = "2026-11-02T03:04:05.6785431Z"  # MDE's seven digits
SEEN_LAST = "2026-11-30T23:59:59.5Z"
TRICKY = ["=1+1", "+1x", "-x", "@SUM(A1)", '=HYPERLINK("http://x","y")', "<r><t>rich</t></r>", "\tsoft"]


def write_csv(tmp_path: Path, name: str, rows: list[list[str]], header=("indicator", "comment")) -> str:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([list(header), *rows])
    return str(path)


def answers_for(sources) -> dict[LookupKey, Answer]:
    out = {}
    for key in make_plan(sources, STATS).keys:
        if key.key == SEEN_IP:
            out[key] = Answer(Status.SEEN, 42, SEEN_FIRST, SEEN_LAST, detail=(("global_prevalence", "1200"),))
        else:
            out[key] = Answer(Status.NOT_SEEN, 0)
    return out


def write_book(paths: list[str], out: Path, answers=None) -> XlsxSink:
    sources = [open_source(p) for p in paths]
    outcomes = Outcomes(STATS, answers_for(sources) if answers is None else answers)
    sink = XlsxSink(str(out), sources, SinkOptions(lookback_hours=168, api_url="https://api.example"))
    with sink:
        for src in sources:
            sink.write(src, outcomes)
    return sink


@pytest.fixture
def book(tmp_path):
    rows = [[SEEN_IP, "seen one"], ["unseen.example", "not seen"], *[[t, "tricky"] for t in TRICKY]]
    rows.append(["x" * 200, "a long cell"])
    path = write_csv(tmp_path, "feed.csv", rows)
    out = tmp_path / "out.xlsx"
    sink = write_book([path], out)
    return out, sink, openpyxl.load_workbook(out)


def header_index(ws) -> dict[str, int]:
    return {c.value: c.column for c in ws[1]}


def test_sheets_header_frozen_filter(book):
    out, sink, wb = book
    assert wb.sheetnames == ["feed", "Summary"]
    ws = wb["feed"]
    header = [c.value for c in ws[1]]
    expected = ["indicator", "comment"] + [
        f"{c} (UTC)" if c.endswith(("_first_seen", "_last_seen")) else c for c in MDE_COLUMNS
    ]
    assert header == expected
    assert ws.freeze_panes == "A2"
    last = openpyxl.utils.get_column_letter(len(header))
    assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}"
    assert ws.max_row == 1 + 2 + len(TRICKY) + 1
    assert sink.counts["rows"] == ws.max_row - 1
    assert all(c.font.bold for c in ws[1])


def test_prevalence_numbers_and_times_datetimes(book):
    _, _, wb = book
    ws = wb["feed"]
    col = header_index(ws)
    seen = ws[2]
    assert seen[col["mde_status"] - 1].value == "seen"
    prevalence = seen[col["mde_org_prevalence"] - 1]
    assert prevalence.value == 42 and prevalence.data_type == "n"
    first = seen[col["mde_org_first_seen (UTC)"] - 1]
    assert first.is_date and first.value == datetime(2026, 11, 2, 3, 4, 5, 679000)
    assert "yyyy" in first.number_format
    last = seen[col["mde_org_last_seen (UTC)"] - 1].value
    assert last == datetime(2026, 11, 30, 23, 59, 59, 500000)
    assert seen[col["mde_global_prevalence"] - 1].value == 1200
    unseen = ws[3]
    assert unseen[col["mde_org_prevalence"] - 1].value == 0
    assert unseen[col["mde_org_first_seen (UTC)"] - 1].value is None


def test_seen_rows_highlighted_others_not(book):
    _, _, wb = book
    ws = wb["feed"]
    col = header_index(ws)
    for row in ws.iter_rows(min_row=2):
        seen = row[col["mde_status"] - 1].value == "seen"
        for cell in (row[0], row[col["mde_org_first_seen (UTC)"] - 1], row[col["mde_value"] - 1]):
            rgb = cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type else None
            if seen:
                assert rgb is not None and rgb.upper().endswith("FFF2CC"), cell.coordinate
            else:
                assert rgb is None or not rgb.upper().endswith("FFF2CC"), cell.coordinate
    # the empty cells of a seen row (no cell in the file) show the row's own style, the others none
    assert ws[2][col["mde_error"] - 1].value is None
    assert ws.row_dimensions[2].fill.fgColor.rgb.upper().endswith("FFF2CC")
    assert ws.row_dimensions[3].fill is None or not ws.row_dimensions[3].fill.fill_type


def test_formula_like_input_stays_text(book):
    out, _, wb = book
    ws = wb["feed"]
    col = header_index(ws)
    cells = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    for text in TRICKY:
        cell = cells[text][0]
        assert cell.data_type == "s", (text, cell.data_type)
        assert cell.value == text
        assert cells[text][col["mde_value"] - 1].data_type == "s"
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, name
                # the <r>...</r> cell went in escaped, not as raw rich-text XML
                assert "<t>rich</t>" not in xml


def test_column_widths_fit(book):
    _, _, wb = book
    ws = wb["feed"]
    col = header_index(ws)
    width = ws.column_dimensions
    assert width["A"].width >= xlsx.MAX_WIDTH  # the 200-character cell, capped
    assert width["A"].width < xlsx.MAX_WIDTH + 2
    assert width["B"].width < 20
    status = openpyxl.utils.get_column_letter(col["mde_status"])
    assert len("mde_status") <= width[status].width < 20


def test_summary_sheet(book):
    _, sink, wb = book
    rows = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert rows["rows"] == sink.counts["rows"] == 10
    assert rows["rows seen"] == 1
    assert rows["rows not_seen"] == 1
    assert rows["rows invalid"] + rows["rows unsupported"] == 8
    assert rows["lookback hours"] == 168
    assert rows["mode (how MDE was asked)"] == "stats"
    assert rows["MDE API"] == "https://api.example"
    assert rows["lookups answered seen"] == 1
    assert sum(v for k, v in rows.items() if k.startswith("lookups answered by ")) == 2  # every lookup
    assert isinstance(rows["written (UTC)"], datetime)
    assert rows["feed"].endswith("feed.csv")  # the sheet -> input table
    assert sink.rows_by_status()["seen"] == 1


def test_one_sheet_per_input_with_unique_valid_names(tmp_path):
    a = write_csv(tmp_path, "summary.csv", [[SEEN_IP, "a"]])
    sub = tmp_path / "other"
    sub.mkdir()
    b = write_csv(sub, "summary.csv", [["unseen.example", "b"], [SEEN_IP, "c"]])
    out = tmp_path / "two.xlsx"
    write_book([a, b], out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["summary (2)", "summary (3)", "Summary"]
    assert wb["summary (2)"].max_row == 2 and wb["summary (3)"].max_row == 3


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_sheet_names_are_valid_excel_names():
    names = sheet_names(
        [
            Named(n)
            for n in [
                "a[1]:b*?.csv",
                "/x/y/" + "z" * 40 + ".csv",
                "-",
                "History.csv",
                "'q'.csv",
                "A.csv",
                "a.txt",
            ]
        ]
    )
    assert names[0] == "a_1__b__"
    assert len(names[1]) == 31
    assert names[2] == "stdin"
    assert names[3] != "History" and names[3].lower().startswith("history")
    assert names[4] == "q"
    assert names[5] == "A" and names[6] == "a (2)"
    for name in names:
        assert 0 < len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name)
    assert len({n.lower() for n in names}) == len(names)


def test_registry_and_extension():
    assert output_format(None, "out/report.XLSX") == "xlsx"
    assert sink_class("xlsx") is XlsxSink


def test_too_many_rows_is_a_usage_error_naming_the_input():
    big, small = Named("big.csv"), Named("small.csv")
    targets = [Target("out.xlsx", [small, big])]  # type: ignore[list-item]
    rows = {"big.csv": MAX_SHEET_ROWS, "small.csv": 10}
    with pytest.raises(UsageError, match=r"big\.csv: 1,048,576 rows, more than an Excel sheet holds"):
        check_targets(targets, MAX_SHEET_ROWS + 10, count_rows=lambda s: rows[s.name])
    # each input fits, though together they do not: fine (one sheet each)
    rows["big.csv"] = MAX_SHEET_ROWS - 1
    check_targets(targets, MAX_SHEET_ROWS + 9, count_rows=lambda s: rows[s.name])
    # under the limit in all: no input is read again
    check_targets(targets, MAX_SHEET_ROWS - 1, count_rows=lambda s: pytest.fail("counted"))


def test_abort_leaves_target_and_no_temporary(tmp_path):
    path = write_csv(tmp_path, "in.csv", [[SEEN_IP, "a"]])
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"before")
    src = open_source(path)
    outcomes = Outcomes(STATS, answers_for([src]))
    with pytest.raises(RuntimeError), XlsxSink(str(out), [src], SinkOptions()) as sink:
        sink.write(src, outcomes)
        raise RuntimeError("stop")
    assert out.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.xlsx"]


def test_stix_input_gets_a_sheet(tmp_path):
    bundle = Path(__file__).resolve().parents[2] / "sample_data" / "stix21_bundle.json"
    out = tmp_path / "stix.xlsx"
    write_book([str(bundle)], out)
    ws = openpyxl.load_workbook(out)["stix21_bundle"]
    col = header_index(ws)
    assert "stix_pattern" in col and "mde_status" in col
    assert ws.max_row > 10


def test_cells_longer_than_excel_allows_are_cut_and_counted(tmp_path):
    long = "y" * 40_000
    path = write_csv(tmp_path, "long.csv", [[SEEN_IP, long], ["x.example", "ctrl\x01char"]])
    out = tmp_path / "long.xlsx"
    sink = write_book([path], out)
    assert sink.counts["truncated_cells"] == 1
    wb = openpyxl.load_workbook(out)
    assert wb["long"]["B2"].value == long[: xlsx.MAX_CELL_CHARS]
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert summary["cells cut at 32,767 characters"] == 1
