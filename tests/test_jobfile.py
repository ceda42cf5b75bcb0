"""Job files are typed: their keys are `enrich run`'s options, with the same defaults."""

from __future__ import annotations

import dataclasses

import pytest

from enrich.cli import cli
from enrich.errors import JobError
from enrich.jobfile import KEYS, load_job
from enrich.request import RunRequest


def test_every_run_option_is_a_job_key():
    run = cli.commands["run"]
    options = {p.name for p in run.params if p.name not in ("inputs", "sandbox")}
    job_fields = {spec.field for spec in KEYS.values()}
    spelled = {"lookback": "lookback_hours", "max_age": "max_age_seconds", "no_neutralise": "neutralise"}
    assert {spelled.get(name, name) for name in options} <= job_fields
    assert {f.name for f in dataclasses.fields(RunRequest)} - {"sandbox"} == job_fields


def test_a_job_reads_into_the_run_request_with_run_defaults(tmp_path):
    (tmp_path / "feed.csv").write_text("indicator\n198.51.100.7\n")
    job = tmp_path / "j.toml"
    job.write_text(
        'inputs = ["feed.csv"]\ntimeout = 12.5\nprogress_interval = 5\ncolumn = 1\nlookback = "2d"\n'
    )
    request = load_job(str(job)).request
    assert request.inputs == [str(tmp_path / "feed.csv")]
    assert (request.timeout, request.progress_interval, request.column) == (12.5, 5, "1")
    assert request.lookback_hours == 48
    defaults = RunRequest(inputs=[])
    assert request.max_age_seconds == defaults.max_age_seconds == 7 * 86400
    assert (request.mode, request.neutralise, request.org_name) == (
        defaults.mode,
        defaults.neutralise,
        defaults.org_name,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lookback = "90d"', "'lookback' must be between 1h and 30d"),
        ('mode = "psychic"', "mode 'psychic' is not available"),
        ("timeout = true", "'timeout' must be a number, not true or false"),
        ('max_age = "soon"', "'max_age': 'soon' is not a duration"),
        ("max_devices = -1", "'max_devices' must be between 0 and 1000; got -1"),
        ('max_devices = "10"', "'max_devices' must be an integer, not a string"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    (tmp_path / "feed.csv").write_text("indicator\n198.51.100.7\n")
    job = tmp_path / "j.toml"
    job.write_text(f'inputs = ["feed.csv"]\n{text}\n')
    with pytest.raises(JobError, match=message.replace("(", r"\(")):
        load_job(str(job))


def test_mode_and_max_devices_keys(tmp_path):
    (tmp_path / "feed.csv").write_text("indicator\n198.51.100.7\n")
    job = tmp_path / "j.toml"
    job.write_text('inputs = ["feed.csv"]\n')
    request = load_job(str(job)).request
    assert (request.mode, request.max_devices) == ("auto", 10)  # run's defaults
    job.write_text('inputs = ["feed.csv"]\nmode = "hunt"\nmax_devices = 0\n')
    request = load_job(str(job)).request
    assert (request.mode, request.max_devices) == ("hunt", 0)
