"""The STIX 2.1 objects `enrich` adds to its output, built as plain dicts with deterministic ids.

Ids are UUIDv5 in the namespace STIX uses for cyber-observables (and OpenCTI for its SDOs), over
the canonical JSON of stable inputs, so a rerun on the same answers gives the same ids:
- tool identity: from ("enrich", "system"), org identity: from (org name, "organization"), both
  as OpenCTI's `Identity.generate_id` (lower-cased, stripped name), so they merge on import;
- extension-definition: a constant;
- our indicators: from the pattern, as OpenCTI's `Indicator.generate_id`;
- based-on relationships: from (relationship_type, source_ref, target_ref);
- sightings: from the sighted indicator, the organisation, the MDE lookup (or the entry when
  there is no lookup), the lookback window and the sighting's `created` (below).

Timestamps come from the answers, never from a constant and, where there is an answer, never
from the clock of the run, so a rerun on the same cache writes the same bytes:
- a sighting's `created` is when MDE first gave that answer (`Answer.answered_at`, kept by the
  cache while MDE keeps answering the same), its `modified` and `mde_queried_at` when the answer
  was last fetched (`Answer.fetched_at`); without a cache, both are when the answer arrived. A
  refetch that brings the same answer is a newer version of the same sighting (same id, same
  `created`, later `modified`); a changed answer is a new sighting (STIX never lets `created`
  change between versions of one object, so `created` is part of the id). An entry without an
  answer (unsupported, invalid, or never answered) is dated by the run's time (`queried_at`);
- our indicator for a value (a CSV cell, an observable) has `valid_from` (and `created`,
  `modified`) = the earliest time MDE first gave an answer about that value: every entry of one
  value asks the same lookup, so it is that answer's `answered_at` (when MDE first said what it
  says of the value is when we hold the value to be an indicator of it); the run's time when the
  value got no answer (there is no earlier moment we know of); its based-on relationship is dated
  as the indicator;
- only the tool identity, the organisation identity (their content is the tool's name, the
  `--org-name`: no answer dates them, and a time per run or per output would give one id several
  `created`) and the extension-definition (a constant that changes with its schema) carry
  constant dates.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from enrich.mde.times import parse_mde_time
from enrich.model import Answer, IndicatorType, LookupKey, Status

NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
TOOL_NAME = "enrich"
EXTENSION_ID = "extension-definition--93f177b4-eec6-433b-8e26-5580180aa9b5"
EXTENSION_VERSION = "1.2.0"
EPOCH = "2020-01-01T00:00:00.000Z"  # `created` of the tool's fixed objects
# `modified` of the extension-definition: the day its schema last changed (1.1.0: mde_queried_at is
# when the answer was last fetched, no longer the time of the run; 1.2.0: hunting answers, with
# mde_answered_by, mde_events and mde_device_names)
EXTENSION_MODIFIED = "2026-12-07T00:00:00.000Z"
MAX_COUNT = 999_999_999  # the largest `count` STIX allows
_SEEN, _NOT_SEEN = Status.SEEN, Status.NOT_SEEN  # enum member look-ups are slow in a loop of 100,000
_ANSWERED = frozenset({Status.SEEN, Status.NOT_SEEN})

_PATTERNS = {
    IndicatorType.IPV4: "ipv4-addr:value",
    IndicatorType.IPV6: "ipv6-addr:value",
    IndicatorType.DOMAIN: "domain-name:value",
    IndicatorType.URL: "url:value",
    IndicatorType.MD5: "file:hashes.MD5",
    IndicatorType.SHA1: "file:hashes.'SHA-1'",
    IndicatorType.SHA256: "file:hashes.'SHA-256'",
}
# `<type>--<UUID of the RFC 4122 variant>` (the variant digit is 8, 9, a or b)
_ID = re.compile(
    r"^([a-z0-9][a-z0-9-]*[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[89abAB][0-9a-fA-F]{3}"
    r"-[0-9a-fA-F]{12}$"
)
_NS_BYTES = NAMESPACE.bytes
# json.dumps with options builds a new encoder per call: keep two (a measurable share of the run).
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
to_json = json.JSONEncoder(ensure_ascii=False).encode  # one object on one line, UTF-8 text

EXTENSION_SCHEMA = (
    "Property extension (extension_type 'property-extension') on sighting objects written by enrich. "
    "Properties: mde_status (string: seen, not_seen, invalid, unsupported, error); "
    "mde_api (string, the API that answered: 'files/stats', 'ips/stats', 'domains/stats', or for advanced "
    "hunting 'security/runHuntingQuery' (Microsoft Graph) or 'advancedqueries/run' (legacy MDE)); "
    "mde_api_url (string, the MDE API base URL; absent for Microsoft Graph); "
    "mde_answered_by (string: stats, hunting-graph, hunting-legacy: how the answer was obtained); "
    "mde_lookup (object: family = files|ips|domains|urls, key = the hash, address, host or full URL "
    "asked about); "
    "mde_type (string: ipv4 ipv6 domain url md5 sha1 sha256) and mde_value (string, the normalised "
    "value of the entry); mde_path (string, the STIX object path the value came from); "
    "mde_devices (integer, organisation prevalence: devices that saw it in the window; also the "
    "sighting's count); mde_events (integer, hunting answers: the events that matched); "
    "mde_device_names (list of strings, hunting answers: names of devices that saw it, sorted, at most "
    "the run's --max-devices); mde_lookback_hours (integer, the query window); mde_queried_at (timestamp: "
    "when MDE was last asked and gave this answer, the time of the run when there is no answer); "
    "mde_reason (string, why the status is invalid, unsupported or error); "
    "mde_note (string, remarks such as 'statistics are for the host x'); "
    "mde_detail (object of strings: other MDE fields, e.g. global_prevalence, signer). "
    "A sighting with count 0 records a lookup that found nothing or could not be made."
)


def canonical(value: Any) -> str:
    """Canonical JSON (RFC 8785 for the strings, integers and dicts used here)."""
    return _canonical(value)


def det_id(stix_type: str, contributing: dict[str, Any]) -> str:
    """`<type>--<UUIDv5 over the canonical JSON of the contributing properties>`.

    Same result as `uuid.uuid5(NAMESPACE, ...)`, without building a UUID object.
    """
    return _uuid5_id(stix_type, _canonical(contributing))


def _uuid5_id(stix_type: str, canonical_json: str) -> str:
    h = hashlib.sha1(_NS_BYTES + canonical_json.encode("utf-8")).hexdigest()
    # the first 16 bytes, version 5 in the 13th digit, the RFC 4122 variant (10xx) in the 17th
    return f"{stix_type}--{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {digit: f"{int(digit, 16) & 0x3 | 0x8:x}" for digit in "0123456789abcdef"}


def identity_id(name: str, identity_class: str) -> str:
    """The id OpenCTI gives an identity of this name and class."""
    return det_id("identity", {"name": name.lower().strip(), "identity_class": identity_class.lower()})


TOOL_ID = identity_id(TOOL_NAME, "system")


def is_stix_id(value: Any, stix_type: str | None = None) -> bool:
    """True for `<type>--<RFC 4122 UUID>` (of `stix_type` when given): something a 2.1 ref may hold."""
    if not isinstance(value, str):
        return False
    match = _ID.match(value)
    return match is not None and (stix_type is None or match.group(1) == stix_type)


# ------------------------------------------------------------------------------------ timestamps


def stix_time(moment: datetime) -> str:
    """RFC 3339 UTC with millisecond precision: `2017-09-19T03:51:27.678Z` (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_time(seconds: float) -> str:
    """`stix_time` of a POSIX time (seconds, e.g. `time.time()`): rounded to the microsecond as
    `datetime.fromtimestamp` does, then truncated to the millisecond. One per sighting: the day
    and the hour and minute are made once."""
    fraction, whole = math.modf(seconds)  # as datetime: the fraction rounded, half to even
    millis = (int(whole) * 1_000_000 + round(fraction * 1_000_000)) // 1000
    day, millis = divmod(millis, 86_400_000)
    minute, millis = divmod(millis, 60_000)
    clock = _MINUTES.get(minute)
    if clock is None:
        clock = _MINUTES[minute] = f"T{minute // 60:02d}:{minute % 60:02d}:"
    return f"{_day(day)}{clock}{millis // 1000:02d}.{millis % 1000:03d}Z"


_MINUTES: dict[int, str] = {}  # minute of the day -> "THH:MM:" (at most 1,440)


@functools.lru_cache(maxsize=256)
def _day(days: int) -> str:
    return (_UNIX_DAY + timedelta(days=days)).strftime("%Y-%m-%d")


_UNIX_DAY = date(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def mde_time(text: str) -> str | None:
    """An MDE/Answer timestamp as `stix_time` (truncated to milliseconds); None when empty or not one."""
    moment = parse_mde_time(text) if text else None
    return None if moment is None else stix_time(moment)


# -------------------------------------------------------------------------------- fixed objects


def tool_identity() -> dict[str, Any]:
    """The `system` identity of this tool: `created_by_ref` of everything we write."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": TOOL_ID,
        "created": EPOCH,
        "modified": EPOCH,
        "name": TOOL_NAME,
        "description": "enrich: enriches threat indicators with what Microsoft Defender for Endpoint "
        "has seen of them in an organisation.",
        "identity_class": "system",
    }


def org_identity(org_name: str) -> dict[str, Any]:
    """The organisation whose MDE tenant was asked: `where_sighted_refs` of every sighting."""
    name = org_name.strip()
    if not name:
        raise ValueError("the organisation name (--org-name) is empty")
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(name, "organization"),
        "created_by_ref": TOOL_ID,
        "created": EPOCH,
        "modified": EPOCH,
        "name": name,
        "identity_class": "organization",
    }


def extension_definition() -> dict[str, Any]:
    """The property-extension our sightings use for MDE's figures."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": TOOL_ID,
        "created": EPOCH,
        "modified": EXTENSION_MODIFIED,
        "name": "enrich-mde-sighting",
        "description": "What Microsoft Defender for Endpoint answered when enrich asked about the "
        "sighted indicator: status, API, lookup key, device count (and for hunting answers the events "
        "and device names), query window and time.",
        "schema": EXTENSION_SCHEMA,
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
    }


# ------------------------------------------------------------------------------ per-entry objects


def literal(value: str) -> str:
    """A STIX pattern string literal: quoted, with `\\` and `'` escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern_for(kind: IndicatorType, value: str) -> str:
    """`[ipv4-addr:value = '1.2.3.4']`, `[file:hashes.'SHA-256' = '...']`, ..."""
    return f"[{_PATTERNS[kind]} = {literal(value)}]"


def indicator(kind: IndicatorType, value: str, markings: list[str] | None, valid_from: str) -> dict[str, Any]:
    """An indicator for one value (from a CSV row or an observable), so a sighting can point at it;
    `valid_from` (a `stix_time`) is also its `created` and `modified`."""
    pattern = pattern_for(kind, value)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": det_id("indicator", {"pattern": pattern}),
        "created_by_ref": TOOL_ID,
        "created": valid_from,
        "modified": valid_from,
        "name": value,
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": valid_from,
    }
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def based_on(source_ref: str, target_ref: str, markings: list[str] | None, created: str) -> dict[str, Any]:
    """`source_ref` (our indicator) based-on `target_ref` (the observable or observed-data), made
    at `created` (our indicator's `created`)."""
    obj: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": det_id(
            "relationship",
            {"relationship_type": "based-on", "source_ref": source_ref, "target_ref": target_ref},
        ),
        "created_by_ref": TOOL_ID,
        "created": created,
        "modified": created,
        "relationship_type": "based-on",
        "source_ref": source_ref,
        "target_ref": target_ref,
    }
    if markings:
        obj["object_marking_refs"] = markings
    return obj


