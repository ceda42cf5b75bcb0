"""The stats strategy: the entity statistics APIs, one call per distinct lookup.

Which lookups: SHA-1 and SHA-256 -> `files`, IPv4/IPv6 -> `ips`, domains -> `domains`, a URL ->
its host's `ips` or `domains` statistics (the row says so); a cell holding one file's hashes of
several types asks once, about its SHA-1 (else SHA-256), and an MD5 there shares that answer. An
MD5 alone cannot be asked (the APIs refuse MD5): `unsupported`.

Status rules: organisation prevalence > 0 -> SEEN; 0, or 404 for a file -> NOT_SEEN; 400 ->
INVALID with MDE's message; anything that kept failing -> ERROR with the reason in words.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from enrich.answering.interface import AnswerOptions, OnAnswer, Strategy
from enrich.indicators.hosts import is_ip_host, url_host
from enrich.mde.client import MdeClient, error_message, segment
from enrich.mde.errors import RetriesExhausted
from enrich.mde.times import iso_utc
from enrich.model import Answer, Indicator, IndicatorType, LookupKey, Status

METHOD = "stats"
FAMILIES = ("files", "ips", "domains")
# The API family each indicator type is asked of (a URL: its host's, see `StatsStrategy.lookup_key`).
FAMILY_OF_TYPE: dict[str, str] = {
    "sha1": "files",
    "sha256": "files",
    "ipv4": "ips",
    "ipv6": "ips",
    "domain": "domains",
}
_FILE_TYPES = (IndicatorType.SHA1, IndicatorType.SHA256, IndicatorType.MD5)
# Preference among a cell's hashes of one file: which one the stats API is asked about.
_HASH_PREFERENCE = (IndicatorType.SHA1, IndicatorType.SHA256)
# Why a lone MD5 is `unsupported` in stats mode (hunt mode looks MD5 up).
# No comma or double quote: a CSV cell that needs no quoting (classify writes it for every lone MD5).
MD5_REASON = (
    "MD5 hashes cannot be looked up with the entity statistics APIs (the stats mode); give the file's "
    "SHA-1 or SHA-256 (beside the MD5 in the same cell it is asked once for both); "
    "or run with --mode hunt (advanced hunting looks MD5 up)"
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


def host_key(url: str) -> LookupKey | None:
    """The statistics lookup of a normalised URL: its host's (None when it has no host)."""
    host = url_host(url)
    return LookupKey("ips" if is_ip_host(host) else "domains", host) if host else None


def is_same_file_group(indicators: tuple[Indicator, ...]) -> bool:
    """True when a cell holds hashes of distinct types only (e.g. "sha256,sha1,md5" of one file)."""
    types = [i.type for i in indicators]
    return len(types) > 1 and all(t in _FILE_TYPES for t in types) and len(set(types)) == len(types)


def type_lookup_key(ind: Indicator, family_of_type: Mapping[str, str]) -> LookupKey | None:
    """A pending indicator's lookup: its type's family in `family_of_type`, else a URL's host's."""
    if ind.status is not Status.PENDING or ind.type is None:
        return None
    family = family_of_type.get(ind.type.value)
    if family is not None:
        return LookupKey(family, ind.value)
    if ind.type is IndicatorType.URL:
        return host_key(ind.value)
    return None


def same_file_key(indicators: tuple[Indicator, ...], preference: Sequence[IndicatorType]) -> LookupKey | None:
    """The one `files` lookup of a cell holding one file's hashes of several types: its first
    pending hash in `preference` order (None when the cell is not such a group)."""
    if is_same_file_group(indicators):
        for kind in preference:
            for ind in indicators:
                if ind.type is kind and ind.status is Status.PENDING:
                    return LookupKey("files", ind.value)
    return None


def same_file_note(ind: Indicator, key: LookupKey) -> str:
    """The remark on a hash whose answer is another hash of the same file's ("" otherwise)."""
    return f"same file as {key.key}" if key.family == "files" and key.key != ind.value else ""


def lacks_file_info(key: LookupKey, answer: Answer) -> bool:
    """True for an answer about a file MDE has seen that was fetched without `--file-info`."""
    return (
        key.family == "files"
        and answer.status is Status.SEEN
        and all(name != FILE_INFO_MARK for name, _ in answer.detail)
    )


class StatsStrategy(Strategy):
    """Answers with the entity statistics APIs (`/api/{files,ips,domains}/{key}/stats`)."""

    name = METHOD

    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        return type_lookup_key(ind, FAMILY_OF_TYPE)

    def row_keys(self, indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
        """As `Strategy.row_keys`; a cell holding one file's hashes of several types asks MDE once,
        about the preferred hash, and the others (an MD5 included) share that answer."""
        if (shared := same_file_key(indicators, _HASH_PREFERENCE)) is not None:
            return [shared] * len(indicators)
        return [self.lookup_key(i) for i in indicators]

    def unsupported_reason(self, ind: Indicator) -> str:
        if ind.type is IndicatorType.MD5:
            return MD5_REASON
        return f"{ind.type} indicators cannot be looked up in this mode"

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        if ind.type is IndicatorType.URL:
            return f"statistics are for the host {key.key}"
        return same_file_note(ind, key)

    def reusable(self, key: LookupKey, answer: Answer) -> bool:
        """A stats answer; with `--file-info`, one about a seen file must have asked for it too."""
        return super().reusable(key, answer) and not (self.options.file_info and lacks_file_info(key, answer))

    async def answer(self, client: MdeClient, key: LookupKey) -> Answer:
        answer = await lookup(client, key, self.options.lookback_hours, self.options.file_info)
        return replace(answer, method=METHOD)


# ----------------------------------------------------------------------------- MDE's answers


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
            detail.extend(await fetch_file_info(client, key))
        return Answer(
            Status.SEEN if prevalence > 0 else Status.NOT_SEEN,
            prevalence=prevalence,
            first_seen=iso_utc(body.get("orgFirstSeen")),
            last_seen=iso_utc(body.get("orgLastSeen")),
            detail=tuple(detail),
        )
    except RetriesExhausted as exc:
        return Answer(Status.ERROR, error=str(exc))


async def fetch_file_info(client: MdeClient, key: LookupKey) -> list[tuple[str, str]]:
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
    on_answer: OnAnswer,
    concurrency: int = 8,
) -> None:
    """`StatsStrategy.answer_all` with these options: answer every key, `on_answer` as each arrives."""
    options = AnswerOptions(lookback_hours=lookback_hours, file_info=file_info, concurrency=concurrency)
    await StatsStrategy(options).answer_all(client, list(keys), on_answer)
