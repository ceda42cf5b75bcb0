"""Hunt mode's transport: values of one family asked by advanced hunting, thousands per call.

`hunt(client, family, values, options, on_chunk)` packs the distinct values into KQL queries
(queries.py; each value a validated, escaped literal: literals.py), sized to MDE's limits
(chunks.py), sent to Microsoft Graph's runHuntingQuery or else MDE's legacy endpoint (paths.py),
and calls `on_chunk` with each finished chunk's sightings (run.py). `hunting_paths(client)` says
which path is usable and why not. Semantics per family: docs/hunting.md.
"""

from __future__ import annotations

from enrich.mde.hunting.interface import (
    HUNT_FAMILIES,
    PATH_GRAPH,
    PATH_LEGACY,
    ChunkResult,
    HuntOptions,
    Sighting,
)
from enrich.mde.hunting.literals import UnsafeValue
from enrich.mde.hunting.paths import hunting_paths
from enrich.mde.hunting.run import hunt

__all__ = [
    "HUNT_FAMILIES",
    "PATH_GRAPH",
    "PATH_LEGACY",
    "ChunkResult",
    "HuntOptions",
    "Sighting",
    "UnsafeValue",
    "hunt",
    "hunting_paths",
]
