"""The join: a row's classified indicators, the strategy's lookups and MDE's answers -> the row's outcome.

Computed once per row here, read by every sink: the row's `mde_*` cells (`cells`), and for each
of its indicators an `Entry` (lookup, status, answer) with its error and note on demand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from enrich.answering.auto import ASSUMED_NOTE, ASSUMED_URL_NOTE, AutoStrategy
from enrich.answering.hunting import FAMILY_OF_TYPE as HUNT_FAMILY_OF_TYPE
from enrich.answering.hunting import HuntingStrategy, host_note
from enrich.answering.interface import Strategy
from enrich.answering.stats import FAMILY_OF_TYPE, StatsStrategy
from enrich.indicators.hosts import is_ip_host, url_host
from enrich.model import MDE_DETAIL_COLUMNS, Answer, Indicator, IndicatorType, LookupKey, Status
from enrich.sources.interface import Chunk, Source

CACHE = "cache"  # `mde_answered_by` of an answer read from the cache

# What `classify` shows (`mde_lookup`, notes): the lookups `enrich run --mode stats` would make.
STATS = StatsStrategy()
# When a row holds several indicators, its status is the first of these that any of them has.
_ROW_STATUS_ORDER = (
    Status.ERROR,
    Status.SEEN,
    Status.NOT_SEEN,
    Status.PENDING,
    Status.UNSUPPORTED,
    Status.INVALID,
)
_PENDING = Status.PENDING
_UNSUPPORTED = Status.UNSUPPORTED.value
_NO_DETAILS = ("",) * len(MDE_DETAIL_COLUMNS)  # the detail cells after mde_lookup, and mde_answered_by
_NO_EXTRAS: tuple[LookupKey, ...] = ()
_DETAIL_NAMES = tuple(name for _, name in MDE_DETAIL_COLUMNS[1:])
NO_ANSWER = "no answer was obtained for this lookup (the run was interrupted or the lookup failed)"

Answers = Mapping[LookupKey, Answer]


class Entry(NamedTuple):
    """One indicator's outcome: the lookup it needed, its status and the answer it got."""

    indicator: Indicator
    key: LookupKey | None
    status: Status
    answer: Answer | None


def extra_keys(ind: Indicator, key: LookupKey | None, strategy: Strategy) -> tuple[LookupKey, ...]:
    """The further lookups an indicator needs besides `key` (`Strategy.extra_keys`)."""
    if key is None or not strategy.has_extra_keys or ind.status is not _PENDING:
        return _NO_EXTRAS
    return strategy.extra_keys(ind, key)


def cell_status(
    ind: Indicator, key: LookupKey | None, answers: Answers | None, extras: tuple[LookupKey, ...] = ()
) -> Status:
    """An indicator's status: its classification's; `unsupported` when the strategy has no lookup
    for it (`classify` and `run` alike); else its answer's (`pending` without answers), `error`
    when an extra lookup (`extras`) failed."""
    if ind.status is not Status.PENDING:
        return ind.status
    if key is None:
        return Status.UNSUPPORTED
    if answers is None:
        return Status.PENDING
    answer = answers.get(key)
    if answer is None:
        return Status.ERROR
    for extra in extras:
        got = answers.get(extra)
        if got is None or got.status is Status.ERROR:
            return Status.ERROR
    return answer.status


def cell_error(
    ind: Indicator,
    key: LookupKey | None,
    answers: Answers | None,
    strategy: Strategy,
    extras: tuple[LookupKey, ...] = (),
) -> str:
    """Why an indicator is invalid, unsupported or in error ("" otherwise)."""
    if ind.status is not Status.PENDING:
        return ind.reason
    if key is None:
        return strategy.unsupported_reason(ind)
    if answers is None:
        return ""
    answer = answers.get(key)
    if answer is None:
        return NO_ANSWER
    errors = [answer.error] if answer.error else []
    for extra in extras:
        got = answers.get(extra)
        if got is None or got.status is Status.ERROR:
            errors.append(f"{extra.family}/{extra.key}: {got.error if got is not None else NO_ANSWER}")
    return "; ".join(errors)


