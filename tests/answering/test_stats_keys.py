"""Row cells from indicators and answers: lookup keys, same-file groups, aggregation."""

import pytest

from enrich.answering.stats import StatsStrategy
from enrich.indicators import extract
from enrich.indicators.hosts import url_host
from enrich.model import MDE_COLUMNS, Answer, LookupKey, Status
from enrich.outcome import mde_columns

lookup_key = StatsStrategy().lookup_key
row_keys = StatsStrategy().row_keys

SHA1 = "a" * 40
SHA256 = "b" * 64
MD5 = "c" * 32


def cells(text, answers):
    return dict(zip(MDE_COLUMNS, mde_columns(extract(text), answers), strict=True))


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://evil.example/a?b#c", "evil.example"),
        ("https://u:p@Evil.example:8443/x", "Evil.example"),
        ("http://[2001:db8::1]:80/", "2001:db8::1"),
        ("http://evil.com\\@good.com/", "evil.com"),
        ("ftp://198.51.100.7/file", "198.51.100.7"),
    ],
)
def test_url_host(url, host):
    assert url_host(url) == host


def test_lookup_keys_per_type():
    assert lookup_key(extract("198.51.100.7")[0]) == LookupKey("ips", "198.51.100.7")
    assert lookup_key(extract("evil[.]example")[0]) == LookupKey("domains", "evil.example")
    assert lookup_key(extract("hxxp://198.51.100.7/x")[0]) == LookupKey("ips", "198.51.100.7")
    assert lookup_key(extract("https://www.evil.example/login")[0]) == LookupKey(
        "domains", "www.evil.example"
    )
    assert lookup_key(extract(SHA256)[0]) == LookupKey("files", SHA256)
    assert lookup_key(extract(MD5)[0]) is None
    assert lookup_key(extract("not an indicator at all")[0]) is None


def test_one_files_hashes_in_one_cell_ask_once_about_the_sha1():
    keys = row_keys(extract(f"{SHA256},{SHA1},{MD5}"))
    assert keys == [LookupKey("files", SHA1)] * 3
    # two unrelated SHA-256 hashes are two files
    other = "d" * 64
    assert row_keys(extract(f"{SHA256} {other}")) == [LookupKey("files", SHA256), LookupKey("files", other)]


def test_classify_cells_are_pending_and_md5_unsupported_names_the_alternative():
    row = cells("198.51.100.7", None)
    assert row["mde_status"] == "pending" and row["mde_lookup"] == "ips/198.51.100.7"
    assert row["mde_org_prevalence"] == ""
    row = cells(MD5, {})
    assert (
        row["mde_status"] == "unsupported" and "SHA-1" in row["mde_error"] and "hunting" in row["mde_error"]
    )


def test_answers_fill_the_cells_and_urls_say_the_host():
    key = LookupKey("domains", "evil.example")
    answer = Answer(Status.SEEN, 4, "2026-11-01T00:00:00.000Z", "2026-11-20T00:00:00.000Z")
    row = cells("hxxps://evil[.]example/path?q=1", {key: answer})
    assert row["mde_type"] == "url" and row["mde_value"] == "https://evil.example/path?q=1"
    assert (row["mde_status"], row["mde_org_prevalence"]) == ("seen", "4")
    assert row["mde_org_first_seen"] == "2026-11-01T00:00:00.000Z"
    assert "statistics are for the host evil.example" in row["mde_note"]
    assert "defanged" in row["mde_note"]


def test_missing_answer_is_an_error_with_words():
    row = cells("198.51.100.7", {})
    assert row["mde_status"] == "error" and "no answer" in row["mde_error"]


def test_invalid_from_mde_keeps_its_message():
    key = LookupKey("ips", "198.51.100.7")
    row = cells("198.51.100.7", {key: Answer(Status.INVALID, error="Invalid IP address")})
    assert row["mde_status"] == "invalid" and row["mde_error"] == "Invalid IP address"


def test_several_indicators_in_a_row_aggregate():
    a, b = LookupKey("ips", "198.51.100.7"), LookupKey("domains", "evil.example")
    answers = {
        a: Answer(Status.SEEN, 2, "2026-11-02T00:00:00.000Z", "2026-11-03T00:00:00.000Z"),
        b: Answer(
            Status.SEEN,
            5,
            "2026-11-01T00:00:00.000Z",
            "2026-11-02T00:00:00.000Z",
            detail=(("global_prevalence", "9"),),
        ),
    }
    row = cells("198.51.100.7; evil.example", answers)
    assert row["mde_type"] == "ipv4;domain" and row["mde_value"] == "198.51.100.7;evil.example"
    assert row["mde_status"] == "seen" and row["mde_org_prevalence"] == "5"
    assert row["mde_org_first_seen"] == "2026-11-01T00:00:00.000Z"
    assert row["mde_org_last_seen"] == "2026-11-03T00:00:00.000Z"
    assert row["mde_lookup"] == "ips/198.51.100.7;domains/evil.example"
    assert row["mde_global_prevalence"] == "9"
    # an error anywhere in the row makes the row `error` (so a rerun retries it), naming the value
    answers[b] = Answer(Status.ERROR, error="MDE answered HTTP 503")
    row = cells("198.51.100.7; evil.example", answers)
    assert row["mde_status"] == "error" and row["mde_error"] == "evil.example: MDE answered HTTP 503"


def test_same_file_group_shares_one_answer():
    key = LookupKey("files", SHA1)
    row = cells(f"{SHA256},{SHA1},{MD5}", {key: Answer(Status.NOT_SEEN, 0)})
    assert row["mde_status"] == "not_seen" and row["mde_error"] == ""
    assert f"same file as {SHA1}" in row["mde_note"]
