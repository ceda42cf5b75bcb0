"""`classify`'s fast path for hunting's lookups (`--mode hunt`, and `auto` before it decides) gives
exactly the cells of the general join, for any token."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.answering.auto import AutoStrategy
from enrich.answering.hunting import HuntingStrategy
from enrich.indicators import classify
from enrich.outcome import _mde_columns, classify_columns
from tests.test_classify_fast_paths import plain_tokens

HUNT, AUTO = HuntingStrategy(), AutoStrategy()
EXTRA = st.sampled_from(
    [
        "d41d8cd98f00b204e9800998ecf8427e",
        "hxxp://198.51.100.7:8080/x",
        "http://[2001:db8::1]/a",
        "http://intranet/x",
        "ftp://files.example/x.bin",
        "user@example.com",
        "10.0.0.0/8",
        "*.example.com",
    ]
)


@settings(max_examples=800, deadline=None)
@given(st.one_of(plain_tokens, EXTRA))
def test_the_hunting_fast_path_equals_the_general_join(token):
    ind = classify(token)
    for strategy in (HUNT, AUTO):
        assert classify_columns(ind, strategy) == _mde_columns((ind,), None, strategy), (token, strategy.name)


def test_a_decided_auto_takes_the_general_path():
    decided = AutoStrategy()
    decided.decide({"hunting-graph": "no role", "hunting-legacy": "no role"})
    ind = classify("d41d8cd98f00b204e9800998ecf8427e")
    cells = classify_columns(ind, decided)
    assert cells == _mde_columns((ind,), None, decided) and cells[2] == "unsupported"
