"""docs/kql-subset.md stays in step with the engine: its generated sections match the code and it
names every registered function and aggregation."""

from __future__ import annotations

from pathlib import Path

from enrich.sandbox.kql.aggregates import SIGNATURES
from enrich.sandbox.kql.docs import AGGREGATION_NOTES, refresh
from enrich.sandbox.kql.functions import FUNCTIONS
from enrich.sandbox.schema import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "kql-subset.md"


def test_generated_sections_are_current():
    text = DOC.read_text(encoding="utf-8")
    assert refresh(text) == text, "run: python -m enrich.sandbox.kql.docs docs/kql-subset.md"


def test_doc_lists_every_function_aggregation_and_table():
    text = DOC.read_text(encoding="utf-8")
    functions = text.split("<!-- generated:functions -->")[1].split("<!-- /generated:functions -->")[0]
    listed = {line.split("`")[1] for line in functions.splitlines() if line.startswith("| `")}
    assert listed == set(FUNCTIONS)
    for name in SIGNATURES:
        assert f"| `{name}` |" in text
    for table in TABLES:
        assert f"| `{table}` |" in text


def test_every_aggregation_has_a_note():
    assert set(AGGREGATION_NOTES) == set(SIGNATURES)
