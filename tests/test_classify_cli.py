"""`enrich classify` through click's CliRunner: outputs, options, summaries and error exits."""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import Counter

import pytest
from click.testing import CliRunner

from enrich.classify_job import classify_cells, classify_files
from enrich.cli import cli
from enrich.model import CONTRACT_COLUMNS, MDE_COLUMNS
from enrich.sources.csv import CsvSource


def run(*args: str, input: bytes | str | None = None):
    return CliRunner().invoke(cli, ["classify", *args], input=input)


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("enrich classify: ")
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0]


def test_help_describes_columns_and_statuses():
    result = CliRunner().invoke(cli, ["classify", "--help"])
    assert result.exit_code == 0
    for word in [
        *CONTRACT_COLUMNS,
        "mde_lookup",
        "pending",
        "unsupported",
        "invalid",
        "--column",
        "--no-neutralise",
    ]:
        assert word in result.output
    assert "classify" in CliRunner().invoke(cli, ["--help"]).output


def test_sample_to_stdout(sample_dir):
    path = str(sample_dir / "mixed_indicators.csv")
    result = run(path)
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    with open(path, newline="", encoding="utf-8") as fh:
        source_rows = list(csv.reader(fh))
    assert rows[0] == source_rows[0] + list(MDE_COLUMNS)
    assert len(rows) == len(source_rows)
    status = rows[0].index("mde_status")
    assert {r[status] for r in rows[1:]} == {"pending", "unsupported", "invalid"}
    assert "indicators from column 'indicator'" in result.stderr
    assert "classified 33 rows from 1 input -> stdout" in result.stderr


def test_output_file_and_summary(tmp_path, sample_dir):
    out = tmp_path / "out.csv"
    result = run(str(sample_dir / "banner_export.csv"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    rows = table(out.read_text())
    assert rows[0][:2] == ["first_seen_utc", "dst_ip"] and len(rows) == 11
    lines = result.stderr.splitlines()
    assert any(line.split()[:2] == ["ipv4", "9"] for line in lines)
    assert any(line.split()[:2] == ["ipv6", "1"] for line in lines)


def test_several_inputs_one_file(tmp_path, sample_dir):
    out = tmp_path / "all.csv"
    a, b = str(sample_dir / "headerless_iocs.csv"), str(sample_dir / "semicolon_iocs.csv")
    result = run(a, b, "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = table(out.read_text())
    assert rows[0][0] == "source_file"
    assert rows[0][1:4] == ["column_1", "column_2", "column_3"] and "Wert" in rows[0]
    assert [r[0] for r in rows[1:]] == [a] * 10 + [b] * 12


def test_folder_input_and_folder_output(tmp_path, sample_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("headerless_iocs.csv", "plain_list.txt"):
        (inputs / name).write_bytes((sample_dir / name).read_bytes())
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run(str(inputs), "-o", str(outdir))
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(outdir)) == ["headerless_iocs.classified.csv", "plain_list.classified.csv"]
    rows = table((outdir / "plain_list.classified.csv").read_text())
    assert rows[0] == ["column_1", *MDE_COLUMNS] and len(rows) == 14


def test_column_option(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("ip,domain\n198.51.100.1,evil.example\n198.51.100.2,bad.example\n")
    by_name = table(run(str(path), "--column", "domain").stdout)
    by_number = table(run(str(path), "--column", "2").stdout)
    assert by_name == by_number
    assert [r[2] for r in by_name[1:]] == ["domain", "domain"]


def test_no_neutralise(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("value,note\n198.51.100.1,=1+1\n")
    assert table(run(str(path)).stdout)[1][1] == "'=1+1"
    assert table(run(str(path), "--no-neutralise").stdout)[1][1] == "=1+1"


def test_stdin():
    result = run("-", input="ioc\n198.51.100.1\nhxxp://evil[.]example/a\n")
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    assert [r[1] for r in rows[1:]] == ["ipv4", "url"]
    assert result.stderr.startswith("-: ")


def test_stix_input(sample_dir):
    result = run(str(sample_dir / "stix21_bundle.json"))
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    assert rows[0][-len(MDE_COLUMNS) :] == list(MDE_COLUMNS)
    assert len(rows) > 1


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["is empty"]),
        (gzip.compress(b"a,b\n"), ["gzip"]),
        (bytes(range(256)) * 4, ["binary data"]),
    ],
)
def test_bad_inputs_exit_1(tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    one_line_error(run(str(path)), str(path), *words)


def test_missing_input_and_folder_errors(tmp_path):
    one_line_error(run(str(tmp_path / "nope.csv")), "nope.csv", "no such file")
    one_line_error(run(str(tmp_path)), "holds no input files")


def test_unknown_column_exit_1(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("value,type\n198.51.100.1,ip\n")
    one_line_error(run(str(path), "--column", "ioc"), "'ioc'", "'value', 'type'")


def test_output_not_writable_exit_1(tmp_path, sample_dir):
    out = tmp_path / "missing" / "out.csv"
    one_line_error(run(str(sample_dir / "plain_list.txt"), "-o", str(out)), "does not exist")


def test_second_input_bad_leaves_no_output(tmp_path, sample_dir):
    out = tmp_path / "out.csv"
    result = run(str(sample_dir / "plain_list.txt"), str(tmp_path / "nope.csv"), "-o", str(out))
    one_line_error(result, "no such file")
    assert not out.exists()


def test_usage_errors_exit_2():
    assert CliRunner().invoke(cli, ["classify"]).exit_code == 2
    assert CliRunner().invoke(cli, ["classify", "--bogus", "x"]).exit_code == 2


@pytest.mark.parametrize("name", ["out.xlsx", "OUT.JSON", "out.jsonl"])
def test_an_output_named_as_a_workbook_or_json_is_a_usage_error(tmp_path, sample_dir, name):
    """classify writes CSV: a CSV at out.xlsx would not open in Excel (run writes xlsx and STIX)."""
    out = tmp_path / name
    result = run(str(sample_dir / "plain_list.txt"), "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "classify writes CSV" in result.stderr and "Traceback" not in result.output
    assert not out.exists()


def test_classify_files_returns_counts(tmp_path, sample_dir):
    err = io.StringIO()
    counts = classify_files(
        [str(sample_dir / "headerless_iocs.csv")], str(tmp_path / "o.csv"), None, True, None, err=err
    )
    assert counts == Counter(
        {
            ("ipv4", "pending"): 3,
            ("ipv6", "pending"): 1,
            ("domain", "pending"): 2,
            ("url", "pending"): 1,
            ("sha1", "pending"): 1,
            ("sha256", "pending"): 1,
            ("-", "invalid"): 1,
        }
    )
    with pytest.raises(ValueError):
        classify_files([str(sample_dir / "headerless_iocs.csv")], None, None, True, "stix")


def test_classify_cells_counts_each_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("v\n198.51.100.1\n198.51.100.1\nx\n198.51.100.1\n")
    chunk = next(CsvSource(str(path)).chunks())
    counts: Counter = Counter()
    cells = classify_cells(chunk.indicators, counts)
    assert [c[2] for c in cells] == ["pending", "pending", "invalid", "pending"]
    assert counts == Counter({("ipv4", "pending"): 3, ("-", "invalid"): 1})


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, monkeypatch, sample_dir):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("enrich.classify_job.classify_files", interrupted)
    out = tmp_path / "out.csv"
    result = run(str(sample_dir / "plain_list.txt"), "-o", str(out))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and not out.exists()