def cell_note(
    ind: Indicator, key: LookupKey | None, strategy: Strategy, answers: Answers | None = None
) -> str:
    """The indicator's remarks, then the one its lookup adds, then the one its answers add."""
    parts = [ind.note] if ind.note else []
    if key is not None and (extra := strategy.lookup_note(ind, key)):
        parts.append(extra)
    if key is not None and answers is not None and (said := strategy.answer_note(ind, key, answers)):
        parts.append(said)
    return "; ".join(parts)


class Outcomes:
    """Rows' outcomes for one run: the strategy that planned the lookups and the answers obtained.

    `answers` None is `classify`: lookupable indicators stay `pending`; those the strategy cannot
    look up are `unsupported` there too, with the same reason.
    """

    def __init__(self, strategy: Strategy = STATS, answers: Answers | None = None) -> None:
        self.strategy = strategy
        self.answers = answers

    def cells(self, indicators: tuple[Indicator, ...]) -> tuple[str, ...]:
        """The row's `mde_*` cells (see `mde_columns`)."""
        return mde_columns(indicators, self.answers, self.strategy)

    def rows(self, source: Source) -> Iterator[tuple[Chunk, list[tuple[str, ...]]]]:
        """Each chunk of `source` with its rows' `mde_*` cells."""
        cells = self.cells
        for chunk in source.chunks():
            yield chunk, [cells(inds) for inds in chunk.indicators]

    def entry(self, ind: Indicator) -> Entry:
        """The outcome of a row holding one indicator."""
        key = self.strategy.lookup_key(ind)
        answers = self.answers
        if ind.status is not _PENDING:
            return Entry(ind, key, ind.status, None)
        if key is None:
            return Entry(ind, key, Status.UNSUPPORTED, None)
        if answers is None:
            return Entry(ind, key, _PENDING, None)
        answer = answers.get(key)
        if answer is None:
            return Entry(ind, key, Status.ERROR, None)
        return Entry(ind, key, cell_status(ind, key, answers, extra_keys(ind, key, self.strategy)), answer)

    def entries(self, indicators: tuple[Indicator, ...]) -> list[Entry]:
        """The outcome of each indicator of a row (lookups as the strategy groups them)."""
        answers = self.answers
        out = []
        for ind, key in zip(indicators, self.strategy.row_keys(indicators), strict=True):
            answer = answers.get(key) if answers is not None and key is not None else None
            extras = extra_keys(ind, key, self.strategy)
            out.append(Entry(ind, key, cell_status(ind, key, answers, extras), answer))
        return out

    def error(self, entry: Entry) -> str:
        """Why the entry is invalid, unsupported or in error."""
        extras = extra_keys(entry.indicator, entry.key, self.strategy)
        return cell_error(entry.indicator, entry.key, self.answers, self.strategy, extras)

    def note(self, entry: Entry) -> str:
        """The entry's remarks."""
        return cell_note(entry.indicator, entry.key, self.strategy, self.answers)

    def extra_answers(self, entry: Entry) -> list[tuple[LookupKey, Answer | None]]:
        """The entry's further lookups (a URL's exact address in hunting) with their answers."""
        answers = self.answers
        extras = extra_keys(entry.indicator, entry.key, self.strategy)
        return [(k, answers.get(k) if answers is not None else None) for k in extras]


