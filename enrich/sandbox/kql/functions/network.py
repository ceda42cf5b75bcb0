"""IP address functions: IPv4 parsing, ranges, comparison, private ranges, IPv6 comparison, IPs in text."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from enrich.sandbox.kql.functions.registry import DYNAMIC, INTEGER, STRING, register

_IPV4_RE = re.compile(r"\s*(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\s*/\s*(\d{1,2}))?\s*", re.ASCII)
# An IPv4 address standing alone in text: not preceded or followed by a digit, letter or dot-digit.
_IPV4_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![0-9A-Za-z]|\.\d)", re.ASCII
)
_PRIVATE = (
    (0x0A000000, 8),  # 10.0.0.0/8
    (0xAC100000, 12),  # 172.16.0.0/12
    (0xC0A80000, 16),  # 192.168.0.0/16
)


def _mask(prefix: int, bits: int = 32) -> int:
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


@lru_cache(maxsize=65536)
def parse_ipv4_prefix(text: str) -> tuple[int, int] | None:
    """(address as an int, prefix length) of ``a.b.c.d[/n]``, or None."""
    m = _IPV4_RE.fullmatch(text)
    if m is None:
        return None
    octets = [int(g) for g in m.groups()[:4]]
    if any(o > 255 for o in octets):
        return None
    prefix = 32 if m.group(5) is None else int(m.group(5))
    if prefix > 32:
        return None
    return (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3], prefix


def _ipv4(value: object) -> tuple[int, int] | None:
    return parse_ipv4_prefix(value) if isinstance(value, str) else None


def _prefix(value: object, default: int, limit: int) -> int | None:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit:
        return value
    return None


def _format_ipv4(address: int) -> str:
    return ".".join(str((address >> shift) & 255) for shift in (24, 16, 8, 0))


def parse_ipv4(ctx: object, ip: object) -> int | None:
    parsed = _ipv4(ip)
    return None if parsed is None else parsed[0] & _mask(parsed[1])


def parse_ipv4_mask(ctx: object, ip: object, prefix: object) -> int | None:
    parsed, bits = _ipv4(ip), _prefix(prefix, 32, 32)
    if parsed is None or bits is None:
        return None
    return parsed[0] & _mask(min(bits, parsed[1]))


def format_ipv4(ctx: object, ip: object, prefix: object = None) -> str:
    bits = _prefix(prefix, 32, 32)
    if isinstance(ip, int) and not isinstance(ip, bool):
        parsed: tuple[int, int] | None = (ip, 32) if 0 <= ip <= 0xFFFFFFFF else None
    else:
        parsed = _ipv4(ip)
    if parsed is None or bits is None:
        return ""
    return _format_ipv4(parsed[0] & _mask(min(bits, parsed[1])))


def format_ipv4_mask(ctx: object, ip: object, prefix: object = None) -> str:
    parsed, bits = _ipv4(ip), _prefix(prefix, 32, 32)
    if parsed is None or bits is None:
        return ""
    size = min(bits, parsed[1])
    return f"{_format_ipv4(parsed[0] & _mask(size))}/{size}"


def ipv4_compare(ctx: object, a: object, b: object, prefix: object = None) -> int | None:
    pa, pb, bits = _ipv4(a), _ipv4(b), _prefix(prefix, 32, 32)
    if pa is None or pb is None or bits is None:
        return None
    mask = _mask(min(bits, pa[1], pb[1]))
    x, y = pa[0] & mask, pb[0] & mask
    return (x > y) - (x < y)


def ipv4_is_match(ctx: object, a: object, b: object, prefix: object = None) -> bool | None:
    compared = ipv4_compare(ctx, a, b, prefix)
    return None if compared is None else compared == 0


def ipv4_is_in_range(ctx: object, ip: object, range_: object) -> bool | None:
    address, network = _ipv4(ip), _ipv4(range_)
    if address is None or network is None:
        return None
    mask = _mask(network[1])
    return address[0] & mask == network[0] & mask


def ipv4_is_in_any_range(ctx: object, ip: object, *ranges: object) -> bool | None:
    address = _ipv4(ip)
    if address is None:
        return None
    flat: list[object] = []
    for r in ranges:
        flat.extend(r if isinstance(r, list) else [r])
    for r in flat:
        network = _ipv4(r)
        if network is not None and address[0] & _mask(network[1]) == network[0] & _mask(network[1]):
            return True
    return False


def ipv4_is_private(ctx: object, ip: object) -> bool | None:
    parsed = _ipv4(ip)
    if parsed is None:
        return None
    address, prefix = parsed
    return any(prefix >= size and address & _mask(size) == net for net, size in _PRIVATE)


def ipv4_netmask_suffix(ctx: object, ip: object) -> int | None:
    parsed = _ipv4(ip)
    return None if parsed is None else parsed[1]


@lru_cache(maxsize=65536)
def parse_ipv6_prefix(text: str) -> tuple[int, int] | None:
    """(128-bit address, prefix) of an IPv6 or IPv4 address (IPv4 maps to ::ffff:a.b.c.d), or None."""
    v4 = parse_ipv4_prefix(text)
    if v4 is not None:
        return 0xFFFF00000000 | v4[0], 96 + v4[1]
    address, _, suffix = text.strip().partition("/")
    try:
        parsed = ipaddress.IPv6Address(address.strip())
    except ValueError:
        return None
    if suffix:
        if not suffix.strip().isdigit() or int(suffix) > 128:
            return None
        return int(parsed), int(suffix)
    return int(parsed), 128


def ipv6_compare(ctx: object, a: object, b: object, prefix: object = None) -> int | None:
    pa = parse_ipv6_prefix(a) if isinstance(a, str) else None
    pb = parse_ipv6_prefix(b) if isinstance(b, str) else None
    bits = _prefix(prefix, 128, 128)
    if pa is None or pb is None or bits is None:
        return None
    mask = _mask(min(bits, pa[1], pb[1]), 128)
    x, y = pa[0] & mask, pb[0] & mask
    return (x > y) - (x < y)


def ipv6_is_match(ctx: object, a: object, b: object, prefix: object = None) -> bool | None:
    compared = ipv6_compare(ctx, a, b, prefix)
    return None if compared is None else compared == 0


def _ips_in_text(text: str) -> list[int]:
    found = []
    for m in _IPV4_IN_TEXT.finditer(text):
        parsed = parse_ipv4_prefix(m.group(1))
        if parsed is not None:
            found.append(parsed[0])
    return found


def has_ipv4(ctx: object, source: object, ip: object) -> bool | None:
    wanted = _ipv4(ip)
    if wanted is None or wanted[1] != 32:
        return False  # Kusto: true only for a valid address found in the text
    return isinstance(source, str) and wanted[0] in _ips_in_text(source)


def has_ipv4_prefix(ctx: object, source: object, prefix: object) -> bool | None:
    if not isinstance(prefix, str) or not re.fullmatch(r"\d{1,3}(\.\d{1,3}){0,3}\.?", prefix):
        return None
    head = prefix if prefix.endswith(".") or prefix.count(".") == 3 else prefix + "."
    if not isinstance(source, str):
        return False
    return any(_format_ipv4(a).startswith(head) or _format_ipv4(a) == prefix for a in _ips_in_text(source))


def has_any_ipv4(ctx: object, source: object, *ips: object) -> bool | None:
    wanted: set[int] = set()
    for item in ips:
        for ip in item if isinstance(item, list) else [item]:
            parsed = _ipv4(ip)
            if parsed is not None and parsed[1] == 32:
                wanted.add(parsed[0])
    if not isinstance(source, str):
        return False
    return any(a in wanted for a in _ips_in_text(source))


S, N = STRING, INTEGER
register(
    "parse_ipv4",
    parse_ipv4,
    [S],
    "long",
    signature="parse_ipv4(ip) -> long",
    summary="IPv4 address (a CIDR suffix masks it) as a number; null when invalid.",
)
register(
    "parse_ipv4_mask",
    parse_ipv4_mask,
    [S, N],
    "long",
    signature="parse_ipv4_mask(ip, prefix) -> long",
    summary="IPv4 address masked to prefix bits, as a number.",
)
register(
    "format_ipv4",
    format_ipv4,
    [S | N, N],
    "string",
    min_args=1,
    signature="format_ipv4(ip[, prefix]) -> string",
    summary="Dotted form of an IPv4 address (text or number) masked to prefix bits.",
)
register(
    "format_ipv4_mask",
    format_ipv4_mask,
    [S, N],
    "string",
    min_args=1,
    signature="format_ipv4_mask(ip[, prefix]) -> string",
    summary="a.b.c.d/n CIDR form of an IPv4 address masked to prefix bits.",
)
register(
    "ipv4_compare",
    ipv4_compare,
    [S, S, N],
    "long",
    min_args=2,
    signature="ipv4_compare(ip1, ip2[, prefix]) -> long",
    summary="-1, 0 or 1 comparing two IPv4 addresses on their first prefix bits (and any CIDR suffixes); null when invalid.",
)
register(
    "ipv4_is_match",
    ipv4_is_match,
    [S, S, N],
    "bool",
    min_args=2,
    signature="ipv4_is_match(ip1, ip2[, prefix]) -> bool",
    summary="True when two IPv4 addresses match on their first prefix bits (and any CIDR suffixes).",
)
register(
    "ipv4_is_in_range",
    ipv4_is_in_range,
    [S, S],
    "bool",
    signature="ipv4_is_in_range(ip, range) -> bool",
    summary="True when ip lies in the CIDR range (or equals a plain address); null when either is invalid.",
)
register(
    "ipv4_is_in_any_range",
    ipv4_is_in_any_range,
    [S, S | DYNAMIC],
    "bool",
    rest=S,
    signature="ipv4_is_in_any_range(ip, range1, ...) -> bool",
    summary="True when ip lies in any of the ranges (arguments or one dynamic array).",
)
register(
    "ipv4_is_private",
    ipv4_is_private,
    [S],
    "bool",
    signature="ipv4_is_private(ip) -> bool",
    summary="True when ip (or the whole CIDR range) lies in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.",
)
register(
    "ipv4_netmask_suffix",
    ipv4_netmask_suffix,
    [S],
    "int",
    signature="ipv4_netmask_suffix(ip) -> int",
    summary="The CIDR suffix of an IPv4 address (32 when absent).",
)
register(
    "ipv6_compare",
    ipv6_compare,
    [S, S, N],
    "long",
    min_args=2,
    signature="ipv6_compare(ip1, ip2[, prefix]) -> long",
    summary="-1, 0 or 1 comparing two IPv6 (or IPv4) addresses on their first prefix bits.",
)
register(
    "ipv6_is_match",
    ipv6_is_match,
    [S, S, N],
    "bool",
    min_args=2,
    signature="ipv6_is_match(ip1, ip2[, prefix]) -> bool",
    summary="True when two IPv6 (or IPv4) addresses match on their first prefix bits.",
)
register(
    "has_ipv4",
    has_ipv4,
    [S, S],
    "bool",
    signature="has_ipv4(text, ip) -> bool",
    summary="True when ip occurs in text as a whole IPv4 address.",
)
register(
    "has_ipv4_prefix",
    has_ipv4_prefix,
    [S, S],
    "bool",
    signature="has_ipv4_prefix(text, prefix) -> bool",
    summary="True when an IPv4 address in text starts with prefix (whole octets).",
)
register(
    "has_any_ipv4",
    has_any_ipv4,
    [S, S | DYNAMIC],
    "bool",
    rest=S,
    signature="has_any_ipv4(text, ip1, ...) -> bool",
    summary="True when any of the addresses (arguments or one dynamic array) occurs in text as a whole IPv4 address.",
)


def ipv6_is_in_range(ctx: object, ip: object, range_: object) -> bool | None:
    address = parse_ipv6_prefix(ip) if isinstance(ip, str) else None
    network = parse_ipv6_prefix(range_) if isinstance(range_, str) else None
    if address is None or network is None:
        return None
    mask = _mask(network[1], 128)
    return address[0] & mask == network[0] & mask


def parse_ipv6(ctx: object, ip: object) -> str:
    """Canonical IPv6 form (eight zero-padded groups, masked to a CIDR suffix); "" when invalid."""
    parsed = parse_ipv6_prefix(ip) if isinstance(ip, str) else None
    if parsed is None:
        return ""
    value = parsed[0] & _mask(parsed[1], 128)
    return ":".join(f"{(value >> shift) & 0xFFFF:04x}" for shift in range(112, -1, -16))


register(
    "ipv6_is_in_range",
    ipv6_is_in_range,
    [S, S],
    "bool",
    signature="ipv6_is_in_range(ip, range) -> bool",
    summary="True when an IPv6 (or IPv4) address lies in the IPv6 prefix range.",
)
register(
    "parse_ipv6",
    parse_ipv6,
    [S],
    "string",
    signature="parse_ipv6(ip) -> string",
    summary="Canonical eight-group form of an IPv6 (or IPv4-mapped) address, masked to its CIDR suffix.",
)
