"""Job files (`enrich job FILE`): a TOML description of a recurring run, read into a typed `Job`.

A job's keys are `enrich run`'s options (`RunRequest`'s fields), with the two durations under
the names users type them (`lookback`, `max_age`). Relative paths are relative to the job file;
`{date:%Y-%m-%d}` in a path takes the run's UTC date.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enrich.errors import JobError
from enrich.logs import log_format_choice
from enrich.mde.clouds import cloud_choice, region_choice
from enrich.mde.settings import rate_limit_spec
from enrich.request import DEFAULT_MODE, MAX_DEVICES, RunRequest, lookback_hours, max_age_seconds

if TYPE_CHECKING:
    from enrich.tenants import TenantRun


@dataclass(frozen=True)
class JobKey:
    """One key of a job file: the TOML types it takes, the `run` option it stands for, and how it
    becomes a `RunRequest` field."""

    types: tuple[type, ...]
    option: str
    field: str
    convert: Callable[[Any], Any] = lambda value: value  # noqa: E731 - the value as it is


def _job_keys() -> dict[str, JobKey]:
    """Every `RunRequest` field but `sandbox` (a flag of `enrich job`), durations by their typed names."""
    kinds: dict[str, tuple[type, ...]] = {
        "inputs": (list,),
        "column": (str, int),
        "concurrency": (int,),
        "timeout": (int, float),
        "progress_interval": (int, float),
        "verbose": (int,),
        "max_devices": (int,),
    }
    keys: dict[str, JobKey] = {}
    for f in dataclasses.fields(RunRequest):
        if f.name in ("sandbox", "lookback_hours", "max_age_seconds"):
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        types = kinds.get(f.name) or ((bool,) if isinstance(default, bool) else (str,))
        option = "--neutralise/--no-neutralise" if f.name == "neutralise" else "--" + f.name.replace("_", "-")
        keys[f.name] = JobKey(types, "INPUT..." if f.name == "inputs" else option, f.name)
    keys["column"] = dataclasses.replace(keys["column"], convert=str)
    keys["max_devices"] = dataclasses.replace(keys["max_devices"], convert=_max_devices)
    keys["rate_limit"] = dataclasses.replace(keys["rate_limit"], convert=rate_limit_spec)
    keys["cloud"] = dataclasses.replace(keys["cloud"], convert=cloud_choice)
    keys["region"] = dataclasses.replace(keys["region"], convert=region_choice)
    keys["log_format"] = dataclasses.replace(keys["log_format"], convert=log_format_choice)
    keys["lookback"] = JobKey((str, int), "--lookback", "lookback_hours", lookback_hours)
    keys["max_age"] = JobKey((str, int), "--max-age", "max_age_seconds", max_age_seconds)
    return keys


def _max_devices(value: int) -> int:
    if not 0 <= value <= MAX_DEVICES:
        raise ValueError(f"must be between 0 and {MAX_DEVICES}; got {value}")
    return value


KEYS: dict[str, JobKey] = _job_keys()
PATH_KEYS = ("output", "summary", "report", "cache", "secrets")
STIX_KEYS = ("org_name", "negative_sightings", "stix_output")  # only mean something for STIX output
# strftime directives a `{date:...}` field may use: those Python documents for every platform.
DATE_DIRECTIVES = frozenset("aAwdbBmyYHIpMSfzZjUWcxXGuV%")
# How a type error names what TOML holds and what a key wants.
_TOML_TYPES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


@dataclass(frozen=True)
class Job:
    """A job file read: where it is and the run it describes.

    A job with `[[tenant]]` tables (`enrich.tenants`) has one run per tenant in `tenants`; its
    `request` then holds the job-wide settings (verbosity, wait, log format, `summary`: the job's
    summary over every tenant) and `tenant_concurrency` how many tenants run at once.
    """

    path: str
    request: RunRequest
    tenants: tuple[TenantRun, ...] = ()  # one per [[tenant]] table
    tenant_concurrency: int = 0


def _check_date_fields(pattern: str) -> None:
    """JobError when a `{date:...}` field uses a strftime directive outside `DATE_DIRECTIVES`
    (Python would copy `%Q` through, or not, depending on the platform)."""
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise JobError(f"bad placeholder in '{pattern}': {exc}; use {{date:%Y-%m-%d}}") from None
    for _, name, spec, _ in fields:
        if name not in ("date", "now") or not spec:
            continue
        rest = spec
        while "%" in rest:
            _, _, rest = rest.partition("%")
            directive = rest[:1]
            if directive not in DATE_DIRECTIVES:
                what = f"unknown date directive '%{directive}'" if directive else "a '%' ends the date format"
                raise JobError(
                    f"{what} in '{pattern}'; use strftime directives "
                    "such as %Y (year), %m (month), %d (day), %H (hour), %M (minute), e.g. {date:%Y-%m-%d}"
                )
            rest = rest[len(directive) :]


def expand(pattern: str, when: datetime, base: Path) -> str:
    """Fill `{date:%Y-%m-%d}`-style fields and `~`; relative paths are relative to the job file."""
    _check_date_fields(pattern)
    try:
        text = pattern.format(date=when, now=when)
    except (KeyError, IndexError, ValueError) as exc:
        raise JobError(f"bad placeholder in '{pattern}': {exc}; use {{date:%Y-%m-%d}}") from None
    path = Path(os.path.expanduser(text))
    return text if text == "-" else os.path.normpath(path if path.is_absolute() else base / path)


def expand_in_job(path: str, pattern: str, when: datetime, base: Path) -> str:
    """`expand`, its JobError naming the job file `path`."""
    try:
        return expand(pattern, when, base)
    except JobError as exc:
        raise JobError(f"{path}: {exc}") from None


def _read(path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(f"{path}: no such job file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: cannot read the job file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"{path}: not valid TOML ({exc})") from None


def check_types(path: str, data: dict[str, Any]) -> None:
    """JobError naming `path` for a key that is not a run key or a value of the wrong TOML type."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise JobError(f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    for key, value in data.items():
        types = KEYS[key].types
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise JobError(f"{path}: '{key}' must be {_wanted(types)}, not {_toml_type(value)}")