def classify_columns(ind: Indicator, strategy: Strategy = STATS) -> tuple[str, ...]:
    """`mde_columns((ind,), None, strategy)`: the `mde_*` cells `classify` writes for a row of one indicator.

    For the stats strategy, and for hunting's lookups (`hunt`, and `auto` before it has decided),
    the same cells as the general case (lookup key, note, `mde_lookup`), without its work.
    """
    if strategy is not STATS:
        kind_of = type(strategy)
        if kind_of is HuntingStrategy:
            return _hunting_columns(ind, strategy, False)
        if kind_of is AutoStrategy and strategy.paths is None:  # type: ignore[attr-defined]
            return _hunting_columns(ind, strategy, True)
        return _mde_columns((ind,), None, strategy)
    kind, state = ind.type, ind.status
    if (kind is not None and kind.__class__ is not IndicatorType) or state.__class__ is not Status:
        return _mde_columns((ind,), None, STATS)  # not enum members: the general case says what to do
    text = "" if kind is None else kind._value_  # `.value` is a slow property
    if state is not _PENDING:
        return (text, ind.value, state._value_, "", "", "", ind.reason, ind.note, "", *_NO_DETAILS)
    value, note = ind.value, ind.note
    family = FAMILY_OF_TYPE.get(text)
    if family is not None:
        lookup = f"{family}/{value}"
    elif text == "url" and (host := url_host(value)):
        lookup = f"{'ips' if is_ip_host(host) else 'domains'}/{host}"
        note = (
            f"{note}; statistics are for the host {host}" if note else f"statistics are for the host {host}"
        )
    else:  # no lookup (a lone MD5): unsupported, as `run` says
        return (text, value, _UNSUPPORTED, "", "", "", STATS.unsupported_reason(ind), note, "", *_NO_DETAILS)
    return (text, value, "pending", "", "", "", "", note, lookup, *_NO_DETAILS)


def _hunting_columns(ind: Indicator, strategy: Strategy, assumed: bool) -> tuple[str, ...]:
    """`classify_columns` for hunting's lookups; `assumed`: auto before deciding (its notes say so)."""
    kind, state = ind.type, ind.status
    if (kind is not None and kind.__class__ is not IndicatorType) or state.__class__ is not Status:
        return _mde_columns((ind,), None, strategy)
    text = "" if kind is None else kind._value_
    if state is not _PENDING:
        return (text, ind.value, state._value_, "", "", "", ind.reason, ind.note, "", *_NO_DETAILS)
    value = ind.value
    notes = [ind.note] if ind.note else []
    family = HUNT_FAMILY_OF_TYPE.get(text)
    if family is not None:
        lookup = f"{family}/{value}"
        if assumed and text == "md5":
            notes.append(ASSUMED_NOTE)
    elif text == "url" and (host := url_host(value)):
        key = LookupKey("ips" if is_ip_host(host) else "domains", host)
        lookup = f"{key.family}/{host};urls/{value}"
        notes.append(host_note(key))
        if assumed:
            notes.append(ASSUMED_URL_NOTE)
    else:
        reason = strategy.unsupported_reason(ind)
        return (text, value, _UNSUPPORTED, "", "", "", reason, ind.note, "", *_NO_DETAILS)
    return (text, value, "pending", "", "", "", "", "; ".join(notes), lookup, *_NO_DETAILS)


def classify_statuses(indicators: tuple[Indicator, ...], strategy: Strategy = STATS) -> tuple[str, ...]:
    """Each indicator's status in `classify` (the strategy's lookups, no answers): what its
    summary counts, as the cells say it (in stats mode a lone MD5 `unsupported`, one beside its
    file's SHA-1 `pending`)."""
    keys = strategy.row_keys(indicators)
    return tuple(cell_status(i, k, None)._value_ for i, k in zip(indicators, keys, strict=True))


def mde_columns(
    indicators: tuple[Indicator, ...], answers: Answers | None, strategy: Strategy = STATS
) -> tuple[str, ...]:
    """The `mde_*` cells of one row, in `MDE_COLUMNS` order.

    `answers` is None for `classify` (lookupable indicators stay `pending`, the others are
    `unsupported` as in a run). A row with several
    indicators lists types and values joined by ";", takes the most telling status (error, then
    seen, not_seen, pending, unsupported, invalid), the largest prevalence and the widest
    first/last-seen span; errors and notes name the value they concern.
    """
    if answers is None and len(indicators) == 1 and strategy is STATS:
        return classify_columns(indicators[0])
    return _mde_columns(indicators, answers, strategy)


