"""MDE's timestamps: any fraction length, `Z`, an offset or no zone, as one fixed-width UTC form.

Dates are ISO 8601 UTC truncated to the millisecond (`2017-09-19T03:51:27.123Z`): MDE's 7-digit
fractions add nothing an analyst can use, and one fixed width sorts and compares well.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_mde_time(text: str) -> datetime | None:
    """An MDE timestamp (any fraction length, `Z`, an offset, or no zone = UTC) as an aware UTC
    datetime truncated to the millisecond; None when it is not a timestamp."""
    match = _ISO.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int(((match.group(7) or "") + "000")[:3])
    try:
        moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        return None
    zone = match.group(8)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment = moment - offset if zone[0] == "+" else moment + offset
    return moment


def format_time(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_utc(value: Any) -> str:
    """MDE's timestamp as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, truncated to the millisecond); "" when absent.

    Text that is not a timestamp is returned unchanged rather than lost.
    """
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    moment = parse_mde_time(text)
    return text if moment is None else format_time(moment)