def _toml_type(value: Any) -> str:
    """What a TOML value is, in the words of `_TOML_TYPES` ("a date" for TOML's dates and times)."""
    return next((words for kind, words in _TOML_TYPES.items() if isinstance(value, kind)), "a date")


def _wanted(types: tuple[type, ...]) -> str:
    """The TOML types a key takes: "an integer", "a number" (int or float), "a string or an integer"."""
    if set(types) == {int, float}:
        return "a number"
    return " or ".join(_TOML_TYPES[kind] for kind in types)


def _inputs(path: str, patterns: list[Any], when: datetime, base: Path) -> list[str]:
    if not patterns:
        raise JobError(f"{path}: 'inputs' must list at least one file, folder or glob pattern")
    inputs: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise JobError(f"{path}: every entry of 'inputs' must be a string")
        expanded = expand_in_job(path, pattern, when, base)
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        if not matches:
            raise JobError(f"{path}: no file matches '{pattern}'")
        inputs.extend(matches)
    return inputs


def _check_combinations(path: str, data: dict[str, Any]) -> None:
    """Keys that contradict each other or the output format (as `run`'s options do)."""
    from enrich.sinks.registry import output_format

    if data.get("no_cache") and "cache" in data:
        raise JobError(f"{path}: 'no_cache' and 'cache' contradict each other; give one of them")
    if output_format(data.get("to"), data.get("output")) != "stix":
        given = [key for key in STIX_KEYS if key in data]
        if given:
            raise JobError(
                f"{path}: {', '.join(repr(k) for k in given)} only {'applies' if len(given) == 1 else 'apply'} "
                'to STIX output, and this job writes CSV; set to = "stix" (or an output ending in .json) '
                "or remove them"
            )


def load_job(path: str, when: datetime | None = None, *, sandbox: bool = False) -> Job:
    """Read and check a job file; JobError (one line naming the file) when it cannot be used."""
    when = when or datetime.now(UTC)
    data = _read(path)
    if "tenant" in data:  # [[tenant]] tables: one run per tenant (enrich.tenants)
        from enrich.tenants import load_tenants

        return load_tenants(path, data, when, sandbox=sandbox)
    check_types(path, data)
    return Job(path, request_of(path, data, when, sandbox=sandbox))


def request_of(path: str, data: dict[str, Any], when: datetime, *, sandbox: bool = False) -> RunRequest:
    """The `RunRequest` a job file's keys (type-checked) describe; JobError naming the file otherwise."""
    data = dict(data)
    base = Path(path).resolve().parent
    data["inputs"] = _inputs(path, data.get("inputs") or [], when, base)
    for key in PATH_KEYS:
        if key in data:
            data[key] = expand_in_job(path, data[key], when, base)
    values: dict[str, Any] = {}
    for key, value in data.items():
        spec = KEYS[key]
        try:
            values[spec.field] = spec.convert(value)
        except ValueError as exc:
            words = str(exc)
            raise JobError(
                f"{path}: '{key}' {words}" if words.startswith("must") else f"{path}: '{key}': {words}"
            ) from None
    _check_combinations(path, data)
    from enrich.answering import mode_names

    if values.get("mode", DEFAULT_MODE) not in mode_names():
        raise JobError(f"{path}: mode '{values['mode']}' is not available; use {' or '.join(mode_names())}")
    return RunRequest(sandbox=sandbox, **values)
