"""`classify --mode` shows the lookups each mode makes (MD5 and full URLs `pending` in hunt and auto,
`unsupported`/by host in stats), in-process and in the worker process alike; `run --sandbox` (the
quick mode) works in every mode; the mode options are usage errors when wrong."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from enrich import classify_job
from enrich.classify_job import classify_files
from enrich.cli import cli

pytestmark = pytest.mark.usefixtures("clean_mde_env")

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
URL = "hxxp://evil[.]example/dl/x.exe"


def feed(tmp_path, repeat: int = 1):  # noqa: ANN001
    path = tmp_path / "feed.csv"
    body = "".join(f"{MD5},a\n{URL},b\n{SHA1},c\n198.51.100.7,d\n" for _ in range(repeat))
    path.write_text("indicator,comment\n" + body)
    return path


def rows(text: str) -> dict[str, dict[str, str]]:
    return {r["indicator"]: r for r in csv.DictReader(io.StringIO(text))}


def test_classify_shows_each_modes_lookups(tmp_path):
    path = feed(tmp_path)
    shown = {}
    for mode in ("stats", "hunt", "auto"):
        result = CliRunner().invoke(cli, ["classify", "--mode", mode, str(path)])
        assert result.exit_code == 0, result.stderr
        shown[mode] = rows(result.stdout)
    default = CliRunner().invoke(cli, ["classify", str(path)])
    assert rows(default.stdout) == shown["auto"]  # auto is the default
    stats, hunt, auto = shown["stats"][MD5], shown["hunt"][MD5], shown["auto"][MD5]
    assert stats["mde_status"] == "unsupported" and "--mode hunt" in stats["mde_error"]
    assert hunt["mde_status"] == auto["mde_status"] == "pending"
    assert hunt["mde_lookup"] == auto["mde_lookup"] == f"files/{MD5}"
    assert hunt["mde_note"] == "" and "auto mode looks it up by advanced hunting" in auto["mde_note"]
    url_value = "http://evil.example/dl/x.exe"
    assert shown["stats"][URL]["mde_lookup"] == "domains/evil.example"
    assert shown["hunt"][URL]["mde_lookup"] == f"domains/evil.example;urls/{url_value}"
    assert "defanged" in shown["hunt"][URL]["mde_note"]
    assert "the counts are for the host evil.example" in shown["hunt"][URL]["mde_note"]
    for mode in shown:  # the rest is the same in every mode
        assert shown[mode][SHA1]["mde_lookup"] == f"files/{SHA1}"
        assert shown[mode]["198.51.100.7"]["mde_status"] == "pending"
    # the summary table counts as the cells say
    assert "unsupported" in CliRunner().invoke(cli, ["classify", "--mode", "stats", str(path)]).stderr


def test_the_worker_process_classifies_in_the_mode_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(classify_job, "_PART_ROWS", 500)
    monkeypatch.setattr(classify_job.CsvTexts, "_take_back", lambda self, pending: False)
    src = feed(tmp_path, repeat=1500)
    alone, helped = tmp_path / "alone.csv", tmp_path / "helped.csv"
    quiet = io.StringIO()
    one = classify_files([str(src)], str(alone), None, True, None, err=quiet, workers=0, mode="hunt")
    two = classify_files([str(src)], str(helped), None, True, None, err=quiet, workers=1, mode="hunt")
    assert alone.read_bytes() == helped.read_bytes() and one == two
    assert two[("md5", "pending")] == 1500 and two[("md5", "unsupported")] == 0


@pytest.mark.parametrize("mode", ["stats", "hunt", "auto"])
def test_the_sandbox_quick_mode_runs_in_every_mode(tmp_path, mode):
    out, summary = tmp_path / "o.csv", tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        ["run", "--sandbox", "--mode", mode, str(feed(tmp_path)), "-o", str(out), "--summary", str(summary)],
    )
    assert result.exit_code == 0, result.stderr
    got = rows(out.read_text(encoding="utf-8"))
    mode_said = json.loads(summary.read_text())["mode"]
    assert mode_said["asked"] == mode
    assert mode_said["chosen"] == ("stats" if mode == "stats" else "hunt")
    answered = {r["mde_answered_by"] for r in got.values() if r["mde_status"] in ("seen", "not_seen")}
    assert answered == ({"stats"} if mode == "stats" else {"hunting-graph"})
    assert got[MD5]["mde_status"] == ("unsupported" if mode == "stats" else "not_seen")
    assert f"enrich: mode {mode}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "psychic"], "'psychic' is not one of 'stats', 'hunt', 'auto'"),
        (["--max-devices", "-1"], "-1 is not in the range 0<=x<=1000"),
        (["--max-devices", "many"], "'many' is not a valid integer"),
    ],
)
def test_bad_mode_options_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["run", str(feed(tmp_path)), *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr
