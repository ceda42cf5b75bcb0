"""What `enrich run` is asked to do, typed once: the CLI's flags and a job file's keys are these fields.

Defaults live here and nowhere else. Durations are typed by users as text (`30d`, `7d`) and held
here in the unit the run uses (hours of lookback, seconds of cache age).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enrich.units import parse_duration

DEFAULT_LOOKBACK = "30d"
DEFAULT_MAX_AGE = "7d"
MAX_LOOKBACK_HOURS = 720  # MDE keeps 30 days
DEFAULT_MODE = "auto"
DEFAULT_MAX_DEVICES = 10  # hunting: device names kept per value
MAX_DEVICES = 1000


def lookback_hours(text: str | int) -> int:
    """Hours in a lookback duration (a bare number is days); ValueError outside 1h..30d."""
    hours = round(parse_duration(str(text), "d") / 3600)
    if not 1 <= hours <= MAX_LOOKBACK_HOURS:
        raise ValueError("must be between 1h and 30d (MDE keeps 30 days)")
    return hours


def max_age_seconds(text: str | int) -> float:
    """Seconds in a cache-age duration (a bare number is hours)."""
    return parse_duration(str(text), "h")


@dataclass
class RunRequest:
    """Everything `enrich run` was asked to do (CLI flags or a job file)."""

    inputs: list[str]
    output: str | None = None
    to: str | None = None
    column: str | None = None
    mode: str = DEFAULT_MODE  # stats, hunt or auto (enrich.answering.STRATEGIES)
    max_devices: int = DEFAULT_MAX_DEVICES  # --max-devices: device names kept per value (hunting)
    lookback_hours: int = field(default_factory=lambda: lookback_hours(DEFAULT_LOOKBACK))
    rate_limit: str | None = None
    file_info: bool = False
    cache: str | None = None
    no_cache: bool = False
    max_age_seconds: float | None = field(default_factory=lambda: max_age_seconds(DEFAULT_MAX_AGE))
    summary: str | None = None
    secrets: str | None = None
    concurrency: int | None = None
    timeout: float | None = None
    neutralise: bool = True
    org_name: str = "Our organisation"
    negative_sightings: bool = False
    stix_output: str = "merged"
    sandbox: bool = False
    progress_interval: float = 30.0
    wait: bool = False  # --wait: wait for another run's lock on an output (or the job file)
    verbose: int = 0  # -v: every request; -vv: also retry details (enrich.logs)
    quiet: bool = False  # -q: only errors and the final lines
    bom: bool = False  # --bom: CSV output starts with a UTF-8 byte order mark
    report: str | None = None  # --report FILE.html: an HTML report of the run (enrich.report)
    log_format: str = "text"  # --log-format: text lines or JSON Lines on stderr (enrich.logs)
    cloud: str | None = None  # --cloud: global, gcc, gcc-high, dod (None: MDE_CLOUD, else global)
    region: str | None = None  # --region: the global cloud's regional API host (None: MDE_REGION)
