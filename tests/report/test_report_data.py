"""The report's data and page, without a browser: counts, bins, reading CSV and STIX outputs,
escaping, self-containment, no secret, and the errors a user can meet."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from enrich.errors import UsageError
from enrich.model import Answer, Status
from enrich.outcome import STATS, Outcomes
from enrich.plan import make_plan
from enrich.report import ReportInputError, check_report_path, collect_outputs, make_report, render
from enrich.report.data import Collector, prevalence_bins
from enrich.report.from_run import collect_run, run_settings
from enrich.report.page import embed_json
from enrich.sinks.stix import write_stix
from enrich.sinks.targets import Target
from enrich.sources.open import open_source
from tests.report.helpers import XSS_DEVICES, XSS_VALUE, output_row, synthetic_rows, write_output

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


def test_prevalence_bins_double():
    assert prevalence_bins([]) == []
    assert prevalence_bins([1, 2, 3, 4, 7, 8, 100]) == [
        [1, 1, 1],
        [2, 3, 2],
        [4, 7, 2],
        [8, 15, 1],
        [16, 31, 0],
        [32, 63, 0],
        [64, 127, 1],
    ]
    assert prevalence_bins([0, 1])[0] == [0, 0, 1]


def test_collector_counts_rows_indicators_and_seen():
    c = Collector()
    c.add_row(
        "a.csv",
        1,
        output_row("seen", "ipv4", "198.51.100.1", "5", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        [("ipv4", "seen")],
    )
    c.add_row("a.csv", 2, output_row("not_seen", "domain", "x.example", "0"), [("domain", "not_seen")])
    two = output_row("seen", "sha1;md5", "aa;bb", "3")
    c.add_row("b.csv", 1, two, [("sha1", "seen"), ("md5", "unsupported")])
    c.add_row("b.csv", 2, output_row("invalid", "", "junk"), [("", "invalid")])
    data = c.data()
    head = data["headline"]
    assert (head["rows"], head["indicators"], head["seen"], head["not_seen"]) == (4, 5, 2, 1)
    assert (head["invalid"], head["unsupported"], head["error"]) == (1, 1, 0)
    assert head["rows_by_status"] == {"seen": 2, "not_seen": 1, "invalid": 1}
    by_type = dict((t, counts) for t, counts in data["status_by_type"])
    assert by_type["ipv4"] == {"seen": 1} and by_type["md5"] == {"unsupported": 1}
    assert data["status_by_type"][-1][0] == "none"  # entries that are no indicator come last
    cols = data["columns"]
    assert [r[cols.index("value")] for r in data["seen"]] == ["198.51.100.1", "aa;bb"]
    assert [data["inputs"][r[cols.index("file")]]["name"] for r in data["seen"]] == ["a.csv", "b.csv"]
    assert [r[cols.index("row")] for r in data["seen"]] == [1, 1]
    assert data["prevalence"] == {"bins": [[1, 1, 0], [2, 3, 1], [4, 7, 1]], "values": 2}
    assert data["timeline"]["spans"] == [
        ["198.51.100.1", "ipv4", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", 5]
    ]
    assert data["inputs"] == [{"name": "a.csv", "rows": 2}, {"name": "b.csv", "rows": 2}]


def test_embedded_json_cannot_end_the_script_block():
    data = {"v": "</script><script>alert(1)</script>", "w": "a\u2028b&c>"}
    text = embed_json(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_page_is_self_contained_and_escapes_values(tmp_path):
    rows = [output_row("seen", "domain", XSS_VALUE, "2", mde_devices=XSS_DEVICES)]
    rows[0]["mde_value"] = XSS_VALUE
    out = write_output(tmp_path / "x.csv", rows)
    c = collect_outputs([out])
    c.title = "<b>title</b>"
    html = render(c.data())
    assert html.count("<script") == 2  # the data block and the page's script, nothing from a value
    assert "<b>title</b>" not in html and "&lt;b&gt;title&lt;/b&gt;" in html
    assert XSS_VALUE not in html  # only as JSON with \u003c escapes
    assert page_data(html)["seen"][0][0] == XSS_VALUE
    # nothing that could load: no src/href to anywhere but data:, a CSP forbidding every load
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:)[a-z]+:""", html, re.I)
    assert "default-src 'none'" in html
    assert not re.search(r"@import|url\(\s*['\"]?http", html)