_str = json.encoder.encode_basestring  # how `to_json` and `canonical` write a string (ensure_ascii off)
_TOOL_REF = _str(TOOL_ID)
_EXTENSION_KEY = _str(EXTENSION_ID)


def _num(value: Any) -> str:
    return str(value) if value.__class__ is int else to_json(value)


def sighting(
    *, org_ref: str, lookback_hours: int, queried_at: str, api_url: str, **entry: Any
) -> dict[str, Any]:
    """One sighting as a dict: the JSON text `Sightings.text(**entry)` writes for it, parsed.

    `entry`: of_ref, status, key, answer, kind, value, path, reason, note, markings.
    """
    sightings = Sightings(
        org_ref=org_ref, lookback_hours=lookback_hours, queried_at=queried_at, api_url=api_url
    )
    return json.loads(sightings.text(**entry)[2])


def answered_time(answer: Answer | None, default: str) -> str:
    """When MDE first gave `answer` (`stix_time`); `default` when there is no answer or no time."""
    if answer is None or answer.answered_at is None:
        return default
    return epoch_time(answer.answered_at)


class Sightings:
    """Sightings by one organisation, for one query window, written as JSON text.

    The output holds one sighting per entry (100,000 for a large feed); building each as a dict,
    then the canonical JSON of its id's inputs and its own JSON through `json`, took three times
    as long as writing the text here, where the parts common to every sighting are made once.
    The text is exactly what `to_json` gives for the dict (`sighting` is that dict: this text
    parsed), and the id is `det_id` over the same canonical JSON.

    Properties: id from (created, sighting_of_ref, where_sighted_refs, mde_lookup,
    mde_lookback_hours); `created` when MDE first gave the answer, `modified` (and the query time)
    when it was last fetched, both the run's time (`queried_at`) for an entry without an answer;
    first/last_seen when seen; count = organisation prevalence when seen (at most MAX_COUNT), else
    0; the property-extension holds status, API, lookup, type, value, path, devices, window,
    query time, reason (not for answered lookups), note and MDE's other fields (`mde_detail`).
    """

    def __init__(self, *, org_ref: str, lookback_hours: int, queried_at: str, api_url: str) -> None:
        hours = int(lookback_hours)
        org = _str(org_ref)
        self.run_time = queried_at  # dates what no answer dates
        self._id_head = f'","mde_lookback_hours":{hours},"mde_lookup":['
        self._id_tail = f',"where_sighted_refs":[{org}]}}'
        self._after_id = f', "created_by_ref": {_TOOL_REF}, "created": "'
        self._where = f', "where_sighted_refs": [{org}]'
        self._window = f', "mde_lookback_hours": {hours}, "mde_queried_at": "'
        self._api_url = _str(api_url)
        # (family, how answered) -> (family as JSON, API and lookup head)
        self._families: dict[tuple[str, str], tuple[str, str]] = {}
        self._statuses: dict[Status, str] = {}
        self._kinds: dict[IndicatorType, str] = {}
        self._markings: dict[tuple[str, ...], str] = {}

    def text(
        self,
        of_ref: str,
        status: Status,
        key: LookupKey | None,
        answer: Answer | None,
        kind: IndicatorType | None,
        value: str,
        path: str,
        reason: str,
        note: str,
        markings: list[str] | None,
    ) -> tuple[str, str, str]:
        """(id, modified, the sighting of `of_ref` as one line of JSON)."""
        ref = _str(of_ref)
        if answer is None or answer.fetched_at is None:
            created = modified = self.run_time
        else:
            modified = epoch_time(answer.fetched_at)
            since = answer.answered_at
            created = modified if since is None or since == answer.fetched_at else epoch_time(since)
            if created > modified:  # never: an answer is first given when it is fetched
                created = modified
        if key is not None:
            method = "" if answer is None else answer.method
            family, api = self._families.get((key.family, method)) or self._family(key.family, method)
            lookup = _str(key.key)
            api = f"{api}{lookup}}}"
        else:
            family, api = '""', ""
            lookup = _str(f"{kind or ''}:{value or path}")
        ident = _uuid5_id(
            "sighting",
            f'{{"created":"{created}{self._id_head}{family},{lookup}],"sighting_of_ref":{ref}{self._id_tail}',
        )
        seen = status is _SEEN
        answered = seen or status is _NOT_SEEN
        prevalence = answer.prevalence if answer is not None and answered else None
        if seen:
            first, last = _seen_span(answer)
            span = f', "first_seen": {_str(first)}' if first else ""
            if last:
                span += f', "last_seen": {_str(last)}'
            count = _num(min(max(prevalence or 0, 0), MAX_COUNT))
        else:
            span, count = "", "0"
        if markings:
            refs = tuple(markings)
            marks = self._markings.get(refs) or self._marking(refs)
        else:
            marks = ""
        text = (
            f'{{"type": "sighting", "spec_version": "2.1", "id": {_str(ident)}{self._after_id}{created}", '
            f'"modified": "{modified}"{span}, '
            f'"count": {count}, "sighting_of_ref": {ref}{self._where}{marks}, "extensions": {{{_EXTENSION_KEY}: '
            f"{self._statuses.get(status) or self._status(status)}{api}"
            f"{'' if kind is None else self._kinds.get(kind) or self._kind(kind)}"
            f"{f', {_VALUE}{_str(value)}' if value else ''}{f', {_PATH}{_str(path)}' if path else ''}"
            f"{'' if prevalence is None else f', {_DEVICES}{_num(prevalence)}'}"
            f"{_hunted(answer.detail) if answered and answer is not None and answer.detail else ''}"
            f'{self._window}{modified}"'
            f"{f', {_REASON}{_str(reason)}' if reason and not answered else ''}"
            f"{f', {_NOTE}{_str(note)}' if note else ''}"
            f"{_other_detail(answer.detail) if answer is not None and answer.detail else ''}}}}}}}"
        )
        return ident, modified, text

    def _family(self, family: str, method: str) -> tuple[str, str]:
        """The API properties and the head of `mde_lookup` for answers of `family` obtained by `method`."""
        if method == HUNTING_GRAPH:
            head = f', "mde_api": "security/runHuntingQuery", "mde_answered_by": {_str(method)}, '
        elif method == HUNTING_LEGACY:
            head = f', "mde_api": "advancedqueries/run", "mde_api_url": {self._api_url}, '
            head += f'"mde_answered_by": {_str(method)}, '
        else:
            head = f', "mde_api": {_str(family + "/stats")}, "mde_api_url": {self._api_url}, '
            head += f'"mde_answered_by": {_str(method)}, ' if method else ""
        head += f'"mde_lookup": {{"family": {_str(family)}, "key": '
        self._families[family, method] = found = (_str(family), head)
        return found

    def _status(self, status: Status) -> str:
        text = f'{{"extension_type": "property-extension", "mde_status": {_str(status.value)}'
        self._statuses[status] = text
        return text

    def _kind(self, kind: IndicatorType) -> str:
        self._kinds[kind] = text = f', "mde_type": {_str(kind.value)}'
        return text

    def _marking(self, refs: tuple[str, ...]) -> str:
        self._markings[refs] = text = f', "object_marking_refs": {to_json(list(refs))}'
        return text


