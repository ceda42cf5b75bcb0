"""The output formats by name (`--to`): a new format registers here and nowhere else.

Formats are named by import path (see `enrich.registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enrich.registry import load

if TYPE_CHECKING:
    from enrich.sinks.interface import Sink

# `--to` name -> "module:class" of its sink.
SINKS: dict[str, str] = {
    "csv": "enrich.sinks.csv:CsvSink",
    "stix": "enrich.sinks.stix:StixSink",
    "xlsx": "enrich.sinks.xlsx:XlsxSink",
}
# Output extensions that choose a format when `--to` is not given (anything else: csv).
EXTENSIONS: dict[str, str] = {".json": "stix", ".jsonl": "stix", ".xlsx": "xlsx"}


def format_names() -> list[str]:
    """The `--to` choices."""
    return list(SINKS)


def output_format(to: str | None, output: str | None) -> str:
    """`--to`, else the format the output's extension names, else csv."""
    if to:
        return to
    lowered = (output or "").lower()
    return next((fmt for ext, fmt in EXTENSIONS.items() if lowered.endswith(ext)), "csv")


def sink_class(fmt: str) -> type[Sink]:
    """The sink writing `fmt`; UsageError naming the choices otherwise."""
    return load(SINKS, fmt, "output format", "--to")