def _mde_columns(
    indicators: tuple[Indicator, ...], answers: Answers | None, strategy: Strategy
) -> tuple[str, ...]:
    keys = strategy.row_keys(indicators)
    extras = [extra_keys(i, k, strategy) for i, k in zip(indicators, keys, strict=True)]
    asked = [*keys, *(e for group in extras for e in group)]
    if len(indicators) == 1:
        ind, key = indicators[0], keys[0]
        status = cell_status(ind, key, answers, extras[0])
        answer = answers.get(key) if answers is not None and key is not None else None
        return (
            ind.type.value if ind.type else "",
            ind.value,
            status.value,
            _prevalence(answer),
            answer.first_seen if answer else "",
            answer.last_seen if answer else "",
            cell_error(ind, key, answers, strategy, extras[0]),
            cell_note(ind, key, strategy, answers),
            *detail_cells(keys, answers, asked),
        )
    statuses = [cell_status(i, k, answers, e) for i, k, e in zip(indicators, keys, extras, strict=True)]
    row_status = next(s for s in _ROW_STATUS_ORDER if s in statuses)
    got = [answers[k] for k in keys if answers is not None and k is not None and k in answers]
    prevalences = [a.prevalence for a in got if a.prevalence is not None]
    firsts = [a.first_seen for a in got if a.first_seen]
    lasts = [a.last_seen for a in got if a.last_seen]
    errors, notes = [], []
    for ind, key, extra in zip(indicators, keys, extras, strict=True):
        if err := cell_error(ind, key, answers, strategy, extra):
            errors.append(f"{ind.value or '(empty)'}: {err}")
        if note := cell_note(ind, key, strategy, answers):
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
        *detail_cells(keys, answers, asked),
    )


def answered_by(answer: Answer) -> str:
    """The `mde_answered_by` value of an answer: `cache`, else how it was obtained."""
    return CACHE if answer.from_cache else answer.method


def detail_cells(
    keys: list[LookupKey | None], answers: Answers | None, asked: list[LookupKey | None] | None = None
) -> tuple[str, ...]:
    """The cells after the contract's: `mde_lookup` (every lookup `asked`, default `keys`), the
    rest of the answers of `keys` (`MDE_DETAIL_COLUMNS`), then `mde_answered_by` (of every lookup).

    With several lookups in a row, each cell lists the distinct values, ";"-joined.
    """
    distinct = [k for k in dict.fromkeys(keys) if k is not None]
    everything = distinct if asked is None else [k for k in dict.fromkeys(asked) if k is not None]
    lookup = ";".join(f"{k.family}/{k.key}" for k in everything)
    got = [answers[k] for k in distinct if k in answers] if answers is not None else []
    if not got:
        return (lookup, *_NO_DETAILS)
    if len(got) == 1 and len(everything) == 1:  # the common row: one lookup, one answer
        only = got[0]
        detail = dict(only.detail) if only.detail else {}
        return (lookup, *[detail.get(name) or "" for name in _DETAIL_NAMES], answered_by(only))
    details = [dict(a.detail) for a in got]
    cells = [lookup]
    for _, name in MDE_DETAIL_COLUMNS[1:]:
        cells.append(";".join(dict.fromkeys(d[name] for d in details if d.get(name))))
    every = [answers[k] for k in everything if k in answers] if answers is not None else []
    cells.append(";".join(dict.fromkeys(by for a in every if (by := answered_by(a)))))
    return tuple(cells)


def _prevalence(answer: Answer | None) -> str:
    return "" if answer is None or answer.prevalence is None else str(answer.prevalence)
