"""The quantities users type: durations (`30d`, `12h`, `90m`, `45s`) and rate limits (`100/min,1500/hour`).

One grammar for both, used by `run`, job files and `sandbox` alike.
"""

from __future__ import annotations

import re

# Seconds per unit; a unit may also be written in the plural (`hours`, `mins`).
UNITS: dict[str, float] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)?\s*([a-z]+)\s*$")

DEFAULT_RATE_LIMIT = "100/min,1500/hour"

RateLimit = list[tuple[int, float]]  # (calls, window seconds), shortest window first


def unit_seconds(unit: str) -> float | None:
    """Seconds in one `unit` (singular or plural), or None when it is not a unit."""
    if unit in UNITS:
        return UNITS[unit]
    if unit.endswith("s") and unit[:-1] in UNITS:
        return UNITS[unit[:-1]]
    return None


def parse_duration(text: str, default_unit: str = "s") -> float:
    """Seconds in `text` (`30d`, `12h`, `90m`, `45s`, or a bare number in `default_unit`).

    Raises ValueError with a message a user can act on.
    """
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"'{text}' is not a duration; write it like 30d, 12h, 90m or 45s")
    number, unit = float(match.group(1)), match.group(2) or default_unit
    seconds = unit_seconds(unit)
    if seconds is None:
        raise ValueError(f"unknown unit '{unit}' in '{text}'; use s, m, h or d")
    return number * seconds


def parse_rate_limit(spec: str) -> RateLimit:
    """Parse `"100/min,1500/hour"` into `[(100, 60.0), (1500, 3600.0)]`.

    Each part is `COUNT/[NUMBER]UNIT` with UNIT a duration unit (s, min, h, d...); e.g. `100/1s`,
    `1500/60s`, `100/0.1s`, `10/2.5m`. Raises ValueError with a message a user can act on.
    """
    limits: RateLimit = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        match = _LIMIT.match(part.lower())
        seconds = unit_seconds(match.group(3)) if match else None
        if match is None or seconds is None:
            raise ValueError(
                f"cannot read the rate limit {part.strip()!r}: write COUNT/UNIT such as 100/min, "
                "1500/hour, 10/s or 100/1.5s, separated by commas"
            )
        count = int(match.group(1))
        window = float(match.group(2) or 1) * seconds
        if count < 1 or window <= 0:
            raise ValueError(
                f"the rate limit {part.strip()!r} must allow at least 1 call in a window above 0"
            )
        limits.append((count, window))
    if not limits:
        raise ValueError(f"the rate limit {spec!r} is empty; write e.g. {DEFAULT_RATE_LIMIT}")
    return sorted(limits, key=lambda item: item[1])
