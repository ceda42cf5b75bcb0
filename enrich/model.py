"""Core value types shared by sources, the classifier, the engine and the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class IndicatorType(StrEnum):
    """The indicator types of the contract (`mde_type`)."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"


class Status(StrEnum):
    """Row statuses of the contract (`mde_status`)."""

    PENDING = "pending"  # a lookupable indicator, not looked up (classify)
    SEEN = "seen"
    NOT_SEEN = "not_seen"
    INVALID = "invalid"
    UNSUPPORTED = "unsupported"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Indicator:
    """One classified entry.

    `type` is None when the entry is not an indicator. `value` is the normalised value
    (refanged, lower-cased where the type allows; the stripped raw text when invalid).
    `status` is PENDING, INVALID or UNSUPPORTED after classification. `reason` says why an
    entry is invalid or unsupported; `note` carries remarks on a valid indicator
    (e.g. "private address", "was defanged").
    """

    type: IndicatorType | None
    value: str
    status: Status
    reason: str = ""
    note: str = ""


# The contract's columns, appended to every row first.
CONTRACT_COLUMNS: tuple[str, ...] = (
    "mde_type",
    "mde_value",
    "mde_status",
    "mde_org_prevalence",
    "mde_org_first_seen",
    "mde_org_last_seen",
    "mde_error",
    "mde_note",
)

# Further columns with the rest of MDE's answer: (column, Answer.detail name). `mde_lookup` names
# the question asked ("domains/evil.example"); the file columns are filled with `--file-info`.
MDE_DETAIL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mde_lookup", ""),
    ("mde_global_prevalence", "global_prevalence"),
    ("mde_global_first_seen", "global_first_seen"),
    ("mde_global_last_seen", "global_last_seen"),
    ("mde_top_file_names", "top_file_names"),
    ("mde_file_signer", "signer"),
    ("mde_file_issuer", "issuer"),
    ("mde_file_valid_certificate", "is_valid_certificate"),
    ("mde_file_publisher", "file_publisher"),
    ("mde_file_product", "file_product_name"),
    ("mde_file_determination_type", "determination_type"),
    ("mde_file_determination_value", "determination_value"),
    # Filled by hunting (`--mode hunt`, or `auto` when it hunts): events matching the value over
    # the lookback, and up to `--max-devices` device names (";"-joined); empty in stats mode.
    ("mde_events", "events"),
    ("mde_devices", "devices"),
)
# Who answered each lookup of a row: `stats`, `hunting-graph`, `hunting-legacy`, or `cache` for an
# answer read from the cache (";"-joined when a row's lookups were answered differently).
ANSWERED_BY_COLUMN = "mde_answered_by"

# Every column appended to each output row, in order.
MDE_COLUMNS: tuple[str, ...] = (
    CONTRACT_COLUMNS + tuple(name for name, _ in MDE_DETAIL_COLUMNS) + (ANSWERED_BY_COLUMN,)
)


@dataclass(frozen=True, slots=True)
class LookupKey:
    """One distinct question to MDE: an API family and the key it is asked about."""

    family: str  # "files" | "ips" | "domains" | "urls" (hunting only)
    key: str  # normalised hash, IP address, host name or URL


@dataclass(frozen=True, slots=True)
class Answer:
    """What MDE answered for one LookupKey (or why it could not)."""

    status: Status  # SEEN, NOT_SEEN, INVALID (MDE said 400) or ERROR
    prevalence: int | None = None
    first_seen: str = ""  # ISO 8601 UTC, "" when unknown
    last_seen: str = ""
    error: str = ""  # MDE's message for INVALID, the failure for ERROR
    detail: tuple[tuple[str, str], ...] = ()  # extra named fields (file info, global prevalence)
    # How it was obtained (`stats`, `hunting-graph`, `hunting-legacy`: the cache keys answers by it),
    # "" when not said: provenance, not content (answers compare equal whichever way they were obtained).
    method: str = field(default="", compare=False)
    # When MDE first gave this answer (epoch seconds: it stays while MDE keeps answering the same,
    # and moves when the answer changes) and when it was last fetched, as the cache recorded them,
    # or when a fresh answer arrived (both the same then); None when unknown. Provenance too.
    answered_at: float | None = field(default=None, compare=False)
    fetched_at: float | None = field(default=None, compare=False)
    # True when the run read this answer from the cache (`mde_answered_by` says `cache`). Provenance.
    from_cache: bool = field(default=False, compare=False)
