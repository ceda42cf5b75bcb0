"""The names hunt mode's transport and its strategy share: families, paths, options and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HUNT_FAMILIES: tuple[str, ...] = ("files", "ips", "domains", "urls")  # LookupKey families hunting answers
PATH_GRAPH = "hunting-graph"  # Microsoft Graph runHuntingQuery (also an `mde_answered_by` value)
PATH_LEGACY = "hunting-legacy"  # MDE's legacy /api/advancedqueries/run (being retired)
# The budget family each path's calls count against (settings.RATE_LIMIT_FAMILIES).
BUDGET_FAMILY: dict[str, str] = {PATH_GRAPH: "hunting-graph", PATH_LEGACY: "hunting"}
MAX_LOOKBACK_HOURS = 720  # advanced hunting sees the last 30 days
DEFAULT_CHUNK_VALUES = 1000  # values per query at most (fewer when the size limits say so)
DEFAULT_REQUEST_TIMEOUT = 210.0  # seconds: MDE runs a query up to 200 s (Graph: 3 minutes)
# Queries of one family in flight at once after its first (a query takes seconds to run in MDE, so
# one at a time would leave the 45/minute quota unused; the quota and the CPU cycle still bound it).
DEFAULT_QUERIES_IN_FLIGHT = 3


@dataclass(frozen=True)
class HuntOptions:
    """How `hunt` asks: lookback, device names kept, the paths tried in order, chunking and time-out.

    `chunk_values` caps the values of one query (the request and result size limits may make a
    chunk smaller); `request_timeout` is how long one hunting request may take before the chunk
    is split (MDE allows a query 200 s).
    """

    lookback_hours: int = MAX_LOOKBACK_HOURS
    max_devices: int = 10
    paths: tuple[str, ...] = (PATH_GRAPH, PATH_LEGACY)
    chunk_values: int = DEFAULT_CHUNK_VALUES
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    queries_in_flight: int = DEFAULT_QUERIES_IN_FLIGHT

    def __post_init__(self) -> None:
        if not 1 <= int(self.lookback_hours) <= MAX_LOOKBACK_HOURS:
            raise ValueError(
                f"the hunting lookback must be 1 to {MAX_LOOKBACK_HOURS} hours (30 days); got {self.lookback_hours}"
            )
        if int(self.max_devices) < 0:
            raise ValueError(f"max devices must be 0 or more; got {self.max_devices}")
        if not self.paths or any(path not in (PATH_GRAPH, PATH_LEGACY) for path in self.paths):
            raise ValueError(f"hunting paths must be among {PATH_GRAPH}, {PATH_LEGACY}; got {self.paths!r}")
        if int(self.queries_in_flight) < 1:
            raise ValueError(f"queries_in_flight must be at least 1; got {self.queries_in_flight}")
        if int(self.chunk_values) < 1:
            raise ValueError(f"chunk_values must be at least 1; got {self.chunk_values}")
        if float(self.request_timeout) <= 0:
            raise ValueError(
                f"request_timeout must be a positive number of seconds; got {self.request_timeout}"
            )


@dataclass(frozen=True)
class Sighting:
    """What hunting saw of one value over the lookback."""

    devices: int  # distinct DeviceId (the organisation prevalence, as the stats APIs mean it)
    events: int  # matching events
    first_seen: str  # ISO 8601 UTC as MDE returns it ("2026-11-20T10:11:12.1234567Z")
    last_seen: str
    device_names: tuple[str, ...] = ()  # up to max_devices DeviceName values, sorted


@dataclass(frozen=True)
class ChunkResult:
    """One finished chunk: the values it asked, the sightings of those seen, and which path answered.

    A value of `values` absent from `sightings` was not seen. A non-empty `error` means the chunk
    could not be answered: each of its values is an error.
    """

    family: str
    values: tuple[str, ...]  # every value this chunk asked (normalised as enrich normalises them)
    sightings: Mapping[str, Sighting] = field(default_factory=dict)
    path: str = ""  # PATH_GRAPH or PATH_LEGACY: which endpoint answered ("" when none could)
    error: str = ""
