"""The interface every output format implements, and what it is given.

A sink is made for one output path and the sources that go into it; `begin` opens it, `write`
takes one source's rows with their outcomes (the join's `Outcomes`), `commit` finishes it (an
atomic replace of the target), `abort` leaves the target as it was. `counts` holds the rows by
`mde_status` and whatever else the format tallies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from enrich.model import Status
from enrich.outcome import Outcomes
from enrich.sources.interface import Source

if TYPE_CHECKING:
    from enrich.sinks.targets import Target

_STATUSES = frozenset(s.value for s in Status)


@dataclass(frozen=True)
class SinkOptions:
    """What a run asks of its outputs (each format reads what concerns it)."""

    neutralise: bool = True  # CSV: a leading ' on cells a spreadsheet would run as formulas
    bom: bool = False  # CSV: start with a UTF-8 byte order mark (also kept when an input has one)
    org_name: str = "Our organisation"  # STIX: the identity where sightings were made
    negative_sightings: bool = False  # STIX: count-0 sightings for rows not seen
    separate: bool = False  # STIX: only our objects, not the input's
    queried_at: datetime | None = None  # STIX: when MDE was asked (None: now)
    lookback_hours: int = 720
    api_url: str = ""

    def query_time(self) -> datetime:
        return self.queried_at or datetime.now(UTC)


class Sink(ABC):
    """One output file (or stdout, `-`) of one format."""

    format: ClassVar[str]  # as `--to` spells it
    suffix: ClassVar[str]  # of the file made per input in an output folder

    def __init__(self, path: str, sources: Sequence[Source], options: SinkOptions) -> None:
        self.path = path
        self.sources = list(sources)
        self.options = options
        self.counts: Counter[str] = Counter()

    @abstractmethod
    def begin(self) -> None:
        """Open the output (a temporary file next to the target); OutputError when it cannot be."""

    @abstractmethod
    def write(self, source: Source, outcomes: Outcomes) -> None:
        """Write every row of `source` (one of `self.sources`, in order) with its outcome."""

    @abstractmethod
    def commit(self) -> None:
        """Finish: the target now holds the whole output."""

    @abstractmethod
    def abort(self) -> None:
        """Give up: remove what was written; the target is as it was."""

    @classmethod
    def check_rows(cls, targets: Sequence[Target], rows: int) -> None:
        """Before any lookup: raise an EnrichError when this format cannot hold the rows (`rows`:
        every input's together, the plan's count). Default: any number fits."""
        return None

    def rows_by_status(self) -> Counter[str]:
        """The rows written, by `mde_status`."""
        return Counter({k: v for k, v in self.counts.items() if k in _STATUSES and v})

    def __enter__(self) -> Sink:
        self.begin()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
