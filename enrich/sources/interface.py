"""The shape every source has: chunks of rows with their classified indicators."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from enrich.errors import InputError
from enrich.model import Indicator


class SourceError(InputError):
    """An input cannot be read at all. The message is one line naming the file and the problem."""


@dataclass
class Chunk:
    """A run of consecutive input rows.

    `frame` holds the input columns of these rows as text, exactly as read (for STIX inputs:
    one row per extracted indicator, with the source object's id, type and pattern).
    `indicators[i]` holds the classified entries of row i: at least one per row.
    """

    frame: pd.DataFrame
    indicators: list[tuple[Indicator, ...]]


class Source(ABC):
    """A readable input. Reading is streaming: never the whole file in memory."""

    name: str  # the path as the user gave it, "-" for stdin
    format: str  # "csv" | "stix" | "jsonl"

    @abstractmethod
    def columns(self) -> list[str]:
        """The input columns, in order, as they will appear in CSV output."""

    @abstractmethod
    def chunks(self) -> Iterator[Chunk]:
        """Yield the rows in input order; may be called more than once (re-reads the input)."""

    def describe(self) -> str:
        """One line on how the input was read (printed by `run` and `classify`)."""
        return f"{self.name}: {self.format}"

    def stray_lines(self) -> tuple[int, list[int]]:
        """(lines holding bytes not in the input's encoding, the first line numbers); (0, []) by default."""
        return 0, []


def encoding_fallbacks(sources: list[Source]) -> list[dict[str, object]]:
    """For the run summary: each input with lines holding bytes not in its encoding (read whole first):
    {"input", "lines" (how many), "first_lines" (up to 20 line numbers)}."""
    out: list[dict[str, object]] = []
    for src in sources:
        count, lines = src.stray_lines()
        if count:
            out.append({"input": src.name, "lines": count, "first_lines": lines})
    return out
