"""A lone MD5 has one status and one reason in `classify` and `run` (stats mode): `unsupported`,
naming only what exists; beside its file's SHA-1 or SHA-256 it shares their one lookup."""

from __future__ import annotations

import csv
import io
import re

import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from enrich.answering import mode_names
from enrich.answering.stats import StatsStrategy
from enrich.classify_job import classify_files
from enrich.cli import cli
from enrich.indicators import extract
from enrich.model import MDE_COLUMNS, Status
from enrich.outcome import STATS, Outcomes, _mde_columns, classify_columns, classify_statuses, mde_columns
from tests.test_classify_fast_paths import plain_tokens

SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
OTHER_MD5 = "0cc175b9c0f1b6a831c399e269772661"

pytestmark = pytest.mark.usefixtures("clean_mde_env")


def feed(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text(
        "indicator,note\n"
        f"{MD5},lone\n"
        f"{OTHER_MD5.upper()},lone upper\n"
        f'"{SHA1},{MD5}",one file\n'
        f'"{SHA256} {MD5}",one file\n'
        f'"{OTHER_MD5},198.51.100.7",md5 beside an address\n'
        "198.51.100.8,address\n"
    )
    return path


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_md5_reason_names_only_what_exists():
    reason = StatsStrategy().unsupported_reason(extract(MD5)[0])
    assert "SHA-1" in reason and "SHA-256" in reason
    named = re.findall(r"--mode[ =]?(\w+)", reason)
    assert all(mode in mode_names() for mode in named), named
    assert "--mode hunting" not in reason


def test_classify_and_run_agree_on_md5(tmp_path):
    path = feed(tmp_path)
    classified = CliRunner().invoke(cli, ["classify", "--mode", "stats", str(path)])
    assert classified.exit_code == 0, classified.stderr
    ran = CliRunner().invoke(cli, ["run", "--mode", "stats", "--sandbox", "--no-cache", str(path)])
    assert ran.exit_code == 0, ran.stderr
    before, after = rows(classified.stdout), rows(ran.stdout)
    reason = StatsStrategy().unsupported_reason(extract(MD5)[0])
    for row in (before[0], before[1], after[0], after[1]):  # the lone MD5s
        assert row["mde_status"] == "unsupported", row
        assert row["mde_error"] == reason and row["mde_lookup"] == ""
    for one, other in zip(before, after, strict=True):
        assert one["mde_lookup"] == other["mde_lookup"] and one["mde_note"] == other["mde_note"]
        if one["mde_status"] != "pending":  # what classify settles, run says the same way
            assert (one["mde_status"], one["mde_error"]) == (other["mde_status"], other["mde_error"])
    # one file's SHA-1 or SHA-256 with its MD5: one lookup, the MD5 shares the answer
    assert before[2]["mde_status"] == before[3]["mde_status"] == "pending"
    assert before[2]["mde_lookup"] == f"files/{SHA1}" and before[3]["mde_lookup"] == f"files/{SHA256}"
    assert after[2]["mde_status"] in ("seen", "not_seen") and after[2]["mde_error"] == ""
    assert after[3]["mde_status"] in ("seen", "not_seen") and after[3]["mde_error"] == ""
    # an MD5 beside another indicator: the row is the address's, the MD5's reason is kept
    assert before[4]["mde_status"] == "pending" and f"{OTHER_MD5}: MD5" in before[4]["mde_error"]
    assert after[4]["mde_status"] in ("seen", "not_seen") and f"{OTHER_MD5}: MD5" in after[4]["mde_error"]


def test_the_classify_summary_counts_md5_as_its_cells_say(tmp_path):
    counts = classify_files(
        [str(feed(tmp_path))], str(tmp_path / "out.csv"), None, True, None, err=io.StringIO()
    )
    assert counts[("md5", "unsupported")] == 3  # two alone, one beside an address
    assert counts[("md5", "pending")] == 2  # beside its file's SHA-1 / SHA-256
    assert counts[("sha1", "pending")] == counts[("sha256", "pending")] == 1
    assert classify_statuses(extract(f"{SHA1},{MD5}")) == ("pending", "pending")
    assert classify_statuses(extract(f"{MD5},198.51.100.7")) == ("unsupported", "pending")


def test_outcomes_without_answers_give_md5_unsupported():
    outcomes = Outcomes(STATS, None)
    ind = extract(MD5)[0]
    entry = outcomes.entry(ind)
    assert entry.status is Status.UNSUPPORTED and entry.key is None
    assert outcomes.error(entry) == STATS.unsupported_reason(ind)
    shared = outcomes.entries(extract(f"{SHA1},{MD5}"))
    assert [e.status for e in shared] == [Status.PENDING, Status.PENDING]


@pytest.mark.parametrize(
    "text", [MD5, OTHER_MD5.upper(), f"{SHA1}", "198.51.100.7", "hxxp://evil[.]example/x", "not one"]
)
def test_classify_fast_path_gives_the_general_paths_cells(text):
    (ind,) = extract(text)
    assert classify_columns(ind) == _mde_columns((ind,), None, STATS)
    assert dict(zip(MDE_COLUMNS, mde_columns((ind,), None), strict=True))["mde_type"] == (
        ind.type.value if ind.type else ""
    )


@settings(max_examples=800, deadline=None)
@given(plain_tokens)
def test_classify_fast_path_equals_the_general_path_on_any_token(token):
    for ind in extract(token):
        assert classify_columns(ind) == _mde_columns((ind,), None, STATS), token
