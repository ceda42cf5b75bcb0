"""Entity statistics: one LookupKey -> one Answer, and a bounded pool answering many keys.

Status rules: organisation prevalence > 0 -> SEEN; 0, or 404 for a file -> NOT_SEEN; 400 ->
INVALID with MDE's message; anything that kept failing -> ERROR with the reason in words.
Dates are ISO 8601 UTC to the second, truncated (`2017-09-19T03:51:27Z`): MDE's 7-digit
fractions add nothing an analyst can use, and one fixed width sorts and compares well.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from enrich.mde.client import MdeClient, error_message, segment
from enrich.mde.errors import MdeError, RetriesExhausted
from enrich.model import Answer, LookupKey, Status

log = logging.getLogger(__name__)

FAMILIES = ("files", "ips", "domains")
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
# Detail entry recording that /api/files/{hash} was asked (so a cached answer without it is not reused).
FILE_INFO_MARK = "file_info"
# File fields copied into Answer.detail: (MDE name, detail name).
_FILE_INFO_FIELDS = (
    ("sha1", "sha1"),
    ("sha256", "sha256"),
    ("md5", "md5"),
    ("size", "size"),
    ("fileType", "file_type"),
    ("isPeFile", "is_pe_file"),
    ("signer", "signer"),
    ("issuer", "issuer"),
    ("signerHash", "signer_hash"),
    ("isValidCertificate", "is_valid_certificate"),
    ("filePublisher", "file_publisher"),
    ("fileProductName", "file_product_name"),
    ("determinationType", "determination_type"),
    ("determinationValue", "determination_value"),
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


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def org_prevalence(body: dict) -> int | None:
    """`organizationPrevalence` (int), else `int(orgPrevalence)` (the older string field)."""
    for name in ("organizationPrevalence", "orgPrevalence"):
        number = _int(body.get(name))
        if number is not None and number >= 0:
            return number
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value if v is not None)
    return html.unescape(str(value)).strip()


def _stats_detail(family: str, body: dict) -> list[tuple[str, str]]:
    detail: list[tuple[str, str]] = []
    if family != "files":
        return detail
    glob = _int(body.get("globallyPrevalence"))
    if glob is None:
        glob = _int(body.get("globalPrevalence"))
    if glob is not None:
        detail.append(("global_prevalence", str(glob)))
    for name, key in (
        ("globalFirstObserved", "global_first_seen"),
        ("globalLastObserved", "global_last_seen"),
    ):
        if body.get(name):
            detail.append((key, iso_utc(body[name])))
    if body.get("topFileNames"):
        detail.append(("top_file_names", _text(body["topFileNames"])))
    return detail


def _info_detail(body: Any) -> list[tuple[str, str]]:
    if not isinstance(body, dict):
        return []
    out = []
    for name, key in _FILE_INFO_FIELDS:
        value = body.get(name)
        if value is None or value == "":
            continue
        out.append((key, _text(value)))
    return out


async def lookup(client: MdeClient, key: LookupKey, lookback_hours: int, file_info: bool = False) -> Answer:
    """Ask MDE about one key. Fatal errors (AuthError, PermissionDenied, ConfigError) propagate."""
    if key.family not in FAMILIES:
        return Answer(Status.ERROR, error=f"no MDE API answers {key.family!r} lookups")
    try:
        path = f"/api/{key.family}/{segment(key.key)}/stats"
    except ValueError as exc:
        return Answer(Status.INVALID, error=str(exc))
    params = {"lookBackHours": int(lookback_hours)}
    try:
        status, body = await client.get(key.family, path, params)
        if status == 404 and key.family == "files":
            return Answer(Status.NOT_SEEN, prevalence=0)
        if status == 400:
            return Answer(
                Status.INVALID, error=error_message(body) or "MDE refused this value (400 Bad Request)"
            )
        if status != 200:
            words = error_message(body)
            return Answer(Status.ERROR, error=f"MDE answered HTTP {status}" + (f": {words}" if words else ""))
        if not isinstance(body, dict):
            return Answer(Status.ERROR, error="MDE's answer was not a JSON object")
        prevalence = org_prevalence(body)
        if prevalence is None:
            return Answer(Status.ERROR, error="MDE's answer held no organisation prevalence")
        detail = _stats_detail(key.family, body)
        if file_info and key.family == "files":
            detail.append((FILE_INFO_MARK, "asked"))
            detail.extend(await _file_info(client, key))
        return Answer(
            Status.SEEN if prevalence > 0 else Status.NOT_SEEN,
            prevalence=prevalence,
            first_seen=iso_utc(body.get("orgFirstSeen")),
            last_seen=iso_utc(body.get("orgLastSeen")),
            detail=tuple(detail),
        )
    except RetriesExhausted as exc:
        return Answer(Status.ERROR, error=str(exc))


async def _file_info(client: MdeClient, key: LookupKey) -> list[tuple[str, str]]:
    """Signer, publisher, determination... from `/api/files/{hash}`; a failure is noted, not fatal."""
    try:
        status, body = await client.get("files", f"/api/files/{segment(key.key)}", None)
    except RetriesExhausted as exc:
        return [("file_info_error", str(exc))]
    if status == 200:
        return _info_detail(body)
    if status == 404:
        return []
    return [("file_info_error", f"MDE answered HTTP {status}: {error_message(body)}".rstrip(": "))]


async def lookup_many(
    client: MdeClient,
    keys: Iterable[LookupKey],
    lookback_hours: int,
    file_info: bool,
    on_answer: Callable[[LookupKey, Answer], None],
    concurrency: int = 8,
) -> None:
    """Answer every key, calling `on_answer(key, answer)` as each arrives.

    A fixed pool of `concurrency` workers per API family pulls keys from that family's list, so a
    family waiting on its quota never holds up the others; the client caps requests in flight.
    An MdeError other than RetriesExhausted (authentication, permission, TLS) or an exception
    from `on_answer` cancels the remaining work and propagates.
    """
    by_family: dict[str, list[LookupKey]] = {}
    for key in keys:
        by_family.setdefault(key.family, []).append(key)

    async def worker(queue: Iterable[LookupKey]) -> None:
        for key in queue:
            try:
                answer = await lookup(client, key, lookback_hours, file_info)
            except (MdeError, asyncio.CancelledError):
                raise
            except Exception as exc:  # a bug or an odd answer must not stop the night's run
                log.exception("lookup of %s %s failed unexpectedly", key.family, key.key)
                answer = Answer(Status.ERROR, error=f"unexpected failure: {type(exc).__name__}: {exc}")
            on_answer(key, answer)

    tasks: list[asyncio.Task[None]] = []
    for family_keys in by_family.values():
        shared = iter(family_keys)  # one iterator per family, shared by its workers
        for _ in range(min(max(1, concurrency), len(family_keys))):
            tasks.append(asyncio.create_task(worker(shared)))
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
