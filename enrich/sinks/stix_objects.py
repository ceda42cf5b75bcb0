"""The STIX 2.1 objects `enrich` adds to its output, built as plain dicts with deterministic ids.

Ids are UUIDv5 in the namespace STIX uses for cyber-observables (and OpenCTI for its SDOs), over
the canonical JSON of stable inputs, so a rerun on the same answers gives the same ids:
- tool identity: from ("enrich", "system"), org identity: from (org name, "organization"), both
  as OpenCTI's `Identity.generate_id` (lower-cased, stripped name), so they merge on import;
- extension-definition: a constant;
- our indicators: from the pattern, as OpenCTI's `Indicator.generate_id`;
- based-on relationships: from (relationship_type, source_ref, target_ref);
- sightings: from the sighted indicator, the organisation, the MDE lookup (or the entry when
  there is no lookup) and the lookback window; never from the time of the query.

Timestamps: objects whose content depends only on stable inputs (identities, the
extension-definition, our indicators and relationships) carry the constant `EPOCH` as
`created`/`modified` (and `valid_from`), so every run writes them byte for byte the same. A
sighting keeps `created` = `EPOCH` and takes `modified` = the query time: a rerun writes a newer
version of the same sighting, which importers keyed on id + modified treat as an update.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from enrich.model import Answer, IndicatorType, LookupKey, Status

NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
TOOL_NAME = "enrich"
EXTENSION_ID = "extension-definition--93f177b4-eec6-433b-8e26-5580180aa9b5"
EXTENSION_VERSION = "1.0.0"
EPOCH = "2020-01-01T00:00:00.000Z"
MAX_COUNT = 999_999_999  # the largest `count` STIX allows
_SEEN = Status.SEEN  # enum member look-ups are slow in a loop of 100,000
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
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
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
    "mde_api (string, the MDE API that answered, e.g. 'files/stats'); "
    "mde_api_url (string, the MDE API base URL); "
    "mde_lookup (object: family = files|ips|domains, key = the hash, address or host asked about); "
    "mde_type (string: ipv4 ipv6 domain url md5 sha1 sha256) and mde_value (string, the normalised "
    "value of the entry); mde_path (string, the STIX object path the value came from); "
    "mde_devices (integer, organisation prevalence: devices that saw it in the window; also the "
    "sighting's count); mde_lookback_hours (integer, the query window); mde_queried_at (timestamp "
    "of the run); mde_reason (string, why the status is invalid, unsupported or error); "
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
    digest = bytearray(hashlib.sha1(_NS_BYTES + _canonical(contributing).encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{stix_type}--{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


@functools.lru_cache(maxsize=4096)
def mde_time(text: str) -> str | None:
    """An MDE/Answer timestamp (0 to 7+ fraction digits, Z, an offset or no zone = UTC) as
    `stix_time` (fraction truncated to milliseconds); None when empty or not a timestamp."""
    match = _ISO.match(text.strip()) if text else None
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int((match.group(7) or "0")[:3].ljust(3, "0"))
    try:
        moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        return None
    zone = match.group(8)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment = moment - offset if zone[0] == "+" else moment + offset
    return stix_time(moment)


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
        "modified": EPOCH,
        "name": "enrich-mde-sighting",
        "description": "What Microsoft Defender for Endpoint answered when enrich asked about the "
        "sighted indicator: status, API, lookup key, device count, query window and time.",
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


def indicator(kind: IndicatorType, value: str, markings: list[str] | None) -> dict[str, Any]:
    """An indicator for one value (from a CSV row or an observable), so a sighting can point at it."""
    pattern = pattern_for(kind, value)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": det_id("indicator", {"pattern": pattern}),
        "created_by_ref": TOOL_ID,
        "created": EPOCH,
        "modified": EPOCH,
        "name": value,
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": EPOCH,
    }
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def based_on(source_ref: str, target_ref: str, markings: list[str] | None) -> dict[str, Any]:
    """`source_ref` (our indicator) based-on `target_ref` (the observable or observed-data)."""
    obj: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": det_id(
            "relationship",
            {"relationship_type": "based-on", "source_ref": source_ref, "target_ref": target_ref},
        ),
        "created_by_ref": TOOL_ID,
        "created": EPOCH,
        "modified": EPOCH,
        "relationship_type": "based-on",
        "source_ref": source_ref,
        "target_ref": target_ref,
    }
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def sighting(
    *,
    of_ref: str,
    org_ref: str,
    status: Status,
    key: LookupKey | None,
    answer: Answer | None,
    kind: IndicatorType | None,
    value: str,
    path: str,
    reason: str,
    note: str,
    markings: list[str] | None,
    lookback_hours: int,
    queried_at: str,
    api_url: str,
) -> dict[str, Any]:
    """A sighting of `of_ref` by the organisation: count = organisation prevalence (0 when not seen)."""
    lookup = [key.family, key.key] if key is not None else ["", f"{kind or ''}:{value or path}"]
    ident = det_id(
        "sighting",
        {
            "sighting_of_ref": of_ref,
            "where_sighted_refs": [org_ref],
            "mde_lookup": lookup,
            "mde_lookback_hours": int(lookback_hours),
        },
    )
    ext: dict[str, Any] = {"extension_type": "property-extension", "mde_status": status.value}
    if key is not None:
        ext["mde_api"] = f"{key.family}/stats"
        ext["mde_api_url"] = api_url
        ext["mde_lookup"] = {"family": key.family, "key": key.key}
    if kind is not None:
        ext["mde_type"] = kind.value
    if value:
        ext["mde_value"] = value
    if path:
        ext["mde_path"] = path
    prevalence = answer.prevalence if answer is not None and status in _ANSWERED else None
    if prevalence is not None:
        ext["mde_devices"] = prevalence
    ext["mde_lookback_hours"] = int(lookback_hours)
    ext["mde_queried_at"] = queried_at
    if reason and status not in _ANSWERED:
        ext["mde_reason"] = reason
    if note:
        ext["mde_note"] = note
    if answer is not None and answer.detail:
        ext["mde_detail"] = dict(answer.detail)
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": ident,
        "created_by_ref": TOOL_ID,
        "created": min(EPOCH, queried_at),
        "modified": queried_at,
    }
    first, last = _seen_span(answer) if status is _SEEN else (None, None)
    if first:
        obj["first_seen"] = first
    if last:
        obj["last_seen"] = last
    obj["count"] = min(max(prevalence or 0, 0), MAX_COUNT) if status is _SEEN else 0
    obj["sighting_of_ref"] = of_ref
    obj["where_sighted_refs"] = [org_ref]
    if markings:
        obj["object_marking_refs"] = markings
    obj["extensions"] = {EXTENSION_ID: ext}
    return obj


def _seen_span(answer: Answer | None) -> tuple[str | None, str | None]:
    if answer is None:
        return None, None
    first, last = mde_time(answer.first_seen), mde_time(answer.last_seen)
    if first and last and last < first:  # STIX requires last_seen >= first_seen
        first, last = last, first
    return first, last
