"""Turn a row's classified indicators and MDE's answers into the row's `mde_*` cells."""

from __future__ import annotations

from collections.abc import Mapping

from enrich.model import MDE_DETAIL_COLUMNS, Answer, Indicator, IndicatorType, LookupKey, Status

_FILE_TYPES = (IndicatorType.SHA1, IndicatorType.SHA256, IndicatorType.MD5)
# Preference among a cell's hashes of one file: which one the stats API is asked about.
_HASH_PREFERENCE = (IndicatorType.SHA1, IndicatorType.SHA256)
# When a row holds several indicators, its status is the first of these that any of them has.
_ROW_STATUS_ORDER = (
    Status.ERROR,
    Status.SEEN,
    Status.NOT_SEEN,
    Status.PENDING,
    Status.UNSUPPORTED,
    Status.INVALID,
)


def lookup_key(ind: Indicator) -> LookupKey | None:
    """The stats-API question an indicator asks, or None when the stats APIs cannot answer it."""
    if ind.status is not Status.PENDING or ind.type is None:
        return None
    match ind.type:
        case IndicatorType.SHA1 | IndicatorType.SHA256:
            return LookupKey("files", ind.value)
        case IndicatorType.IPV4 | IndicatorType.IPV6:
            return LookupKey("ips", ind.value)
        case IndicatorType.DOMAIN:
            return LookupKey("domains", ind.value)
        case IndicatorType.URL:
            host = url_host(ind.value)
            return LookupKey("ips" if _is_ip(host) else "domains", host) if host else None
    return None


