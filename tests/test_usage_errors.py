"""Usage errors are found before any work and said in words: exit 2 for `run`'s options, a JobError
(exit 1, as documented) naming the key for a job file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.errors import JobError
from enrich.jobfile import load_job
from enrich.mde.errors import ConfigError
from enrich.mde.settings import parse_rate_limits

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_data"
PLAIN = str(SAMPLES / "plain_list.txt")
STIX = str(SAMPLES / "stix21_bundle.json")
JSONL = str(SAMPLES / "indicators.jsonl")

pytestmark = pytest.mark.usefixtures("clean_mde_env")


def run(args: list[str], **env: str):
    return CliRunner().invoke(cli, ["run", "--sandbox", *args], env=env or None)


# --- --rate-limit ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["5/fortnight", "abc", "0/min", "100/min;hunting=lots"])
def test_a_bad_rate_limit_is_a_usage_error(tmp_path, spec):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", "--rate-limit", spec])
    assert result.exit_code == 2, result.stderr
    assert "--rate-limit" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_a_bad_rate_limit_in_the_environment_is_a_usage_error(tmp_path):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache"], MDE_RATE_LIMIT="lots")
    assert result.exit_code == 2, result.stderr
    assert "rate limit" in result.stderr


def test_an_unknown_api_family_is_named_with_the_known_ones(tmp_path):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", "--rate-limit", "domain=50/min"])
    assert result.exit_code == 2, result.stderr
    assert "'domain'" in result.stderr
    assert "files, ips, domains, hunting" in result.stderr


def test_parse_rate_limits_refuses_an_unknown_family_and_takes_the_known_ones():
    with pytest.raises(ConfigError, match="files, ips, domains, hunting"):
        parse_rate_limits("100/min;domain=50/min")
    limits = parse_rate_limits("Domains=50/min;HUNTING=2/s;ips=7/min;files=9/min")
    assert limits["domains"] == [(50, 60.0)] and limits["hunting"] == [(2, 1.0)]
    assert limits["ips"] == [(7, 60.0)] and limits["files"] == [(9, 60.0)]


def test_a_good_per_family_rate_limit_runs(tmp_path):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", "--rate-limit", "100/1s;domains=50/1s"])
    assert result.exit_code == 0, result.stderr


# --- options that contradict each other or the output ---------------------------------------


def test_no_cache_with_cache_is_a_usage_error(tmp_path):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", "--cache", str(tmp_path / "c.db")])
    assert result.exit_code == 2, result.stderr
    assert "--no-cache" in result.stderr and "--cache" in result.stderr
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--org-name", "ACME"],
        ["--org-name", "Our organisation"],  # given, even if equal to the default
        ["--negative-sightings"],
        ["--stix-output", "separate"],
        ["--stix-output", "merged", "--negative-sightings"],
    ],
)
def test_stix_only_options_with_csv_output_are_usage_errors(tmp_path, options):
    result = run([PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", *options])
    assert result.exit_code == 2, result.stderr
    assert options[0] in result.stderr and "STIX" in result.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("output", [["-o", "o.json"], ["-o", "o.out", "--to", "stix"], ["-o", "o.jsonl"]])
def test_stix_only_options_with_stix_output_are_taken(tmp_path, output):
    output = [str(tmp_path / o) if o.startswith("o.") else o for o in output]
    options = ["--org-name", "ACME", "--negative-sightings", "--stix-output", "separate"]
    result = run([PLAIN, *output, "--no-cache", *options])
    assert result.exit_code == 0, result.stderr
    assert "ACME" in Path(output[1]).read_text()


def test_column_with_only_stix_inputs_is_a_usage_error(tmp_path):
    result = run([STIX, JSONL, "-o", str(tmp_path / "o.csv"), "--no-cache", "--column", "2"])
    assert result.exit_code == 2, result.stderr
    assert "--column" in result.stderr and "no input is CSV" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_column_with_only_stix_inputs_in_classify_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["classify", STIX, "-o", str(tmp_path / "o.csv"), "--column", "1"])
    assert result.exit_code == 2, result.stderr
    assert "--column" in result.stderr


def test_column_with_a_csv_among_the_inputs_is_taken(tmp_path):
    result = run([STIX, PLAIN, "-o", str(tmp_path / "o.csv"), "--no-cache", "--column", "1"])
    assert result.exit_code == 0, result.stderr


# --- job files ------------------------------------------------------------------------------


def job(tmp_path: Path, text: str) -> str:
    path = tmp_path / "job.toml"
    path.write_text(f'inputs = ["{PLAIN}"]\n{text}\n')
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('concurrency = "many"', "'concurrency' must be an integer, not a string"),
        ("concurrency = 2.5", "'concurrency' must be an integer, not a number"),
        ('timeout = "soon"', "'timeout' must be a number, not a string"),
        ('file_info = "yes"', "'file_info' must be true or false, not a string"),
        ("column = 1.5", "'column' must be a string or an integer, not a number"),
        ("org_name = [1]", "'org_name' must be a string, not a list"),
        ("lookback = 1979-05-27", "'lookback' must be a string or an integer, not a date"),
        ("mode = true", "'mode' must be a string, not true or false"),
    ],
)
def test_a_wrong_type_says_what_type_is_expected(tmp_path, text, message):
    with pytest.raises(JobError) as info:
        load_job(job(tmp_path, text))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("out-{date:%Q}.csv", "'%Q'"),
        ("out-{date:%Y-%-m}.csv", "'%-'"),
        ("out-{now:%Y%}.csv", "'%' ends"),
    ],
)
def test_an_unknown_date_directive_is_an_error_not_a_file_name(tmp_path, pattern, message):
    with pytest.raises(JobError) as info:
        load_job(job(tmp_path, f'output = "{pattern}"'))
    assert message in str(info.value) and "job.toml" in str(info.value)


def test_known_date_directives_fill_the_path(tmp_path):
    from datetime import UTC, datetime

    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    loaded = load_job(job(tmp_path, 'output = "o-{date:%Y%m%d-%H%M%S-%j-%a-%%}.csv"'), when)
    assert loaded.request.output == str(tmp_path / "o-20260304-050607-063-Wed-%.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('rate_limit = "domain=50/min"', "files, ips, domains, hunting"),
        ('rate_limit = "lots"', "cannot read the rate limit"),
        ('no_cache = true\ncache = "c.db"', "contradict"),
        ('org_name = "ACME"', "'org_name' only applies to STIX output"),
        ('output = "o.csv"\nnegative_sightings = true', "'negative_sightings' only applies"),
        ('stix_output = "separate"\nto = "csv"', "'stix_output' only applies"),
    ],
)
def test_bad_run_options_in_a_job_file_are_job_errors(tmp_path, text, message):
    path = job(tmp_path, text)
    with pytest.raises(JobError) as info:
        load_job(path)
    assert message in str(info.value)
    result = CliRunner().invoke(cli, ["job", path, "--sandbox"])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_stix_keys_with_stix_output_and_a_family_rate_limit_are_taken(tmp_path):
    loaded = load_job(
        job(
            tmp_path,
            'output = "o.json"\norg_name = "ACME"\nnegative_sightings = true\n'
            'rate_limit = "100/min;hunting=45/min;domains=50/min"',
        )
    )
    assert loaded.request.org_name == "ACME" and loaded.request.rate_limit.endswith("domains=50/min")
