"""Property tests for enrich.indicators: never raise, never empty, idempotent on normalised output."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.indicators import classify, classify_as, extract, refang
from enrich.model import IndicatorType, Status

ALLOWED = {Status.PENDING, Status.INVALID, Status.UNSUPPORTED}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Arbitrary text, plus text built from the characters indicators and defanging are made of.
_ALPHABET = st.sampled_from(
    list("abcdefxXhHtTpPsS0123456789.:/[](){}@\\-_%?#=,;| \t'\"*") + ["dot", "ü", "\u200b"]
)
indicator_like = st.lists(_ALPHABET, max_size=40).map("".join)
pieces = st.sampled_from(
    [
        "hxxp",
        "http",
        "https",
        "://",
        "[.]",
        "(dot)",
        "[:]",
        "evil",
        ".com",
        "bücher",
        ".example",
        "1.2.3.4",
        ":8080",
        "/32",
        "/24",
        "[",
        "]",
        "::1",
        "2001:db8::",
        "@",
        "www.",
        "/path?a=1,2",
        "a" * 32,
        "F" * 40,
        ",",
        ";",
        " ",
        "'",
        "xn--",
        "_",
        "-",
        "*.",
    ]
)
composed = st.lists(pieces, max_size=8).map("".join)
anything = st.one_of(st.text(max_size=200), indicator_like, composed)


@SETTINGS
@given(anything)
def test_never_raises_and_statuses_are_allowed(text: str) -> None:
    refang(text)
    ind = classify(text)
    assert ind.status in ALLOWED
    assert (ind.type is None) == (ind.status is Status.INVALID) or ind.status is Status.UNSUPPORTED
    if ind.status is not Status.PENDING:
        assert ind.reason
    got = extract(text)
    assert isinstance(got, tuple) and got
    assert all(i.status in ALLOWED for i in got)
    for declared in IndicatorType:
        assert classify_as(text, declared).status in ALLOWED


@SETTINGS
@given(anything)
def test_refang_is_idempotent(text: str) -> None:
    once = refang(text)
    assert refang(once) == once


@SETTINGS
@given(anything)
def test_classify_is_idempotent_on_normalised_output(text: str) -> None:
    for ind in (classify(text), *extract(text)):
        if ind.status is Status.PENDING:
            again = classify(ind.value)
            assert (again.type, again.value, again.status) == (ind.type, ind.value, Status.PENDING), ind
            assert classify_as(ind.value, ind.type) == again


@SETTINGS
@given(st.ip_addresses())
def test_every_ip_address_classifies(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    ind = classify(str(ip))
    assert ind.status is Status.PENDING
    assert ind.type is (IndicatorType.IPV4 if ip.version == 4 else IndicatorType.IPV6)
    assert ipaddress.ip_address(ind.value) == ip


@SETTINGS
@given(st.binary(min_size=16, max_size=32), st.sampled_from([16, 20, 32]), st.booleans())
def test_every_hash_classifies(data: bytes, size: int, upper: bool) -> None:
    hexed = (data * 2)[:size].hex()
    ind = classify(hexed.upper() if upper else hexed)
    assert (ind.value, ind.status) == (hexed, Status.PENDING)
    assert ind.type is {16: IndicatorType.MD5, 20: IndicatorType.SHA1, 32: IndicatorType.SHA256}[size]
