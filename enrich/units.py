"""Parsing of the durations users type: `30d`, `12h`, `90m`, `45s`."""

from __future__ import annotations

import re

_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_duration(text: str, default_unit: str = "s") -> float:
    """Seconds in `text` (`30d`, `12h`, `90m`, `45s`, or a bare number in `default_unit`).

    Raises ValueError with a message a user can act on.
    """
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"'{text}' is not a duration; write it like 30d, 12h, 90m or 45s")
    number, unit = float(match.group(1)), match.group(2) or default_unit
    unit = unit[:-1] if unit.endswith("s") and unit[:-1] in _UNITS and unit not in _UNITS else unit
    if unit not in _UNITS:
        raise ValueError(f"unknown unit '{unit}' in '{text}'; use s, m, h or d")
    return number * _UNITS[unit]
