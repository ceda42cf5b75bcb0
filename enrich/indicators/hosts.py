"""Host validation and normalisation: IPv4/IPv6 forms and domain names (IDNA)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

import idna

from enrich.model import Indicator, IndicatorType, Status

_T = IndicatorType
PENDING, INVALID, UNSUPPORTED = Status.PENDING, Status.INVALID, Status.UNSUPPORTED
NOT_INDICATOR = "not an IP address, domain, URL or hash"
CIDR_REASON = "IP ranges (CIDR) are not supported; only single addresses"


# ---------------------------------------------------------------- helpers
def invalid(value: str, reason: str) -> Indicator:
    """An entry that is not an indicator."""
    return Indicator(None, value, INVALID, reason)


def with_note(ind: Indicator, note: str) -> Indicator:
    """`ind` with `note` put first in its notes (once)."""
    if not note or note in ind.note.split("; "):
        return ind
    return replace(ind, note=f"{note}; {ind.note}" if ind.note else note)


def port_error(port: str) -> str | None:
    """Why `port` is not a TCP/UDP port number, or None."""
    ok = DIGITS.fullmatch(port) is not None and len(port) <= 5 and int(port) <= 65535
    return None if ok else f"port '{port}' is not a number from 0 to 65535"


def join_notes(*notes: str) -> str:
    """Non-empty notes joined with '; '."""
    return "; ".join(n for n in notes if n)


# ---------------------------------------------------------------- IP addresses
DIGITS = re.compile(r"[0-9]+")
V4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
V4_CANONICAL = re.compile(rf"({_OCTET})\.{_OCTET}\.{_OCTET}\.{_OCTET}")  # no leading zeros, 0-255
V6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
_V4_SPECIAL_NETS = (  # checked in order: the first match names the address
    ("0.0.0.0/32", "unspecified address"),
    ("0.0.0.0/8", "reserved address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "shared address (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "reserved address"),
    ("192.0.2.0/24", "documentation address"),
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("255.255.255.255/32", "broadcast address"),
    ("240.0.0.0/4", "reserved address"),
)
_V4_SPECIAL = tuple(
    (int(n.network_address), int(n.broadcast_address), note)
    for n, note in ((ipaddress.IPv4Network(net), note) for net, note in _V4_SPECIAL_NETS)
)
V4_SPECIAL_FIRST = frozenset(i for lo, hi, _ in _V4_SPECIAL for i in range(lo >> 24, (hi >> 24) + 1))
_V6_DOC = ipaddress.IPv6Network("2001:db8::/32")
_V6_ULA = ipaddress.IPv6Network("fc00::/7")


def _v4_note(n: int) -> str:
    for lo, hi, note in _V4_SPECIAL:
        if lo <= n <= hi:
            return note
    return ""


def v4_fast(s: str) -> Indicator | None:
    """A canonical dotted quad (the common case), or None."""
    m = V4_CANONICAL.fullmatch(s)
    if m is None:
        return None
    first = int(m.group(1))
    if first not in V4_SPECIAL_FIRST:
        return Indicator(_T.IPV4, s, PENDING)
    _, b, c, d = s.split(".")  # canonical, so int(IPv4Address(s)) without its slower parser
    return Indicator(
        _T.IPV4, s, PENDING, note=_v4_note((first << 24) | (int(b) << 16) | (int(c) << 8) | int(d))
    )


def _v6_note(a: ipaddress.IPv6Address) -> str:
    # in order; each test only when the ones before are false (some are slow)
    if a.is_unspecified:
        return "unspecified address"
    if a.is_loopback:
        return "loopback address"
    if a.ipv4_mapped is not None:
        return "IPv4-mapped address"
    if a.is_link_local:
        return "link-local address"
    if a.is_multicast:
        return "multicast address"
    if a in _V6_DOC:
        return "documentation address"
    if a in _V6_ULA:
        return "private address"
    if a.is_site_local:
        return "site-local address"
    if a.is_reserved:
        return "reserved address"
    if not a.is_global:
        return "non-routable address"
    return ""


def v4_from_match(s: str, m: re.Match[str]) -> Indicator:
    """A dotted quad matched by V4: PENDING with a non-routable note, or INVALID (leading zeros, > 255)."""
    octets = m.groups()
    if any(len(o) > 1 and o[0] == "0" for o in octets):
        return invalid(s, "IPv4 address with leading zeros is ambiguous (octal or decimal?); remove them")
    if max(map(int, octets)) > 255:
        return invalid(s, "not an IPv4 address: each of the four numbers must be 0-255")
    return v4_fast(s) or invalid(s, NOT_INDICATOR)


def address(host: str) -> Indicator | None:
    """A bare IPv4/IPv6 address (PENDING), an IP-shaped error (INVALID), or None if not IP-shaped."""
    m = V4.fullmatch(host)
    if m:
        return v4_from_match(host, m)
    addr, pct, zone = host.partition("%")
    if addr.count(":") < 2 or not V6_CHARS.fullmatch(addr):
        return None
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return invalid(host, "not a valid IPv6 address")
    return Indicator(
        _T.IPV6, ip.compressed, PENDING, note=join_notes(_v6_note(ip), pct and f"zone %{zone} dropped")
    )


def ip_forms(s: str) -> Indicator | None:
    """IP forms: a.b.c.d, IPv6, /32 or /128 suffix, CIDR, ip:port, [v6], [v6]:port."""
    body, slash, plen = s.partition("/")
    if slash and not (DIGITS.fullmatch(plen) and len(plen) <= 3):
        return None
    port = None
    if body.startswith("["):
        host, close, after = body[1:].partition("]")
        if not close or (after and not after.startswith(":")):
            return None
        port = after[1:] if after else None
    elif body.count(":") == 1:
        host, _, port = body.partition(":")
    else:
        host = body
    ind = address(host)
    if ind is None or ind.status is INVALID:
        return ind if ind is None else invalid(s, ind.reason)
    if port is not None:
        err = port_error(port)
        if err:
            return invalid(s, err)
        ind = replace(ind, note=join_notes(ind.note, f"port {int(port)} dropped"))
    if slash:
        bits, prefix = (32 if ind.type is _T.IPV4 else 128), int(plen)
        if prefix > bits:
            return invalid(s, f"CIDR prefix /{prefix} is too long for an IPv{4 if bits == 32 else 6} address")
        if prefix != bits:
            net = ipaddress.ip_network(f"{ind.value}/{prefix}", strict=False)
            return Indicator(ind.type, net.with_prefixlen, UNSUPPORTED, CIDR_REASON)
    return ind


# ---------------------------------------------------------------- domains
DOMAIN_RE = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{0,58}[a-z0-9])"
)
_NOT_HOST_CHAR = re.compile(r"[^a-z0-9_.-]")
FILE_EXTS = frozenset(  # common file extensions that are not top-level domains
    "exe dll bat vbs vbe hta lnk scr sys tmp dat txt pdf doc docx docm xls xlsx xlsm ppt pptx rtf iso "  # noqa: SIM905
    "msi jar js jse wsf elf rar gz tar cab php jsp asp aspx htm html cpl ocx dmg img vhd chm ini log cfg "
    "json xml csv bz2 xz lib drv eml msg jpg jpeg png gif bmp ico svg avi wav db bin apk pkg".split()
)


def _to_ascii(d: str) -> tuple[str, str]:
    """IDN -> punycode (IDNA 2008 + UTS 46, falling back to IDNA 2003). Returns (ascii, note) or ("", reason)."""
    try:
        mapped = idna.uts46_remap(d, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        mapped = d
    labels, rules = [], ""
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
            rules = rules or "2008"
        except (idna.IDNAError, UnicodeError, ValueError):
            try:
                labels.append(label.encode("idna").decode("ascii"))
                rules = "2003"
            except (UnicodeError, ValueError):
                return "", f"domain label '{label[:63]}' is not a valid internationalised name"
    out = ".".join(labels)
    if rules == "2003":
        return out, f"IDN {d} encoded as punycode (IDNA 2003 rules)"
    return out, f"IDN {d} encoded as punycode" if rules else f"{d} normalised to {out}"


def _domain_reason(d: str) -> str:
    m = _NOT_HOST_CHAR.search(d)
    bad = None if m is None else m.group()
    if "." not in d.strip("."):
        return NOT_INDICATOR
    if bad is not None:
        return f"{NOT_INDICATOR} ({bad!r} is not allowed in a domain name)"
    labels = d.split(".")
    tld = labels[-1]
    if all(DIGITS.fullmatch(label) for label in labels if label):
        return "not an IPv4 address (needs exactly four numbers 0-255)"
    if "" in labels:
        return "empty label in domain name (two dots in a row or a leading dot)"
    if any(len(label) > 63 for label in labels):
        return "domain label longer than 63 characters"
    if len(d) > 253:
        return "domain name longer than 253 characters"
    if any(label[0] == "-" or label[-1] == "-" for label in labels):
        return "domain label starts or ends with a hyphen"
    if tld.isdigit():
        return "top-level domain is all digits"
    if len(tld) < 2:
        return "top-level domain must be at least two letters"
    return f"top-level domain '{tld}' must be letters only (or xn-- punycode)"


def domain(s: str) -> Indicator:
    """Validate and normalise a host name (no port, no path)."""
    d = s[:-1] if s.endswith(".") else s
    note = ""
    if d.isascii():
        d = d.lower()
    else:
        d, note = _to_ascii(d)
        if not d:
            return invalid(s, note)
    if len(d) <= 253 and DOMAIN_RE.fullmatch(d):
        tld = d[d.rfind(".") + 1 :]
        if tld in FILE_EXTS:
            return invalid(s, f"looks like a file name (.{tld}), not a domain")
        return Indicator(_T.DOMAIN, d, PENDING, note=note)
    return invalid(s, _domain_reason(d))


def host(text: str) -> Indicator:
    """A URL or e-mail host: IP address or domain."""
    if text.startswith("[") and text.endswith("]"):
        ind = address(text[1:-1])
        return (
            ind if ind is not None and ind.type is not _T.IPV4 else invalid(text, "not a valid IPv6 address")
        )
    return address(text) or domain(text)


def url_host(url: str) -> str:
    """The host of a normalised URL (already lower-cased and punycoded), without brackets or port."""
    rest = url.split("://", 1)[-1]
    for sep in "/?#\\":
        rest = rest.split(sep, 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.split(":", 1)[0].rstrip(".")


def is_ip_host(host: str) -> bool:
    """True for a host that is an IP address (as `url_host` gives it), False for a name."""
    return ":" in host or (host.replace(".", "").isdigit() and host.count(".") == 3)
