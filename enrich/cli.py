"""Command line: click declarations only; the work is done in the modules they call."""

from __future__ import annotations

import click

from enrich import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="enrich")
def cli() -> None:
    """Enrich threat indicators (CSV, STIX) with what Microsoft Defender for Endpoint has seen of them.

    Exit codes: 0 finished with no row in error; 3 finished but some rows are `error`;
    1 fatal (authentication failed, input unreadable, output not writable); 2 usage error.
    """


# --- classify (owner: sources/sinks) ---------------------------------------------------------

# --- sandbox (owner: sandbox) ----------------------------------------------------------------

# --- run / check / cache / job (owner: engine) -----------------------------------------------


def main() -> None:
    """Console-script entry point."""
    cli()
