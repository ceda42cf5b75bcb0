"""The examples that end each command's `--help` (click epilogs), in one place.

Every line is a whole `enrich` command line that click parses (tests/test_completion.py checks it,
and runs those that can run against the sandbox or on the files of `sample_data/`).
"""

from __future__ import annotations

# Command path ("enrich", "run", "cache clear") -> its examples, as typed in a shell.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "enrich": (
        "enrich run --sandbox sample_data/plain_list.txt -o enriched.csv",
        "enrich job --sandbox jobs/nightly-feeds.toml",
        "enrich check --secrets secrets.json",
    ),
    "classify": (
        "enrich classify sample_data/plain_list.txt -o classified.csv",
        "enrich classify --mode hunt --column indicator sample_data/mixed_indicators.csv -o classified.csv",
        "enrich classify sample_data/stix21_bundle.json sample_data/semicolon_iocs.csv -o both.csv",
    ),
    "sandbox": (
        "enrich sandbox",
        "enrich sandbox --tenants 3 --secrets-dir tenant-secrets",
        "enrich sandbox --time-scale 60 --fault 503=0.05 --fault reset=0.01",
    ),
    "run": (
        "enrich run --sandbox sample_data/plain_list.txt -o enriched.csv",
        "enrich run --mode hunt --lookback 7d --summary run.json iocs.csv -o enriched.csv",
        "enrich run --secrets secrets.json --negative-sightings bundle.json -o sightings.json",
    ),
    "report": (
        "enrich report enriched.csv -o report.html",
        "enrich report monday.csv tuesday.csv -o week.html",
    ),
    "job": (
        "enrich job --sandbox jobs/incident-export.toml",
        "enrich job --wait -q jobs/nightly-feeds.toml",
        "enrich job --log-format json jobs/audit-sweep-hunt.toml",
    ),
    "check": (
        "enrich check --sandbox",
        "enrich check --secrets secrets.json --mode hunt",
    ),
    "cache": (
        "enrich cache stats",
        "enrich cache clear --older-than 30d",
    ),
    "cache stats": (
        "enrich cache stats",
        "enrich cache stats --cache /var/lib/enrich/cache.sqlite3",
    ),
    "cache clear": (
        "enrich cache clear --older-than 30d",
        "enrich cache clear --cache /var/lib/enrich/cache.sqlite3",
    ),
}


def epilog(command: str) -> str:
    """The `--help` epilog of `command`: its examples, one per line as typed (click keeps the lines
    of a paragraph that starts with a \\b line)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])
