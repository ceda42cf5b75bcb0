"""Values written into KQL: validated against their type's grammar, then quoted with KQL's escaping.

No value can change a query's structure: `canonical` accepts only a value that enrich's own
classifier reads back as the family's type, unchanged (normalised), and `kql_string` writes any
text as one double-quoted KQL string literal, escaping the backslash, the double quote and the
line breaks KQL documents (`\\\\`, `\\"`, `\\n`, `\\r`, `\\t`); a character KQL has no documented
escape for (other control characters, lone surrogates) is refused rather than written raw.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from enrich.errors import EnrichError
from enrich.indicators import classify
from enrich.model import IndicatorType, Status

_T = IndicatorType
# The indicator types each hunting family takes.
FAMILY_TYPES: dict[str, frozenset[IndicatorType]] = {
    "files": frozenset({_T.MD5, _T.SHA1, _T.SHA256}),
    "ips": frozenset({_T.IPV4, _T.IPV6}),
    "domains": frozenset({_T.DOMAIN}),
    "urls": frozenset({_T.URL}),
}
_WHAT = {
    "files": "an MD5, SHA-1 or SHA-256 hash",
    "ips": "an IP address",
    "domains": "a domain name",
    "urls": "a URL",
}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class UnsafeValue(EnrichError, ValueError):
    """A value that cannot be asked by hunting: not of the family's grammar, or not writable in KQL.

    An EnrichError (the run stops with this message, exit code 1): enrich only hands hunting the
    values its classifier normalised, so this is never a user's row but a fault to report.
    """


def kql_string(text: str) -> str:
    """`text` as a double-quoted KQL string literal; UnsafeValue for characters KQL cannot escape."""
    out = ['"']
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
            continue
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs" or char in "\u2028\u2029":
            raise UnsafeValue(
                f"{text[:80]!r} holds the character U+{ord(char):04X}, which a KQL string literal cannot carry"
            )
        out.append(char)
    out.append('"')
    return "".join(out)


def dynamic_list(values: Iterable[str]) -> str:
    """`dynamic(["a", "b"])`: a KQL dynamic array of string literals."""
    return "dynamic([" + ", ".join(kql_string(value) for value in values) + "])"


def canonical(family: str, value: str) -> str:
    """`value` when it is a normalised value of `family` (as enrich normalises it); UnsafeValue otherwise."""
    types = FAMILY_TYPES.get(family)
    if types is None:
        raise UnsafeValue(f"hunting answers {', '.join(FAMILY_TYPES)}; not {family!r}")
    if not isinstance(value, str):
        raise UnsafeValue(f"a {family} value must be text; got {type(value).__name__}")
    ind = classify(value)
    if ind.status is not Status.PENDING or ind.type not in types:
        reason = f" ({ind.reason})" if ind.reason else ""
        raise UnsafeValue(f"{value[:200]!r} is not {_WHAT[family]}{reason}")
    if ind.value != value:
        raise UnsafeValue(f"{value[:200]!r} is not normalised; enrich writes it as {ind.value[:200]!r}")
    kql_string(value)  # a value the classifier accepts is always writable; checked all the same
    return value


def canonical_values(family: str, values: Sequence[str]) -> tuple[str, ...]:
    """The distinct values in order, each checked by `canonical`; UnsafeValue naming the first bad ones."""
    seen: dict[str, None] = {}
    problems: list[str] = []
    for value in values:
        try:
            seen.setdefault(canonical(family, value), None)
        except UnsafeValue as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnsafeValue(f"cannot hunt these {family} values: " + "; ".join(problems[:3]) + more)
    return tuple(seen)
