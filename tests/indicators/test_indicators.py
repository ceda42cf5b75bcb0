"""Table-driven tests for enrich.indicators: refang, classify, extract, classify_as."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from enrich.indicators import MAX_CELL, classify, classify_as, extract, refang
from enrich.model import Indicator, IndicatorType, Status

T = IndicatorType
P, INV, UNS = Status.PENDING, Status.INVALID, Status.UNSUPPORTED
FEEDS = Path(__file__).resolve().parents[3] / "shared" / "feeds" / "csv"
SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
SHA1 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
MD5 = "D41D8CD98F00B204E9800998ECF8427E"


def check(ind: Indicator, type_, value, status, reason="", note="") -> None:
    """Assert type, value and status exactly; reason and note by substring ("" means empty)."""
    assert (ind.type, ind.value, ind.status) == (type_, value, status), ind
    assert (reason in ind.reason) if reason else ind.reason == "", ind
    assert (note in ind.note) if note else ind.note == "", ind


# ---------------------------------------------------------------- refang
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hxxp://evil[.]com/a", "http://evil.com/a"),
        ("hXXps://evil.com", "https://evil.com"),
        ("HXXPS://evil.com", "https://evil.com"),
        ("hxxps[:]//evil[dot]com", "https://evil.com"),
        ("hxxp[://]evil[.]com", "http://evil.com"),
        ("http://evil.com[/]path", "http://evil.com/path"),
        ("fxp://files[.]evil[.]com", "ftp://files.evil.com"),
        ("evil(.)com", "evil.com"),
        ("evil{.}com", "evil.com"),
        ("evil(dot)com", "evil.com"),
        ("evil[DOT]com", "evil.com"),
        ("evil [.] com", "evil.com"),
        ("evil\\.com", "evil.com"),
        ("1.2.3[.]4", "1.2.3.4"),
        ("user[@]evil[.]com", "user@evil.com"),
        ("user(at)evil(dot)com", "user@evil.com"),
        ("\u200bevil.com\u200d", "evil.com"),
        ("\ufeffevil.com", "evil.com"),
        ("ev\u2060il.com", "evil.com"),
        ("  'evil.com'  ", "evil.com"),
        ('"evil.com"', "evil.com"),
        ("\u201cevil.com\u201d", "evil.com"),
        ("<http://evil.com/>", "http://evil.com/"),
        ('"evil.com', "evil.com"),
        # conservative: legitimate text is left alone
        ("http://evil.com/a?b=1,2;c=3#frag", "http://evil.com/a?b=1,2;c=3#frag"),
        ("https://example.com/xxp/path", "https://example.com/xxp/path"),
        ("http://example.com/it's", "http://example.com/it's"),
        ("[2001:db8::1]:443", "[2001:db8::1]:443"),
        ("[::]", "[::]"),
        ("", ""),
    ],
)
def test_refang(raw: str, expected: str) -> None:
    assert refang(raw) == expected
    assert refang(expected) == expected


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        ("evil[.]com", "defanged"),
        ("ev\u200bil.com", "defanged"),  # invisible characters inside break auto-linking: a defang
        ("\ufeffevil.com", ""),  # a BOM or spaces or quotes around the value are not
        (' \u200b"evil.com"\u200b ', ""),
        ("evil.com", ""),
    ],
)
def test_defanged_note(raw: str, note: str) -> None:
    check(classify(raw), T.DOMAIN, "evil.com", P, note=note)


# ---------------------------------------------------------------- hashes
@pytest.mark.parametrize(
    ("raw", "type_", "value"),
    [
        (MD5, T.MD5, MD5.lower()),
        (SHA1, T.SHA1, SHA1.lower()),
        (SHA256, T.SHA256, SHA256.lower()),
        (f"  {SHA256.lower()}  ", T.SHA256, SHA256.lower()),
        (f"'{MD5}'", T.MD5, MD5.lower()),
        (MD5[:16] + MD5[16:].lower(), T.MD5, MD5.lower()),
    ],
)
def test_hashes(raw: str, type_: IndicatorType, value: str) -> None:
    check(classify(raw), type_, value, P)


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        ("A" * 128, UNS, "SHA-512 hashes are not supported"),
        ("b" * 96, UNS, "SHA-384 hashes are not supported"),
        ("c" * 33, INV, "hex string of 33 characters is not an MD5"),
        ("3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", UNS, "ssdeep fuzzy hashes are not supported"),
        (
            "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8Qs",
            UNS,
            "ssdeep",
        ),
        ("T1" + "A" * 70, UNS, "TLSH fuzzy hashes are not supported"),
        ("g" * 32, INV, "not an IP address, domain, URL or hash"),
    ],
)
def test_other_hashes(raw: str, status: Status, reason: str) -> None:
    ind = classify(raw)
    assert (ind.type, ind.status) == (None, status)
    assert reason in ind.reason


# ---------------------------------------------------------------- IP addresses
@pytest.mark.parametrize(
    ("raw", "type_", "value", "note"),
    [
        ("8.8.8.8", T.IPV4, "8.8.8.8", ""),
        ("8.8.8[.]8", T.IPV4, "8.8.8.8", "defanged"),
        ("8.8.8.8/32", T.IPV4, "8.8.8.8", ""),
        ("8.8.8.8:53", T.IPV4, "8.8.8.8", "port 53 dropped"),
        ("8[.]8[.]8[.]8:443", T.IPV4, "8.8.8.8", "defanged; port 443 dropped"),
        ("10.1.2.3", T.IPV4, "10.1.2.3", "private address"),
        ("172.16.0.1", T.IPV4, "172.16.0.1", "private address"),
        ("192.168.1.1:8080", T.IPV4, "192.168.1.1", "private address; port 8080 dropped"),
        ("127.0.0.1", T.IPV4, "127.0.0.1", "loopback address"),
        ("169.254.1.1", T.IPV4, "169.254.1.1", "link-local address"),
        ("224.0.0.1", T.IPV4, "224.0.0.1", "multicast address"),
        ("240.0.0.1", T.IPV4, "240.0.0.1", "reserved address"),
        ("255.255.255.255", T.IPV4, "255.255.255.255", "broadcast address"),
        ("0.0.0.0", T.IPV4, "0.0.0.0", "unspecified address"),
        ("100.64.1.1", T.IPV4, "100.64.1.1", "carrier-grade NAT"),
        ("192.0.2.1", T.IPV4, "192.0.2.1", "documentation address"),
        ("2001:4860:4860::8888", T.IPV6, "2001:4860:4860::8888", ""),
        ("2001:4860:4860:0000:0000:0000:0000:8888", T.IPV6, "2001:4860:4860::8888", ""),
        ("2001:4860:4860::8888/128", T.IPV6, "2001:4860:4860::8888", ""),
        ("2001:DB8::1", T.IPV6, "2001:db8::1", "documentation address"),
        ("[2001:db8::1]", T.IPV6, "2001:db8::1", "documentation address"),
        ("[2001:4860:4860::8888]:443", T.IPV6, "2001:4860:4860::8888", "port 443 dropped"),
        ("::1", T.IPV6, "::1", "loopback address"),
        ("fe80::1%eth0", T.IPV6, "fe80::1", "link-local address; zone %eth0 dropped"),
        ("fc00::1", T.IPV6, "fc00::1", "private address"),
        ("ff02::1", T.IPV6, "ff02::1", "multicast address"),
        ("::", T.IPV6, "::", "unspecified address"),
    ],
)
def test_ips(raw: str, type_: IndicatorType, value: str, note: str) -> None:
    check(classify(raw), type_, value, P, note=note)


@pytest.mark.parametrize(
    ("raw", "type_", "value", "status", "reason"),
    [
        (
            "10.0.0.0/8",
            T.IPV4,
            "10.0.0.0/8",
            UNS,
            "IP ranges (CIDR) are not supported; only single addresses",
        ),
        ("223.166.0.0/15", T.IPV4, "223.166.0.0/15", UNS, "CIDR"),
        ("10.1.2.3/8", T.IPV4, "10.0.0.0/8", UNS, "CIDR"),
        ("2001:db8::/32", T.IPV6, "2001:db8::/32", UNS, "CIDR"),
        ("1.2.3.4/33", None, "1.2.3.4/33", INV, "CIDR prefix /33 is too long for an IPv4 address"),
        ("01.2.3.4", None, "01.2.3.4", INV, "leading zeros is ambiguous"),
        ("010.010.010.010", None, "010.010.010.010", INV, "leading zeros"),
        ("256.1.1.1", None, "256.1.1.1", INV, "each of the four numbers must be 0-255"),
        ("1.2.3", None, "1.2.3", INV, "not an IPv4 address (needs exactly four numbers"),
        ("1.2.3.4.5", None, "1.2.3.4.5", INV, "not an IPv4 address"),
        ("1.2.3.4:99999", None, "1.2.3.4:99999", INV, "port '99999' is not a number from 0 to 65535"),
        ("1:2:3:4:5:6:7:8:9", None, "1:2:3:4:5:6:7:8:9", INV, "not a valid IPv6 address"),
        ("2001:db8::g", None, "2001:db8::g", INV, ""),
    ],
)
def test_ip_edge_cases(raw: str, type_, value: str, status: Status, reason: str) -> None:
    ind = classify(raw)
    assert (ind.type, ind.value, ind.status) == (type_, value, status), ind
    assert reason in ind.reason and ind.reason


# ---------------------------------------------------------------- domains
@pytest.mark.parametrize(
    ("raw", "value", "note"),
    [
        ("evil.com", "evil.com", ""),
        ("EVIL.Com", "evil.com", ""),
        ("evil.com.", "evil.com", ""),
        ("www.evil.com", "www.evil.com", ""),
        ("evil[.]com", "evil.com", "defanged"),
        ("sub.evil(.)co.uk", "sub.evil.co.uk", "defanged"),
        ("_dmarc.evil.com", "_dmarc.evil.com", ""),
        ("a-b.evil-1.com", "a-b.evil-1.com", ""),
        ("evil.com:8080", "evil.com", "port 8080 dropped"),
        ("a" * 63 + ".com", "a" * 63 + ".com", ""),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", ""),
        ("example.xn--p1ai", "example.xn--p1ai", ""),
        # IDNA 2008 + UTS 46
        ("bücher.example", "xn--bcher-kva.example", "IDN bücher.example encoded as punycode"),
        ("BÜCHER.example", "xn--bcher-kva.example", "punycode"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai", "punycode"),
        # decision: IDNA 2008 (non-transitional) keeps ß -> xn--fa-hia.de; IDNA 2003 would give fass.de
        ("faß.de", "xn--fa-hia.de", "punycode"),
        # IDNA 2008 rejects emoji; the IDNA 2003 fallback accepts it
        ("i❤.ws", "xn--i-7iq.ws", "IDNA 2003 rules"),
        # IDNA 2008 rejects '_' next to a Unicode label; handled label by label
        ("_dmarc.bücher.de", "_dmarc.xn--bcher-kva.de", "punycode"),
        ("evil。com", "evil.com", "normalised"),
        ("ｅｖｉｌ.com", "evil.com", "normalised"),
    ],
)
def test_domains(raw: str, value: str, note: str) -> None:
    check(classify(raw), T.DOMAIN, value, P, note=note)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("example", "not an IP address, domain, URL or hash"),
        ("a" * 64 + ".com", "domain label longer than 63 characters"),
        (".".join(["a" * 60] * 5) + ".com", "domain name longer than 253 characters"),
        ("-evil.com", "domain label starts or ends with a hyphen"),
        ("evil-.com", "hyphen"),
        ("evil..com", "empty label"),
        (".evil.com", "empty label"),
        ("evil.123", "top-level domain is all digits"),
        ("evil.c", "at least two letters"),
        ("evil.c0m", "top-level domain 'c0m' must be letters only"),
        ("evil.com:abc", "not an IP address, domain, URL or hash"),
        ("evi!l.com", "'!' is not allowed in a domain name"),
        ("invoice.exe", "looks like a file name (.exe), not a domain"),
        ("Electronic form.doc", "looks like a file name (.doc)"),
        ("0x7f000001", "not an IP address"),
    ],
)
def test_invalid_domains(raw: str, reason: str) -> None:
    check(classify(raw), None, raw, INV, reason=reason)


def test_wildcard_domain_is_unsupported() -> None:
    check(classify("*.Evil.com"), T.DOMAIN, "*.evil.com", UNS, reason="wildcard domains are not supported")


# ---------------------------------------------------------------- URLs
@pytest.mark.parametrize(
    ("raw", "value", "note"),
    [
        ("http://evil.com/a", "http://evil.com/a", ""),
        ("HTTPS://EVIL.COM/Path/File.PHP?Q=A&b=C#Frag", "https://evil.com/Path/File.PHP?Q=A&b=C#Frag", ""),
        ("http://User:PW@Evil.com:8080/x", "http://User:PW@evil.com:8080/x", ""),
        ("http://evil.com:0080/x", "http://evil.com:0080/x", ""),
        ("http://evil.com", "http://evil.com", ""),
        ("http://evil.com.:80/", "http://evil.com:80/", ""),
        ("http://evil.com/a?b=1,2;c=3", "http://evil.com/a?b=1,2;c=3", ""),
        ("http://evil.com/%7Euser/a%20b", "http://evil.com/%7Euser/a%20b", ""),
        ("http://evil.com/ünï", "http://evil.com/ünï", ""),
        ("hxxp://evil[.]com/a", "http://evil.com/a", "defanged"),
        ("hXXps[:]//evil[.]com/a", "https://evil.com/a", "defanged"),
        ("http://1.2.3.4:8080/bin.sh", "http://1.2.3.4:8080/bin.sh", ""),
        ("http://10.0.0.1/x", "http://10.0.0.1/x", "private address"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x", "documentation address"),
        ("http://bücher.example/Ä", "http://xn--bcher-kva.example/Ä", "punycode"),
        ("ftp://files.evil.com/a", "ftp://files.evil.com/a", ""),
        ("sftp://evil.com", "sftp://evil.com", ""),
        ("wss://evil.com/socket", "wss://evil.com/socket", ""),
        ("tcp://1.2.3.4:4444", "tcp://1.2.3.4:4444", ""),
        # backslash ends the host, as browsers read it
        ("http://evil.com\\@good.com/", "http://evil.com\\@good.com/", ""),
        # scheme-less with a path: a URL, http assumed
        ("evil.com/path", "http://evil.com/path", "no scheme; http:// assumed"),
        ("nation-news.com/4077017s/", "http://nation-news.com/4077017s/", "http:// assumed"),
        ("www.evil.com/x?y=1", "http://www.evil.com/x?y=1", "http:// assumed"),
        ("1.2.3.4:8080/bin.sh", "http://1.2.3.4:8080/bin.sh", "http:// assumed"),
        ("evil[.]com/a", "http://evil.com/a", "defanged; no scheme"),
    ],
)
def test_urls(raw: str, value: str, note: str) -> None:
    check(classify(raw), T.URL, value, P, note=note)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("file:///etc/passwd", "URL scheme 'file' is not supported"),
        ("javascript://alert(1)", "URL scheme 'javascript' is not supported"),
        ("gopher://evil.com/", "URL scheme 'gopher' is not supported"),
        ("http://localhost/", "URL host 'localhost' is not a valid domain or IP address"),
        ("http:///path", "URL has no host"),
        ("http://evil.com:99999/", "URL port '99999' is not a number from 0 to 65535"),
        ("http://evil.com:8o/", "URL port '8o'"),
        ("http://01.2.3.4/", "leading zeros"),
        ("http://evil..com/", "empty label"),
        ("http://evil.com/a b", "contains spaces"),
        ("C:/Windows/evil.exe", "not an IP address, domain, URL or hash"),
        ("/tmp/evil", "not an IP address, domain, URL or hash"),
    ],
)
def test_invalid_urls(raw: str, reason: str) -> None:
    check(classify(raw), None, raw, INV, reason=reason)


# ---------------------------------------------------------------- e-mails, junk
@pytest.mark.parametrize(
    ("raw", "value", "note"),
    [
        ("user@evil.com", "user@evil.com", ""),
        ("Linda@HouseCalls.com", "Linda@housecalls.com", ""),
        ("mailto:x@evil.com", "x@evil.com", ""),
        ("user[@]evil[.]com", "user@evil.com", "defanged"),
        ("user(at)evil(dot)com", "user@evil.com", "defanged"),
        ("first.last+tag@bücher.example", "first.last+tag@xn--bcher-kva.example", ""),
    ],
)
def test_emails_are_unsupported(raw: str, value: str, note: str) -> None:
    ind = classify(raw)
    assert (ind.type, ind.value, ind.status, ind.reason) == (
        None,
        value,
        UNS,
        "e-mail addresses are not supported",
    )
    assert note in ind.note


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        ("", "", "empty cell"),
        ("   \t ", "", "empty cell"),
        ("\u200b", "", "empty cell"),
        ('""', "", "empty cell"),
        ("None", "None", "not an IP address, domain, URL or hash"),
        ("N/A", "N/A", "not an IP address, domain, URL or hash"),
        ("-", "-", "not an IP address"),
        ("  12345 ", "12345", "not an IP address"),
        ("2023-02-02T16:28:28.000000+0000", "2023-02-02T16:28:28.000000+0000", "not an IP address"),
        ("evil.com foo", "evil.com foo", "contains spaces"),
        ("evil\x00.com", "evil\x00.com", "control or invisible characters"),
        ("evil\u200e.com", "evil\u200e.com", "control or invisible characters"),
        ("user@", "user@", "not an IP address"),
        ("@evil.com", "@evil.com", "not allowed in a domain name"),
    ],
)
def test_junk(raw: str, value: str, reason: str) -> None:
    check(classify(raw), None, value, INV, reason=reason)


def test_long_cell_is_capped() -> None:
    ind = classify("a" * (MAX_CELL + 1))
    assert (ind.type, ind.status) == (None, INV)
    assert ind.reason.startswith("cell too long")
    assert len(ind.value) < 300
    assert extract("a.com," * 2000) == (classify("a.com," * 2000),)


def test_invalid_value_is_stripped_raw_text() -> None:
    assert classify("  hxxp://x[.]y  ").value == "hxxp://x[.]y"
    assert classify(" 'evil.123' ").value == "'evil.123'"


def test_non_str_input_does_not_raise() -> None:
    assert classify(None).reason == "empty cell"  # type: ignore[arg-type]
    assert extract(None)[0].reason == "empty cell"  # type: ignore[arg-type]
    assert classify(12345).status is INV  # type: ignore[arg-type]


# ---------------------------------------------------------------- extract
def test_extract_empty_cell() -> None:
    assert extract("") == (Indicator(None, "", Status.INVALID, "empty cell"),)
    assert extract("  ") == (Indicator(None, "", Status.INVALID, "empty cell"),)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            f'"{SHA1},{SHA256},{MD5}"',
            [(T.SHA1, SHA1.lower()), (T.SHA256, SHA256.lower()), (T.MD5, MD5.lower())],
        ),
        (f"{SHA256}, {MD5}", [(T.SHA256, SHA256.lower()), (T.MD5, MD5.lower())]),
        (f"{SHA256}\n{MD5}", [(T.SHA256, SHA256.lower()), (T.MD5, MD5.lower())]),
        ("1.2.3.4;5.6.7.8", [(T.IPV4, "1.2.3.4"), (T.IPV4, "5.6.7.8")]),
        ("1.2.3.4 | evil.com", [(T.IPV4, "1.2.3.4"), (T.DOMAIN, "evil.com")]),
        ("a.com b.com\tc.com", [(T.DOMAIN, "a.com"), (T.DOMAIN, "b.com"), (T.DOMAIN, "c.com")]),
        ("evil[.]com, b[.]com", [(T.DOMAIN, "evil.com"), (T.DOMAIN, "b.com")]),
        ("evil [.] com, other [.] net", [(T.DOMAIN, "evil.com"), (T.DOMAIN, "other.net")]),
        ("http://a.com/x, http://b.com/y", [(T.URL, "http://a.com/x"), (T.URL, "http://b.com/y")]),
        ("a@b.com, c@d.com", [(None, "a@b.com"), (None, "c@d.com")]),
        ("evil.com,", [(T.DOMAIN, "evil.com")]),
        # never split a URL whose query holds separators
        ("http://evil.com/a?b=1,2;c=3|4", [(T.URL, "http://evil.com/a?b=1,2;c=3|4")]),
        ("http://evil.com/a?x=evil.net,b.com", [(T.URL, "http://evil.com/a?x=evil.net,b.com")]),
        ("evil.com", [(T.DOMAIN, "evil.com")]),
        ("evil [.] com", [(T.DOMAIN, "evil.com")]),
    ],
)
def test_extract_splits(cell: str, expected: list[tuple[IndicatorType | None, str]]) -> None:
    got = extract(cell)
    assert [(i.type, i.value) for i in got] == expected
    assert all(i.status is not INV for i in got)


@pytest.mark.parametrize(
    "cell", ["evil.com (C2)", "1.2.3.4, not-an-ioc", "a.com;;junk!", "Form - Jan 20, 2021.doc"]
)
def test_extract_does_not_split_when_a_part_is_junk(cell: str) -> None:
    got = extract(cell)
    assert len(got) == 1 and got[0].status is INV and got[0].value == cell


def test_extract_notes_defanged_parts() -> None:
    got = extract("evil[.]com, good.com")
    assert [i.note for i in got] == ["defanged", ""]


# ---------------------------------------------------------------- classify_as
@pytest.mark.parametrize(
    ("value", "declared", "type_", "norm", "status"),
    [
        ("1.2.3.4", T.IPV4, T.IPV4, "1.2.3.4", P),
        ("1.2.3.4/32", T.IPV4, T.IPV4, "1.2.3.4", P),
        ("223.166.0.0/15", T.IPV4, T.IPV4, "223.166.0.0/15", UNS),
        ("2001:DB8::1", T.IPV6, T.IPV6, "2001:db8::1", P),
        ("Evil.com", T.DOMAIN, T.DOMAIN, "evil.com", P),
        ("http://evil.com/a", T.URL, T.URL, "http://evil.com/a", P),
        (MD5, T.MD5, T.MD5, MD5.lower(), P),
        (SHA1, "sha1", T.SHA1, SHA1.lower(), P),
        (SHA256, T.SHA256, T.SHA256, SHA256.lower(), P),
    ],
)
def test_classify_as_accepts(value, declared, type_, norm, status) -> None:
    ind = classify_as(value, declared)
    assert (ind.type, ind.value, ind.status) == (type_, norm, status)


@pytest.mark.parametrize(
    ("value", "declared", "reason"),
    [
        (
            "evil.com",
            T.IPV4,
            "declared ipv4 but 'evil.com' is not an IPv4 address (it looks like a domain name)",
        ),
        (
            "01.2.3.4",
            T.IPV4,
            "declared ipv4 but '01.2.3.4' is not an IPv4 address: IPv4 address with leading zeros",
        ),
        ("1.2.3.4", T.IPV6, "declared ipv6 but '1.2.3.4' is not an IPv6 address"),
        (SHA1, T.MD5, f"declared md5 but '{SHA1}' is not an MD5 hash (it looks like a SHA-1 hash)"),
        ("evil.com", T.URL, "declared url but 'evil.com' is not a URL"),
        ("junk", T.DOMAIN, "declared domain but 'junk' is not a domain name"),
        ("x" * 200, T.DOMAIN, "..."),
    ],
)
def test_classify_as_rejects(value: str, declared: IndicatorType, reason: str) -> None:
    ind = classify_as(value, declared)
    assert (ind.type, ind.value, ind.status) == (None, value, INV)
    assert reason in ind.reason


# ---------------------------------------------------------------- real feeds (skipped when absent)
def _column(name: str, col: int) -> list[str]:
    path = FEEDS / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, skipinitialspace=True) if r and not r[0].startswith("#")]
    return [r[col] for r in rows[1:] if len(r) > col]


def test_feed_xegroup_multi_hash_cells() -> None:
    cells = _column("volexity_xegroup_indicators.csv", 0)
    multi = [extract(c) for c in cells if c.count(",") == 2]
    assert len(multi) == 52
    assert all([i.type for i in m] == [T.SHA1, T.SHA256, T.MD5] for m in multi)


@pytest.mark.parametrize(
    ("name", "col"),
    [
        ("sekoia_calisto_infrastructure_20221205.txt", 0),
        ("sekoia_pikabot_iocs_20240603.csv", 0),
        ("sekoia_raccoon_stealer_iocs_20220628.csv", 1),
        ("abusech_urlhaus_online.csv", 2),
        ("volexity_evilbamboo_iocs.csv", 0),
    ],
)
def test_feeds_classify_fully(name: str, col: int) -> None:
    cells = _column(name, col)
    assert cells
    bad = [(c, i.reason) for c in cells for i in extract(c) if i.status is not P]
    assert bad == []