def test_report_from_csv_outputs_single_and_several_inputs(tmp_path):
    one = write_output(tmp_path / "one.csv", synthetic_rows(8, 5))
    several = write_output(
        tmp_path / "many.csv",
        [
            output_row("seen", "ipv4", "203.0.113.5", "4"),
            output_row("seen", "ipv4", "203.0.113.6", "1"),
            output_row("not_seen", "ipv4", "203.0.113.7", "0"),
        ],
        inputs=["in/a.csv", "in/b.csv", "in/b.csv"],
    )
    data = collect_outputs([one, several]).data()
    names = [i["name"] for i in data["inputs"]]
    assert names == [one, "in/a.csv", "in/b.csv"]
    assert [i["rows"] for i in data["inputs"]] == [15, 1, 2]
    cols = data["columns"]
    rows_b = [r for r in data["seen"] if names[r[cols.index("file")]] == "in/b.csv"]
    assert [r[cols.index("row")] for r in rows_b] == [1]  # the row within its own input
    head = data["headline"]
    assert head["seen"] == 10 and head["not_seen"] == 6 and head["rows"] == 18
    assert head["answered_by"] == {"cache": 4, "hunting-graph": 4}
    first = data["seen"][0]
    assert first[cols.index("devices")] == "pc-0;pc-1" and first[cols.index("events")] == 3
    assert head["lookback_hours"] is None and any("lookback" in n for n in data["notes"])


def test_report_from_stix_output(tmp_path):
    source = open_source(str(SAMPLES / "stix21_bundle.json"))
    keys = list(make_plan([source], STATS).keys)
    answers = {
        k: Answer(Status.SEEN, 7, "2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z")
        if i % 2 == 0
        else Answer(Status.NOT_SEEN, 0)
        for i, k in enumerate(keys)
    }
    out = str(tmp_path / "out.json")
    write_stix(
        [source],
        answers,
        out,
        org_name="Org",
        lookback_hours=48,
        api_url="https://api.example",
        queried_at=WHEN,
    )
    data = collect_outputs([out]).data()
    head = data["headline"]
    seen_keys = sum(1 for a in answers.values() if a.status is Status.SEEN)
    assert head["seen"] >= seen_keys and head["not_seen"] == 0  # no negative sightings written
    assert head["lookback_hours"] == "48"
    assert all(r[data["columns"].index("prevalence")] == 7 for r in data["seen"])
    assert any("negative-sightings" in n for n in data["notes"])
    # with negative sightings, the unseen ones are there too
    write_stix(
        [source],
        answers,
        out,
        org_name="Org",
        lookback_hours=48,
        api_url="",
        queried_at=WHEN,
        negative_sightings=True,
    )
    assert collect_outputs([out]).data()["headline"]["not_seen"] > 0


