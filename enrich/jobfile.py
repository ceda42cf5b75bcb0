"""Job files (`enrich job FILE`): a TOML description of a recurring run, read into a typed `Job`.

A job's keys are `enrich run`'s options (`RunRequest`'s fields), with the two durations under
the names users type them (`lookback`, `max_age`). Relative paths are relative to the job file;
`{date:%Y-%m-%d}` in a path takes the run's UTC date.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enrich.errors import JobError
from enrich.request import RunRequest, lookback_hours, max_age_seconds


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
    keys["lookback"] = JobKey((str, int), "--lookback", "lookback_hours", lookback_hours)
    keys["max_age"] = JobKey((str, int), "--max-age", "max_age_seconds", max_age_seconds)
    return keys


KEYS: dict[str, JobKey] = _job_keys()
PATH_KEYS = ("output", "summary", "cache", "secrets")


@dataclass(frozen=True)
class Job:
    """A job file read: where it is and the run it describes."""

    path: str
    request: RunRequest


def expand(pattern: str, when: datetime, base: Path) -> str:
    """Fill `{date:%Y-%m-%d}`-style fields and `~`; relative paths are relative to the job file."""
    try:
        text = pattern.format(date=when, now=when)
    except (KeyError, IndexError, ValueError) as exc:
        raise JobError(f"bad placeholder in '{pattern}': {exc}; use {{date:%Y-%m-%d}}") from None
    path = Path(os.path.expanduser(text))
    return text if text == "-" else os.path.normpath(path if path.is_absolute() else base / path)


def _read(path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(f"{path}: no such job file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: cannot read the job file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"{path}: not valid TOML ({exc})") from None


def _check_types(path: str, data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise JobError(f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    for key, value in data.items():
        types = KEYS[key].types
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise JobError(f"{path}: '{key}' has the wrong type ({type(value).__name__})")


def _inputs(path: str, patterns: list[Any], when: datetime, base: Path) -> list[str]:
    if not patterns:
        raise JobError(f"{path}: 'inputs' must list at least one file, folder or glob pattern")
    inputs: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise JobError(f"{path}: every entry of 'inputs' must be a string")
        expanded = expand(pattern, when, base)
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        if not matches:
            raise JobError(f"{path}: no file matches '{pattern}'")
        inputs.extend(matches)
    return inputs


def load_job(path: str, when: datetime | None = None, *, sandbox: bool = False) -> Job:
    """Read and check a job file; JobError (one line naming the file) when it cannot be used."""
    when = when or datetime.now(UTC)
    data = _read(path)
    _check_types(path, data)
    base = Path(path).resolve().parent
    data["inputs"] = _inputs(path, data.get("inputs") or [], when, base)
    for key in PATH_KEYS:
        if key in data:
            data[key] = expand(data[key], when, base)
    values: dict[str, Any] = {}
    for key, value in data.items():
        spec = KEYS[key]
        try:
            values[spec.field] = spec.convert(value)
        except ValueError as exc:
            raise JobError(f"{path}: '{key}' {exc}") from None
    from enrich.answering import mode_names

    if values.get("mode", "stats") not in mode_names():
        raise JobError(f"{path}: mode '{values['mode']}' is not available; use {' or '.join(mode_names())}")
    return Job(path, RunRequest(sandbox=sandbox, **values))
