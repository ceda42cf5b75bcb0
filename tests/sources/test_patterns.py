"""STIX pattern extraction: every form seen in real feeds (research §1.1), operators, escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich.model import IndicatorType as T
from enrich.model import Status
from enrich.sources.patterns import PatternError, extract, parse_pattern, unescape

P, U, BAD = Status.PENDING, Status.UNSUPPORTED, Status.INVALID
SPEC_EXAMPLES = (
    Path(__file__).resolve().parents[3] / "shared" / "feeds" / "stix" / "stix21_pattern_spec_examples.txt"
)

SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
SHA1 = "586d0e5ed6a7ea5b4a3b2fa8b30ff6f1ff0e4b7a"
MD5 = "0d71c8d3b1c0e2a2b9f1d1c6a4c0f5e3"


def rows(pattern: str, version: str = "2.1") -> list[tuple[str, str, T | None, Status]]:
    return [(a.path, a.value, a.indicator.type, a.indicator.status) for a in extract(pattern, version)]


# (pattern, expected rows as (stix_path, value as written, type, status))
TABLE = [
    # single value, each lookupable type
    (
        "[domain-name:value = 'api.ontracting.com']",
        [("domain-name:value", "api.ontracting.com", T.DOMAIN, P)],
    ),
    ("[url:value = 'http://a.example/x?y=1']", [("url:value", "http://a.example/x?y=1", T.URL, P)]),
    ("[ipv6-addr:value = '2001:db8::1']", [("ipv6-addr:value", "2001:db8::1", T.IPV6, P)]),
    ("[ipv4-addr:value = '81.236.182.199']", [("ipv4-addr:value", "81.236.182.199", T.IPV4, P)]),
    # hash, quoted name / bare name / lower case
    (f"[file:hashes.'SHA-256' = '{SHA256}']", [("file:hashes.'SHA-256'", SHA256, T.SHA256, P)]),
    (f"[file:hashes.'MD5' = '{MD5}']", [("file:hashes.'MD5'", MD5, T.MD5, P)]),
    (f"[file:hashes.MD5 = '{MD5}']", [("file:hashes.MD5", MD5, T.MD5, P)]),
    (f"[file:hashes.SHA256 = '{SHA256}']", [("file:hashes.SHA256", SHA256, T.SHA256, P)]),
    (f"[file:hashes.SHA1 = '{SHA1}']", [("file:hashes.SHA1", SHA1, T.SHA1, P)]),
    (f"[file:hashes.'SHA1' = '{SHA1}']", [("file:hashes.'SHA1'", SHA1, T.SHA1, P)]),
    (f"[file:hashes.md5 = '{MD5}']", [("file:hashes.md5", MD5, T.MD5, P)]),
    (
        f"[file:hashes.'sha-256' = '{SHA256.upper()}']",
        [("file:hashes.'sha-256'", SHA256.upper(), T.SHA256, P)],
    ),
    # CIDR in value: /32 is one address, a range is unsupported
    ("[ipv4-addr:value = '45.59.112.9/32']", [("ipv4-addr:value", "45.59.112.9/32", T.IPV4, P)]),
    ("[ipv4-addr:value = '223.166.0.0/15']", [("ipv4-addr:value", "223.166.0.0/15", T.IPV4, U)]),
    ("[ipv6-addr:value = '2001:db8::/64']", [("ipv6-addr:value", "2001:db8::/64", T.IPV6, U)]),
    # spaces inside brackets, no spaces around '='
    ("[ ipv4-addr:value = '10.0.0.1' ]", [("ipv4-addr:value", "10.0.0.1", T.IPV4, P)]),
    ("[ipv4-addr:value='10.0.0.1']", [("ipv4-addr:value", "10.0.0.1", T.IPV4, P)]),
    # OR in one observation, mixed types
    (
        "[domain-name:value = 'www.webserver.dynssl.com' OR ipv4-addr:value = '113.10.246.30'"
        " OR ipv4-addr:value = '219.90.112.203']",
        [
            ("domain-name:value", "www.webserver.dynssl.com", T.DOMAIN, P),
            ("ipv4-addr:value", "113.10.246.30", T.IPV4, P),
            ("ipv4-addr:value", "219.90.112.203", T.IPV4, P),
        ],
    ),
    # OR of hashes, with algorithms MDE cannot look up
    (
        f"[file:hashes.MD5 = '{MD5}' OR file:hashes.'SHA-1' = '{SHA1}' OR file:hashes.'SHA-256' = '{SHA256}'"
        f" OR file:hashes.'SHA-512' = '{'ab' * 64}' OR file:hashes.SSDEEP = '3:a:b' OR file:hashes.TLSH = 'T1x']",
        [
            ("file:hashes.MD5", MD5, T.MD5, P),
            ("file:hashes.'SHA-1'", SHA1, T.SHA1, P),
            ("file:hashes.'SHA-256'", SHA256, T.SHA256, P),
            ("file:hashes.'SHA-512'", "ab" * 64, None, U),
            ("file:hashes.SSDEEP", "3:a:b", None, U),
            ("file:hashes.TLSH", "T1x", None, U),
        ],
    ),
    # AND with a non-searchable attribute (MISP)
    (
        f"[file:name = 'x.exe' AND file:hashes.'SHA-256' = '{SHA256}']",
        [("file:name", "x.exe", None, U), ("file:hashes.'SHA-256'", SHA256, T.SHA256, P)],
    ),
    (
        "[domain-name:value = 'circl.lu' AND domain-name:resolves_to_refs[*].value = '149.13.33.14']",
        [
            ("domain-name:value", "circl.lu", T.DOMAIN, P),
            ("domain-name:resolves_to_refs[*].value", "149.13.33.14", T.IPV4, P),
        ],
    ),
    # network-traffic ref form: the type comparison qualifies the value, it is not a row
    (
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '212.192.246.164']",
        [("network-traffic:dst_ref.value", "212.192.246.164", T.IPV4, P)],
    ),
    (
        "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com']",
        [("network-traffic:dst_ref.value", "example.com", T.DOMAIN, P)],
    ),
    (
        "[network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value = '2001:db8::2']",
        [("network-traffic:dst_ref.value", "2001:db8::2", T.IPV6, P)],
    ),
    (
        "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = '1.2.3.4']",
        [("network-traffic:dst_ref.value", "1.2.3.4", None, BAD)],
    ),
    (
        "[network-traffic:src_ref.value = '198.51.100.1']",
        [("network-traffic:src_ref.value", "198.51.100.1", T.IPV4, P)],
    ),
    (
        "[network-traffic:dst_ref.value = 'evil.example']",
        [("network-traffic:dst_ref.value", "evil.example", T.DOMAIN, P)],
    ),
    (
        "[network-traffic:dst_ref.value = 'http://x.example/']",
        [("network-traffic:dst_ref.value", "http://x.example/", None, BAD)],
    ),
    (
        "[network-traffic:dst_ref.type = 'mac-addr' AND network-traffic:dst_ref.value = '00:11:22:33:44:55']",
        [("network-traffic:dst_ref.value", "00:11:22:33:44:55", None, U)],
    ),
    (
        "[network-traffic:dst_ref.type = 'ipv4-addr']",
        [("network-traffic:dst_ref.type", "ipv4-addr", None, U)],
    ),
    # FOLLOWEDBY / qualifiers / observation AND: every atom, the lookupable ones pending
    (
        f"([file:hashes.MD5 = '{MD5}'] FOLLOWEDBY [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar'])"
        " WITHIN 300 SECONDS",
        [
            ("file:hashes.MD5", MD5, T.MD5, P),
            ("win-registry-key:key", "HKEY_LOCAL_MACHINE\\foo\\bar", None, U),
        ],
    ),
    (
        "[domain-name:value = 'a.example'] AND [url:value = 'http://b.example/']",
        [("domain-name:value", "a.example", T.DOMAIN, P), ("url:value", "http://b.example/", T.URL, P)],
    ),
    ("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES", [("ipv4-addr:value", "1.2.3.4", T.IPV4, P)]),
    # other operators
    (
        "[domain-name:value IN ('a.example', 'b.example')]",
        [("domain-name:value", "a.example", T.DOMAIN, P), ("domain-name:value", "b.example", T.DOMAIN, P)],
    ),
    (
        "[ipv4-addr:value NOT IN ('1.2.3.4', '5.6.7.8')]",
        [("ipv4-addr:value", "1.2.3.4", None, U), ("ipv4-addr:value", "5.6.7.8", None, U)],
    ),
    ("[domain-name:value LIKE '%.evil.example']", [("domain-name:value", "%.evil.example", None, U)]),
    ("[domain-name:value NOT LIKE '%.evil.example']", [("domain-name:value", "%.evil.example", None, U)]),
    ("[url:value MATCHES '^http://x\\\\.example/']", [("url:value", "^http://x\\.example/", None, U)]),
    ("[ipv4-addr:value != '1.2.3.4']", [("ipv4-addr:value", "1.2.3.4", None, U)]),
    ("[ipv4-addr:value NOT = '1.2.3.4']", [("ipv4-addr:value", "1.2.3.4", None, U)]),
    ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", [("ipv4-addr:value", "198.51.100.0/24", None, U)]),
    ("[ipv4-addr:value ISSUBSET '198.51.100.7/32']", [("ipv4-addr:value", "198.51.100.7/32", T.IPV4, P)]),
    ("[ipv4-addr:value ISSUPERSET '198.51.100.7']", [("ipv4-addr:value", "198.51.100.7", None, U)]),
    ("[file:size > 1000]", [("file:size", "1000", None, U)]),
    # types and paths MDE cannot look up
    ("[email-addr:value = 'jdoe@example.com']", [("email-addr:value", "jdoe@example.com", None, U)]),
    ("[file:name = 'CBricksDoc']", [("file:name", "CBricksDoc", None, U)]),
    (
        "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b']",
        [
            ("x509-certificate:issuer", "CN=WEBMAIL", None, U),
            ("x509-certificate:serial_number", "4c:0b", None, U),
        ],
    ),
    (
        "[win-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Run']",
        [("win-registry-key:key", "HKEY_LOCAL_MACHINE\\Run", None, U)],
    ),
    # a cross-type AND in one observation (stix2's AST rejects it; the grammar allows it)
    (
        "[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'x.example']",
        [("ipv4-addr:value", "1.2.3.4", T.IPV4, P), ("domain-name:value", "x.example", T.DOMAIN, P)],
    ),
    # a value that is not what the path says
    ("[ipv4-addr:value = 'evil.example']", [("ipv4-addr:value", "evil.example", None, BAD)]),
    ("[file:hashes.MD5 = 'abc']", [("file:hashes.MD5", "abc", None, BAD)]),
    (
        "[domain-name:value = 'domain autuo.xicp.net']",
        [("domain-name:value", "domain autuo.xicp.net", None, BAD)],
    ),
    # comments are part of the grammar
    (
        "[url:value = 'http://c.example/'] /* seen in a sandbox */",
        [("url:value", "http://c.example/", T.URL, P)],
    ),
]


@pytest.mark.parametrize(("pattern", "expected"), TABLE, ids=[p[:60] for p, _ in TABLE])
def test_pattern_table(pattern, expected):
    assert rows(pattern) == expected


def test_every_row_has_a_reason_unless_pending():
    for pattern, _ in TABLE:
        for atom in extract(pattern):
            ind = atom.indicator
            assert (ind.status is P) == (ind.reason == ""), (pattern, ind)


def test_reasons_say_what_can_be_looked_up():
    (atom,) = extract("[file:name = 'x']")
    assert "only IP address, domain, URL and file hash" in atom.indicator.reason
    assert atom.indicator.reason.startswith("file:name")
    (atom,) = extract("[file:hashes.'SHA-512' = 'ab']")
    assert (
        atom.indicator.reason == "hash algorithm SHA-512 cannot be looked up; only MD5, SHA-1 and SHA-256 can"
    )
    (atom,) = extract("[domain-name:value LIKE '%.x']")
    assert "LIKE" in atom.indicator.reason
    (atom,) = extract("[ipv4-addr:value NOT IN ('1.2.3.4')]")
    assert "NOT IN" in atom.indicator.reason
    (atom,) = extract("[email-addr:value = 'a@b.example']")
    assert "email" in atom.indicator.reason


def test_values_are_classified_and_normalised():
    (atom,) = extract("[domain-name:value = 'WWW.Example.COM']")
    assert atom.value == "WWW.Example.COM"  # as written
    assert atom.indicator.value == "www.example.com"
    (atom,) = extract("[ipv4-addr:value = '45.59.112.9/32']")
    assert atom.indicator.value == "45.59.112.9"
    (atom,) = extract("[domain-name:value = 'evil[.]example']")
    assert atom.indicator.value == "evil.example" and atom.indicator.status is P
    (atom,) = extract("[url:value = 'http://45.59.112.9:8082/getfile.php?download=YXBw']")
    assert atom.indicator.type is T.URL and atom.indicator.status is P


def test_compound_patterns_carry_a_note_on_pending_rows():
    and_rows = extract(f"[file:name = 'x' AND file:hashes.MD5 = '{MD5}']")
    assert "AND" in and_rows[1].indicator.note
    followed = extract(
        f"[file:hashes.MD5 = '{MD5}'] FOLLOWEDBY [url:value = 'http://a.example/'] WITHIN 60 SECONDS"
    )
    assert all("FOLLOWEDBY" in a.indicator.note and "WITHIN 60 SECONDS" in a.indicator.note for a in followed)
    # OR alternatives and a *_ref.type hint are full matches on their own: no note
    assert all(
        a.indicator.note == ""
        for a in extract("[domain-name:value = 'a.example' OR ipv4-addr:value = '8.8.8.8']")
    )
    ref = "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'a.example']"
    assert extract(ref)[0].indicator.note == ""
    ref_or = ref[:-1] + " OR url:value = 'http://b.example/']"
    assert all(a.indicator.note == "" for a in extract(ref_or))


# ------------------------------------------------------------------------------------------- escapes


def test_unescape():
    assert unescape("it\\'s") == "it's"
    assert unescape("C:\\\\temp\\\\x.exe") == "C:\\temp\\x.exe"
    assert unescape("a\\\\'") == "a\\'"  # an escaped backslash, then a quote
    assert unescape("plain") == "plain"


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("[url:value = 'http://evil.example/it\\'s']", "http://evil.example/it's"),
        ("[url:value = 'http://evil.example/a\\\\b']", "http://evil.example/a\\b"),
        # the same through the parser (compound, so no fast path)
        (
            "[url:value = 'http://evil.example/it\\'s' OR url:value = 'http://x.example/']",
            "http://evil.example/it's",
        ),
        ("[url:value IN ('http://evil.example/a\\\\b')]", "http://evil.example/a\\b"),
    ],
)
def test_string_literals_are_unescaped(pattern, value):
    assert extract(pattern)[0].value == value


def test_bad_escape_is_unparseable():
    (atom,) = extract("[file:name = 'C:\\temp\\x.exe']")
    assert atom.indicator.status is BAD
    assert atom.indicator.reason.startswith("pattern cannot be parsed: ")


def test_fast_path_and_parser_agree():
    for pattern, _ in TABLE:
        fast = parse_pattern(pattern)
        slow = parse_pattern(pattern + " /**/")  # a comment defeats the fast path
        assert [(c.path, c.values, c.operator) for c in fast.comparisons] == [
            (c.path, c.values, c.operator) for c in slow.comparisons
        ]


# ----------------------------------------------------------------------------------- bad patterns


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '1.2.3.4'",
        "ipv4-addr:value = '1.2.3.4'",
        "[ipv4-addr:value = 1.2.3.4]",
        "",
        "[]",
        "[file:hashes.AND = 'x']",
        "rule x { condition: true }",
        "[" * 3000 + "ipv4-addr:value = '1.2.3.4'" + "]" * 3000,
    ],
)
def test_unparseable_gives_one_invalid_row(pattern):
    (atom,) = extract(pattern)
    assert atom.indicator.status is BAD
    assert atom.indicator.reason.startswith("pattern cannot be parsed")
    assert len(atom.indicator.reason) < 220 and "\n" not in atom.indicator.reason


def test_parse_error_names_the_position():
    with pytest.raises(PatternError, match=r"1:\d+"):
        parse_pattern("[ipv4-addr:value = '1.2.3.4'")


def test_stix20_grammar_and_fallback():
    assert rows("[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'a.example']", "2.0") == [
        ("ipv4-addr:value", "1.2.3.4", T.IPV4, P),
        ("domain-name:value", "a.example", T.DOMAIN, P),
    ]
    # 2.1-only syntax in a 2.0 object still parses (falls back to the 2.1 grammar)
    assert rows("[file:name = 'x' AND file:created = t'2014-01-13T07:03:17Z']", "2.0")[0][0] == "file:name"


def test_extract_is_cached():
    extract.cache_clear()
    pattern = "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']"
    first = extract(pattern)
    assert extract(pattern) is first
    assert extract.cache_info().hits == 1


# ---------------------------------------------------------------------------------- spec examples


def _spec_patterns() -> list[str]:
    if not SPEC_EXAMPLES.is_file():
        pytest.skip("shared feeds folder not present")
    return [line.strip() for line in SPEC_EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_spec_examples_parse_without_raising():
    patterns = _spec_patterns()
    assert len(patterns) == 23
    for pattern in patterns:
        parsed = parse_pattern(pattern)  # raises PatternError if the grammar rejects it
        assert parsed.comparisons, pattern
        atoms = extract(pattern)
        assert atoms and all(a.indicator.status in (P, U, BAD) for a in atoms)


def test_spec_examples_lookupable_rows():
    """Hand count over the file: the rows that can be looked up, by type."""
    found: dict[str, int] = {}
    for pattern in _spec_patterns():
        for atom in extract(pattern):
            if atom.indicator.status is P:
                found[atom.indicator.type.value] = found.get(atom.indicator.type.value, 0) + 1
    # sha256 x4 (lines 1, 3, 4 twice), md5 x3 (lines 4, 5, 23), ipv4 x2 (203.0.113.33/32, 198.51.100.1/32),
    # domain x2 (example.com, www.5z8.info), url x2 (line 16); the ISSUBSET /64 is a range.
    assert found == {"sha256": 4, "md5": 3, "ipv4": 2, "domain": 2, "url": 2}