_VALUE, _PATH, _DEVICES = '"mde_value": ', '"mde_path": ', '"mde_devices": '
HUNTING_GRAPH, HUNTING_LEGACY = "hunting-graph", "hunting-legacy"  # `Answer.method` of hunting answers
# `Answer.detail` names hunting fills (answering/hunting.py): the events and device names are
# written as their own extension properties; how many names were asked for is the cache's
# bookkeeping (the schema says the names are at most the run's --max-devices). None in mde_detail.
EVENTS, DEVICE_NAMES, MAX_DEVICES_MARK = "events", "devices", "max_devices"
_HUNTED = frozenset({EVENTS, DEVICE_NAMES, MAX_DEVICES_MARK})


def _hunted(detail: tuple[tuple[str, str], ...]) -> str:
    """`, "mde_events": N, "mde_device_names": [...]` from a hunting answer's detail ("" for others)."""
    text = ""
    for name, value in detail:
        if name == EVENTS and value.strip().isdigit():
            text += f', "mde_events": {min(int(value), MAX_COUNT)}'
        elif name == DEVICE_NAMES:
            names = [part for part in value.split(";") if part]
            if names:  # a STIX list property is never empty
                text += f', "mde_device_names": {to_json(names)}'
    return text


def _other_detail(detail: tuple[tuple[str, str], ...]) -> str:
    """`, "mde_detail": {...}` of MDE's other fields ("" when there are none)."""
    rest = {name: value for name, value in detail if name not in _HUNTED}
    return f", {_DETAIL}{to_json(rest)}" if rest else ""


_REASON, _NOTE, _DETAIL = '"mde_reason": ', '"mde_note": ', '"mde_detail": '


def _seen_span(answer: Answer | None) -> tuple[str | None, str | None]:
    if answer is None:
        return None, None
    first, last = mde_time(answer.first_seen), mde_time(answer.last_seen)
    if first and last and last < first:  # STIX requires last_seen >= first_seen
        first, last = last, first
    return first, last
