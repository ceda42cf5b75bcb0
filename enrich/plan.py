"""First pass over the inputs: count rows and collect each distinct lookup once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from enrich.answering.interface import Strategy
from enrich.model import LookupKey, Status
from enrich.sources.interface import Source


@dataclass
class Plan:
    """What a run has to ask MDE, in first-seen order, and what the inputs hold."""

    keys: dict[LookupKey, None] = field(default_factory=dict)  # an ordered set
    rows: int = 0
    indicators: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_class: Counter[str] = field(default_factory=Counter)  # classification status per indicator

    def per_family(self, keys: Iterable[LookupKey] | None = None) -> Counter[str]:
        """How many lookups fall to each API family."""
        return Counter(k.family for k in (self.keys if keys is None else keys))


def make_plan(sources: Iterable[Source], strategy: Strategy) -> Plan:
    """Read every source once and collect the distinct lookups `strategy` needs for its rows
    (each indicator's `row_keys` lookup, then its `extra_keys`)."""
    plan = Plan()
    row_keys = strategy.row_keys
    extra_keys = strategy.extra_keys if strategy.has_extra_keys else None
    keys = plan.keys
    for source in sources:
        for chunk in source.chunks():
            plan.rows += len(chunk.indicators)
            for indicators in chunk.indicators:
                plan.indicators += len(indicators)
                for ind in indicators:
                    plan.by_type[ind.type.value if ind.type else "none"] += 1
                    plan.by_class[ind.status.value] += 1
                for ind, key in zip(indicators, row_keys(indicators), strict=True):
                    if key is not None:
                        keys[key] = None
                        if extra_keys is not None and ind.status is Status.PENDING:
                            for extra in extra_keys(ind, key):
                                keys[extra] = None
    return plan