def url_host(url: str) -> str:
    """The host of a normalised URL (already lower-cased and punycoded), without brackets or port."""
    rest = url.split("://", 1)[-1]
    for sep in "/?#\\":
        rest = rest.split(sep, 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.split(":", 1)[0].rstrip(".")


def _is_ip(host: str) -> bool:
    return ":" in host or (host.replace(".", "").isdigit() and host.count(".") == 3)


def is_same_file_group(indicators: tuple[Indicator, ...]) -> bool:
    """True when a cell holds hashes of distinct types only (e.g. "sha256,sha1,md5" of one file)."""
    types = [i.type for i in indicators]
    return len(types) > 1 and all(t in _FILE_TYPES for t in types) and len(set(types)) == len(types)


def row_keys(indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
    """The lookup each of a row's indicators needs (None: no lookup).

    A cell holding one file's hashes of several types asks MDE once, about the preferred hash;
    the others (including an MD5 the stats APIs cannot take) share that answer.
    """
    if is_same_file_group(indicators):
        for kind in _HASH_PREFERENCE:
            for ind in indicators:
                if ind.type is kind and ind.status is Status.PENDING:
                    shared = LookupKey("files", ind.value)
                    return [shared] * len(indicators)
    return [lookup_key(i) for i in indicators]


def cell_status(ind: Indicator, key: LookupKey | None, answers: Mapping[LookupKey, Answer] | None) -> Status:
    if ind.status is not Status.PENDING:
        return ind.status
    if answers is None:
        return Status.PENDING
    if key is None:
        return Status.UNSUPPORTED
    answer = answers.get(key)
    return answer.status if answer is not None else Status.ERROR


def cell_error(ind: Indicator, key: LookupKey | None, answers: Mapping[LookupKey, Answer] | None) -> str:
    if ind.status is not Status.PENDING:
        return ind.reason
    if answers is None:
        return ""
    if key is None:
        return unsupported_reason(ind)
    answer = answers.get(key)
    if answer is None:
        return "no answer was obtained for this lookup (the run was interrupted or the lookup failed)"
    return answer.error


def unsupported_reason(ind: Indicator) -> str:
    """Why the stats APIs cannot look an otherwise valid indicator up."""
    if ind.type is IndicatorType.MD5:
        return (
            "MD5 hashes cannot be looked up with the entity statistics APIs (--mode stats); "
            "give the file's SHA-1 or SHA-256, or use advanced hunting (--mode hunting) when it is available"
        )
    return f"{ind.type} indicators cannot be looked up in this mode"


def cell_note(ind: Indicator, key: LookupKey | None) -> str:
    parts = [ind.note] if ind.note else []
    if ind.type is IndicatorType.URL and key is not None:
        parts.append(f"statistics are for the host {key.key}")
    elif key is not None and key.family == "files" and key.key != ind.value:
        parts.append(f"same file as {key.key}")
    return "; ".join(parts)


_FAMILIES = {"sha1": "files", "sha256": "files", "ipv4": "ips", "ipv6": "ips", "domain": "domains"}
_PENDING = Status.PENDING
_NO_DETAILS = ("",) * (len(MDE_DETAIL_COLUMNS) - 1)


def classify_columns(ind: Indicator) -> tuple[str, ...]:
    """`mde_columns((ind,), None)`: the `mde_*` cells `classify` writes for a row of one indicator.

    The same cells as the general case (lookup key, note, `mde_lookup`), without its work.
    """
    kind, state = ind.type, ind.status
    if (kind is not None and kind.__class__ is not IndicatorType) or state.__class__ is not Status:
        return _mde_columns((ind,), None)  # not enum members: the general case says what to do
    text = "" if kind is None else kind._value_  # `.value` is a slow property
    if state is not _PENDING:
        return (text, ind.value, state._value_, "", "", "", ind.reason, ind.note, "", *_NO_DETAILS)
    value, note = ind.value, ind.note
    family = _FAMILIES.get(text)
    if family is not None:
        lookup = f"{family}/{value}"
    elif text == "url" and (host := url_host(value)):
        lookup = f"{'ips' if _is_ip(host) else 'domains'}/{host}"
        note = (
            f"{note}; statistics are for the host {host}" if note else f"statistics are for the host {host}"
        )
    else:  # MD5: no lookup
        lookup = ""
    return (text, value, "pending", "", "", "", "", note, lookup, *_NO_DETAILS)


def mde_columns(
    indicators: tuple[Indicator, ...], answers: Mapping[LookupKey, Answer] | None
) -> tuple[str, ...]:
    """The `mde_*` cells of one row, in `MDE_COLUMNS` order.

    `answers` is None for `classify` (lookupable indicators stay `pending`). A row with several
    indicators lists types and values joined by ";", takes the most telling status (error, then
    seen, not_seen, pending, unsupported, invalid), the largest prevalence and the widest
    first/last-seen span; errors and notes name the value they concern.
    """
    if answers is None and len(indicators) == 1:
        return classify_columns(indicators[0])
    return _mde_columns(indicators, answers)


def _mde_columns(
    indicators: tuple[Indicator, ...], answers: Mapping[LookupKey, Answer] | None
) -> tuple[str, ...]:
    keys = row_keys(indicators)
    if len(indicators) == 1:
        ind, key = indicators[0], keys[0]
        status = cell_status(ind, key, answers)
        answer = answers.get(key) if answers is not None and key is not None else None
        return (
            ind.type.value if ind.type else "",
            ind.value,
            status.value,
            _prevalence(answer),
            answer.first_seen if answer else "",
            answer.last_seen if answer else "",
            cell_error(ind, key, answers),
            cell_note(ind, key),
            *detail_cells(keys, answers),
        )
    statuses = [cell_status(i, k, answers) for i, k in zip(indicators, keys, strict=True)]
    row_status = next(s for s in _ROW_STATUS_ORDER if s in statuses)
    got = [answers[k] for k in keys if answers is not None and k is not None and k in answers]
    prevalences = [a.prevalence for a in got if a.prevalence is not None]
    firsts = [a.first_seen for a in got if a.first_seen]
    lasts = [a.last_seen for a in got if a.last_seen]
    errors, notes = [], []
    for ind, key in zip(indicators, keys, strict=True):
        if err := cell_error(ind, key, answers):
            errors.append(f"{ind.value or '(empty)'}: {err}")
        if note := cell_note(ind, key):
            notes.append(f"{ind.value}: {note}")
    return (
        ";".join(i.type.value if i.type else "" for i in indicators),
        ";".join(i.value for i in indicators),
        row_status.value,
        str(max(prevalences)) if prevalences else "",
        min(firsts) if firsts else "",
        max(lasts) if lasts else "",
        "; ".join(dict.fromkeys(errors)),
        "; ".join(dict.fromkeys(notes)),
        *detail_cells(keys, answers),
    )


def detail_cells(keys: list[LookupKey | None], answers: Mapping[LookupKey, Answer] | None) -> tuple[str, ...]:
    """The `MDE_DETAIL_COLUMNS` cells: the lookups asked, then the rest of MDE's answers.

    With several lookups in a row, each cell lists the distinct values, ";"-joined.
    """
    distinct = [k for k in dict.fromkeys(keys) if k is not None]
    lookup = ";".join(f"{k.family}/{k.key}" for k in distinct)
    got = [answers[k] for k in distinct if k in answers] if answers is not None else []
    if not got:
        return (lookup,) + ("",) * (len(MDE_DETAIL_COLUMNS) - 1)
    details = [dict(a.detail) for a in got]
    cells = [lookup]
    for _, name in MDE_DETAIL_COLUMNS[1:]:
        cells.append(";".join(dict.fromkeys(d[name] for d in details if d.get(name))))
    return tuple(cells)


def _prevalence(answer: Answer | None) -> str:
    return "" if answer is None or answer.prevalence is None else str(answer.prevalence)
