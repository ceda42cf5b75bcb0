"""The HTML report (`enrich run --report FILE.html`, `enrich report OUTPUT... -o FILE.html`).

One self-contained page (style, script, data and charts inline; nothing fetched when opened):
the headline counts, status by indicator type, the distribution of organisation prevalence, a
first-to-last-seen timeline, a sortable, filterable and paged table of every seen indicator,
the inputs and the settings (never a secret).

- `data.py`: `Collector`, what the page shows, gathered row by row;
- `from_run.py`: from a run's sources and outcomes; `from_outputs.py`: from CSV/STIX outputs;
- `page.py` and `assets/`: the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from enrich.errors import OutputError, UsageError
from enrich.outcome import Outcomes
from enrich.report.data import Collector
from enrich.report.from_outputs import ReportInputError, collect_outputs, output_files
from enrich.report.from_run import collect_run, run_settings
from enrich.report.page import render
from enrich.sinks.atomic import destination, write_text_atomic
from enrich.sinks.targets import Target, check_not_inputs, writable_problem
from enrich.sources.interface import Source

__all__ = [
    "Collector",
    "ReportInputError",
    "check_report_path",
    "collect_outputs",
    "collect_run",
    "make_report",
    "render",
    "run_settings",
    "write_report",
    "write_run_report",
]


class ReportError(OutputError):
    """The report cannot be written (one line naming the file and the problem)."""


def check_report_path(
    report: str, targets: Sequence[Target], sources: Sequence[Source], summary: str | None = None
) -> None:
    """Before any lookup: `--report` is a file that can be written, not an input, an output or
    the summary (UsageError, exit 2), in a folder that exists (ReportError, exit 1)."""
    if report == "-":
        raise UsageError("--report needs a file name (FILE.html), not '-'")
    check_not_inputs([("--report", report)], sources)
    real = destination(report).real
    for option, other in [("-o", t.path) for t in targets] + ([("--summary", summary)] if summary else []):
        if other != "-" and destination(other).real == real:
            raise UsageError(f"--report {report} is also {option} {other}; give it another path")
    problem = writable_problem(report)
    if problem:
        raise ReportError(f"{report}: {problem}")


def write_report(path: str, collector: Collector) -> int:
    """Write the page for `collector` at `path`, whole or not at all; returns its size in bytes."""
    text = render(collector.data())
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return len(text.encode("utf-8"))


def write_run_report(
    path: str,
    sources: Sequence[Source],
    outcomes: Outcomes,
    summary: Mapping[str, Any],
    request: Any,
    output_format: str,
) -> int:
    """The report of a finished run (`summary`: `RunSummary.to_dict()`, `request`: its RunRequest)."""
    collector = collect_run(
        sources,
        outcomes,
        summary=summary,
        settings=run_settings(request, summary, output_format),
        mode=_mode_text(summary.get("mode"), str(getattr(request, "mode", "") or outcomes.strategy.name)),
    )
    return write_report(path, collector)


def _mode_text(mode: Any, asked: str) -> str:
    """`hunt (asked: auto)` from the summary's mode record, else the mode asked."""
    if isinstance(mode, Mapping) and mode.get("chosen"):
        chosen, wanted = str(mode["chosen"]), str(mode.get("asked") or asked)
        return chosen if chosen == wanted else f"{chosen} (asked: {wanted})"
    return asked


def make_report(outputs: Sequence[str], path: str) -> int:
    """`enrich report`: the page for earlier outputs (CSV, xlsx, STIX; a folder stands for the
    outputs in it) at `path`; returns its size."""
    outputs = output_files(outputs)
    if path != "-" and any(destination(path).real == destination(o).real for o in outputs):
        raise UsageError(f"-o {path} is one of the outputs read; give another path")
    if path == "-":
        raise UsageError("-o needs a file name (FILE.html), not '-'")
    problem = writable_problem(path)
    if problem:
        raise ReportError(f"{path}: {problem}")
    return write_report(path, collect_outputs(outputs))
