"""Job files (`enrich job FILE`): a TOML description of a recurring run."""

from __future__ import annotations

import glob
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enrich.errors import JobError

# Job-file key -> (type, `enrich run` option it stands for).
KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "inputs": (list, "INPUT..."),
    "output": (str, "--output"),
    "to": (str, "--to"),
    "column": ((str, int), "--column"),
    "mode": (str, "--mode"),
    "lookback": ((str, int), "--lookback"),
    "rate_limit": (str, "--rate-limit"),
    "file_info": (bool, "--file-info"),
    "cache": (str, "--cache"),
    "no_cache": (bool, "--no-cache"),
    "max_age": (str, "--max-age"),
    "summary": (str, "--summary"),
    "secrets": (str, "--secrets"),
    "concurrency": (int, "--concurrency"),
    "neutralise": (bool, "--neutralise/--no-neutralise"),
    "org_name": (str, "--org-name"),
    "negative_sightings": (bool, "--negative-sightings"),
    "stix_output": (str, "--stix-output"),
}


def expand(pattern: str, when: datetime, base: Path) -> str:
    """Fill `{date:%Y-%m-%d}`-style fields and `~`; relative paths are relative to the job file."""
    try:
        text = pattern.format(date=when, now=when)
    except (KeyError, IndexError, ValueError) as exc:
        raise JobError(f"bad placeholder in '{pattern}': {exc}; use {{date:%Y-%m-%d}}") from None
    path = Path(os.path.expanduser(text))
    return text if text == "-" else os.path.normpath(path if path.is_absolute() else base / path)


def load_job(path: str, when: datetime | None = None) -> dict[str, Any]:
    """Read a job file into the keyword arguments of a run (keys as in `KEYS`)."""
    when = when or datetime.now(UTC)
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(f"{path}: no such job file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: cannot read the job file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise JobError(f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    for key, value in data.items():
        kind, _ = KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise JobError(f"{path}: '{key}' has the wrong type ({type(value).__name__})")
    if not data.get("inputs"):
        raise JobError(f"{path}: 'inputs' must list at least one file, folder or glob pattern")
    base = file.resolve().parent
    inputs: list[str] = []
    for pattern in data["inputs"]:
        if not isinstance(pattern, str):
            raise JobError(f"{path}: every entry of 'inputs' must be a string")
        expanded = expand(pattern, when, base)
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        if not matches:
            raise JobError(f"{path}: no file matches '{pattern}'")
        inputs.extend(matches)
    data["inputs"] = inputs
    for key in ("output", "summary", "cache", "secrets"):
        if key in data:
            data[key] = expand(data[key], when, base)
    return data