def test_report_from_a_run_uses_each_indicator(tmp_path):
    source = open_source(str(SAMPLES / "mixed_indicators.csv"))
    keys = list(make_plan([source], STATS).keys)
    answers = {k: Answer(Status.SEEN, 2, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z") for k in keys}
    summary = {"lookback_hours": 24, "output": "out.csv", "version": "x", "tenant_id": "tenant-secret-id"}
    request = SimpleNamespace(mode="stats", to=None, secrets="/home/me/secrets.json", file_info=True)
    settings = run_settings(request, summary, "csv")
    c = collect_run([source], Outcomes(STATS, answers), summary=summary, settings=settings, mode="stats")
    data = c.data()
    plan = make_plan([source], STATS)
    assert data["headline"]["rows"] == plan.rows
    assert data["headline"]["indicators"] == plan.indicators
    lookable = sum(
        1
        for chunk in source.chunks()
        for inds in chunk.indicators
        for ind, key in zip(inds, STATS.row_keys(inds), strict=True)
        if ind.status is Status.PENDING and key is not None
    )
    assert data["headline"]["seen"] == lookable > 0  # every lookup answered seen: each indicator counted
    assert data["headline"]["lookback_hours"] == 24 and data["headline"]["mode"] == "stats"
    html = render(data)
    assert "tenant-secret-id" not in html and "secrets.json" not in html
    assert ["file details (--file-info)", "yes"] in data["settings"]


def test_report_from_stix_output_where_nothing_was_seen(tmp_path):
    """A STIX output of a run that saw nothing (no --negative-sightings) holds no sighting: it is
    still enrich's output (its extension-definition says so), reported as nothing seen."""
    source = open_source(str(SAMPLES / "stix21_bundle.json"))
    answers = {k: Answer(Status.NOT_SEEN, 0) for k in make_plan([source], STATS).keys}
    out = str(tmp_path / "out.json")
    write_stix(
        [source],
        answers,
        out,
        org_name="Org",
        lookback_hours=48,
        api_url="",
        queried_at=WHEN,
        separate=True,
    )
    data = collect_outputs([out]).data()
    assert data["headline"]["seen"] == 0 and data["seen"] == []
    assert [i["name"] for i in data["inputs"]] == [out]
    assert any("no sighting" in n for n in data["notes"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n", "not an output of enrich run"),
        ('{"type": "bundle", "id": "bundle--1", "objects": []}', "holds no sighting written by enrich"),
        ("{not json", "not JSON"),
    ],
)
def test_bad_outputs_are_named(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportInputError, match=message):
        collect_outputs([str(path)])


def test_a_folder_stands_for_the_outputs_in_it(tmp_path):
    """`run -o FOLDER` then `enrich report FOLDER`: its outputs by name, not its summaries."""
    folder = tmp_path / "out"
    folder.mkdir()
    b_rows, a_rows = synthetic_rows(2, 1), synthetic_rows(1, 1)
    write_output(folder / "b.enriched.csv", b_rows)
    write_output(folder / "a.enriched.csv", a_rows)
    (folder / "run.summary.json").write_text('{"status": "finished"}', encoding="utf-8")
    (folder / "notes.txt").write_text("not an output", encoding="utf-8")
    page = tmp_path / "r.html"
    make_report([str(folder)], str(page))
    data = page_data(page.read_text(encoding="utf-8"))
    assert [(i["name"], i["rows"]) for i in data["inputs"]] == [
        (str(folder / "a.enriched.csv"), len(a_rows)),
        (str(folder / "b.enriched.csv"), len(b_rows)),
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="a folder with no output of enrich run"):
        make_report([str(tmp_path / "empty")], str(tmp_path / "r2.html"))


def test_broken_xlsx_and_missing_outputs_are_clear(tmp_path):
    book = tmp_path / "out.xlsx"
    book.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ReportInputError, match="not an xlsx workbook that can be read"):
        collect_outputs([str(book)])
    with pytest.raises(ReportInputError, match="cannot read"):
        collect_outputs([str(tmp_path / "nope.csv")])


def test_report_path_checks(tmp_path):
    out = write_output(tmp_path / "o.csv", synthetic_rows(2, 1))
    with pytest.raises(UsageError, match="one of the outputs read"):
        make_report([out], out)
    with pytest.raises(UsageError, match="not '-'"):
        make_report([out], "-")
    size = make_report([out], str(tmp_path / "r.html"))
    assert size == (tmp_path / "r.html").stat().st_size
    src = open_source(out)
    with pytest.raises(UsageError, match="is the input"):
        check_report_path(out, [Target(str(tmp_path / "x.csv"), [src])], [src])
    with pytest.raises(UsageError, match="is also -o"):
        check_report_path(str(tmp_path / "x.csv"), [Target(str(tmp_path / "x.csv"), [src])], [src])
    with pytest.raises(UsageError, match="is also --summary"):
        check_report_path(str(tmp_path / "s.json"), [Target("-", [src])], [src], str(tmp_path / "s.json"))
    with pytest.raises(Exception, match="does not exist"):
        check_report_path(str(tmp_path / "no" / "r.html"), [Target("-", [src])], [src])
    check_report_path(str(tmp_path / "fine.html"), [Target("-", [src])], [src])


def test_report_from_xlsx_output_matches_the_csv_output(tmp_path):
    from enrich.sinks.csv import CsvSink
    from enrich.sinks.interface import SinkOptions
    from enrich.sinks.xlsx import XlsxSink

    sources = [
        open_source(str(SAMPLES / "mixed_indicators.csv")),
        open_source(str(SAMPLES / "stix21_bundle.json")),
    ]
    keys = list(make_plan(sources, STATS).keys)
    answers = {
        k: Answer(Status.SEEN, i + 1, "2026-11-01T00:00:00.123Z", "2026-11-02T00:00:00.456Z")
        if i % 3 == 0
        else Answer(Status.NOT_SEEN, 0)
        for i, k in enumerate(keys)
    }
    outcomes = Outcomes(STATS, answers)
    options = SinkOptions(lookback_hours=72)
    for sink_class, name in ((CsvSink, "out.csv"), (XlsxSink, "out.xlsx")):
        with sink_class(str(tmp_path / name), sources, options) as sink:
            for src in sources:
                sink.write(src, outcomes)
    from_csv = collect_outputs([str(tmp_path / "out.csv")]).data()
    from_xlsx = collect_outputs([str(tmp_path / "out.xlsx")]).data()
    for key in ("rows", "indicators", "seen", "not_seen", "invalid", "unsupported", "rows_by_status"):
        assert from_xlsx["headline"][key] == from_csv["headline"][key], key
    assert from_xlsx["headline"]["lookback_hours"] == "72" and from_xlsx["headline"]["mode"] == "stats"
    assert [i["name"] for i in from_xlsx["inputs"]] == [s.name for s in sources]  # from the Summary sheet
    assert [i["name"] for i in from_csv["inputs"]] == [s.name for s in sources]  # the source_file column
    assert from_xlsx["seen"] == from_csv["seen"]  # values, numbers and times read back as the CSV holds them
    assert from_xlsx["status_by_type"] == from_csv["status_by_type"]
