"""STIX patterns: parse them and turn every comparison into a classified indicator.

A regex fast path takes the common single-comparison form (`[ipv4-addr:value = '1.2.3.4']`,
`[file:hashes.'SHA-256' = '...']`) without the ANTLR parser. Everything else goes through the
`stix2patterns` parser (the one `stix2` itself uses), walked with our own listener: stix2's
pattern AST is not used because it drops `NOT` on IN/LIKE/MATCHES/ISSUBSET and rejects an AND
across object types, and `inspect()` loses which comparisons are ANDed.

`extract(pattern, version)` returns one `Atom` per comparison (an IN list gives one per value),
never an empty tuple: an unparseable pattern gives one INVALID atom.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from enrich.indicators import classify, classify_as
from enrich.model import Indicator, IndicatorType, Status

LOOKUP_HELP = "only IP address, domain, URL and file hash (MD5, SHA-1, SHA-256) values can be looked up"

_VALUE_TYPES = {
    "ipv4-addr": IndicatorType.IPV4,
    "ipv6-addr": IndicatorType.IPV6,
    "domain-name": IndicatorType.DOMAIN,
    "url": IndicatorType.URL,
}
_HASH_TYPES = {"MD5": IndicatorType.MD5, "SHA1": IndicatorType.SHA1, "SHA256": IndicatorType.SHA256}
_HOST_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.DOMAIN})
_IP_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6})
# Object paths whose value is an address or host name of unstated type (classified by value).
_REF_VALUE_PATHS = {
    ("network-traffic", ("dst_ref", "value")),
    ("network-traffic", ("src_ref", "value")),
    ("domain-name", ("resolves_to_refs", "[*]", "value")),
}

_UNESCAPE = re.compile(r"\\(['\\])")
# A string literal (the only escapes are \' and \\), as an unrolled loop: `[^'\\]*` runs at C
# speed, where `(?:[^'\\]|\\['\\])*` tries an alternation per character (3-4x slower on a hash).
_STR = r"'([^'\\]*(?:\\['\\][^'\\]*)*)'"
_WS = r"[ \t\r\n\f\v]*"
_FAST_VALUE = re.compile(
    rf"^{_WS}\[{_WS}(ipv4-addr|ipv6-addr|domain-name|url|email-addr):value{_WS}={_WS}{_STR}{_WS}\]{_WS}$"
)
_FAST_HASH = re.compile(
    rf"^{_WS}\[{_WS}file:hashes\.(?:{_STR}|([A-Za-z_][A-Za-z0-9_]*)){_WS}={_WS}{_STR}{_WS}\]{_WS}$"
)
# Words the pattern lexer reads as keywords, so they cannot be bare path steps.
_KEYWORDS = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "WITHIN",
        "REPEATS",
        "TIMES",
        "true",
        "false",
    ]
)
_MAX_MESSAGE = 160


class PatternError(ValueError):
    """A pattern the STIX pattern grammar rejects (message is short and one line)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """One comparison of a pattern, e.g. `file:hashes.'SHA-256' = '...'`."""

    object_type: str
    steps: tuple[str, ...]  # property names, unquoted; list indexes as "[*]" or "[0]"
    path: str  # the object path as written, without spaces: file:hashes.'SHA-256'
    operator: str  # = != IN LIKE MATCHES ISSUBSET ISSUPERSET > < >= <= EXISTS
    negated: bool  # NOT in front of the operator, or !=
    values: tuple[str, ...]  # unescaped string contents; other literals as written
    observation: int  # index of the [...] observation it belongs to


@dataclass(frozen=True, slots=True)
class ParsedPattern:
    comparisons: tuple[Comparison, ...]
    features: tuple[str, ...]  # "OR", "AND", "FOLLOWEDBY", "WITHIN 300 SECONDS", ...
    and_groups: tuple[tuple[int, int], ...] = ()  # comparisons[start:end] joined by AND inside [...]


@dataclass(frozen=True, slots=True)
class Atom:
    """One extracted entry: the object path, the value as written and its classification."""

    path: str
    value: str
    indicator: Indicator


def unescape(literal: str) -> str:
    """Undo the two escapes a STIX string literal allows: \\' and \\\\."""
    return _UNESCAPE.sub(r"\1", literal)


def _literal(text: str) -> str:
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return unescape(text[1:-1])
    return text


class _Collector:
    """Parse-tree listener collecting comparisons and compound features (both grammar versions)."""

    def __init__(self) -> None:
        self.comparisons: list[Comparison] = []
        self.features: list[str] = []
        self.and_groups: list[tuple[int, int]] = []
        self._and_starts: list[int] = []
        self._observation = -1
        self._type = ""
        self._steps: list[str] = []

    # The walker calls these for every node; nothing to do.
    def visitTerminal(self, node) -> None:  # noqa: N802
        pass

    def visitErrorNode(self, node) -> None:  # noqa: N802
        pass

    def enterEveryRule(self, ctx) -> None:  # noqa: N802
        pass

    def exitEveryRule(self, ctx) -> None:  # noqa: N802
        pass

    def _feature(self, name: str) -> None:
        if name not in self.features:
            self.features.append(name)

    def enterObservationExpressionSimple(self, ctx) -> None:  # noqa: N802
        self._observation += 1

    def exitObservationExpressions(self, ctx) -> None:  # noqa: N802
        if ctx.FOLLOWEDBY():
            self._feature("FOLLOWEDBY")

    def exitObservationExpressionOr(self, ctx) -> None:  # noqa: N802
        if ctx.OR():
            self._feature("OR")

    def exitObservationExpressionAnd(self, ctx) -> None:  # noqa: N802
        if ctx.AND():
            self._feature("AND")

    def exitComparisonExpression(self, ctx) -> None:  # noqa: N802
        if ctx.OR():
            self._feature("OR")

    def enterComparisonExpressionAnd(self, ctx) -> None:  # noqa: N802
        self._and_starts.append(len(self.comparisons))

    def exitComparisonExpressionAnd(self, ctx) -> None:  # noqa: N802
        start = self._and_starts.pop()
        if ctx.AND():
            self.and_groups.append((start, len(self.comparisons)))

    def exitWithinQualifier(self, ctx) -> None:  # noqa: N802
        self._feature(f"WITHIN {ctx.getChild(1).getText()} SECONDS")

    def exitRepeatedQualifier(self, ctx) -> None:  # noqa: N802
        self._feature(f"REPEATS {ctx.getChild(1).getText()} TIMES")

    def exitStartStopQualifier(self, ctx) -> None:  # noqa: N802
        self._feature("START/STOP")

    def exitObjectType(self, ctx) -> None:  # noqa: N802
        self._type = ctx.getText()

    def exitFirstPathComponent(self, ctx) -> None:  # noqa: N802
        self._steps = [_literal(ctx.getText())]

    def exitKeyPathStep(self, ctx) -> None:  # noqa: N802
        self._steps.append(_literal(ctx.getChild(1).getText()))

    def exitIndexPathStep(self, ctx) -> None:  # noqa: N802
        self._steps.append(ctx.getText())

    def _add(self, ctx, operator: str, values: list[str], negated: bool = False) -> None:
        negated = negated or ctx.NOT() is not None
        self.comparisons.append(
            Comparison(
                object_type=self._type,
                steps=tuple(self._steps),
                path=ctx.objectPath().getText(),
                operator=operator,
                negated=negated,
                values=tuple(values),
                observation=self._observation,
            )
        )

    def exitPropTestEqual(self, ctx) -> None:  # noqa: N802
        operator = "!=" if ctx.NEQ() else "="
        self._add(ctx, operator, [_literal(ctx.primitiveLiteral().getText())], negated=operator == "!=")

    def exitPropTestOrder(self, ctx) -> None:  # noqa: N802
        self._add(ctx, ctx.getChild(2 if ctx.NOT() else 1).getText(), [ctx.orderableLiteral().getText()])

    def exitPropTestSet(self, ctx) -> None:  # noqa: N802
        literals = ctx.setLiteral().primitiveLiteral()
        self._add(ctx, "IN", [_literal(lit.getText()) for lit in literals])

    def exitPropTestLike(self, ctx) -> None:  # noqa: N802
        self._add(ctx, "LIKE", [_literal(ctx.StringLiteral().getText())])

    def exitPropTestRegex(self, ctx) -> None:  # noqa: N802
        self._add(ctx, "MATCHES", [_literal(ctx.StringLiteral().getText())])

    def exitPropTestIsSubset(self, ctx) -> None:  # noqa: N802
        self._add(ctx, "ISSUBSET", [_literal(ctx.StringLiteral().getText())])

    def exitPropTestIsSuperset(self, ctx) -> None:  # noqa: N802
        self._add(ctx, "ISSUPERSET", [_literal(ctx.StringLiteral().getText())])

    def exitPropTestExists(self, ctx) -> None:  # noqa: N802
        self._add(ctx, "EXISTS", [])


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _parse_tree(pattern: str, version: str):
    from stix2patterns.v20.pattern import Pattern as Pattern20
    from stix2patterns.v21.pattern import Pattern as Pattern21

    first, second = (Pattern20, Pattern21) if version == "2.0" else (Pattern21, Pattern20)
    try:
        return first(pattern)
    except Exception as exc:  # ParseException, or a lexer/recursion failure on odd input
        try:  # a 2.0 file may carry 2.1 syntax (t'...'), or the reverse
            return second(pattern)
        except Exception:
            raise PatternError(_shorten(str(exc) or type(exc).__name__)) from None


_VALUE_STEPS = ("value",)


def _fast_parts(pattern: str) -> tuple[str, tuple[str, ...], str, str] | None:
    """(object type, steps, path, value unescaped) of a single-comparison `=` pattern, else None."""
    m = _FAST_VALUE.match(pattern)
    if m:
        object_type, raw = m[1], m[2]
        return object_type, _VALUE_STEPS, f"{object_type}:value", unescape(raw) if "\\" in raw else raw
    m = _FAST_HASH.match(pattern)
    if not m or (m[2] is not None and m[2] in _KEYWORDS):
        return None
    name = m[2] if m[1] is None else unescape(m[1]) if "\\" in m[1] else m[1]
    path = f"file:hashes.'{m[1]}'" if m[1] is not None else f"file:hashes.{m[2]}"
    raw = m[3]
    return "file", ("hashes", name), path, unescape(raw) if "\\" in raw else raw


def _fast(pattern: str) -> ParsedPattern | None:
    parts = _fast_parts(pattern)
    if parts is None:
        return None
    object_type, steps, path, value = parts
    return ParsedPattern((Comparison(object_type, steps, path, "=", False, (value,), 0),), ())


def parse_pattern(pattern: str, version: str = "2.1") -> ParsedPattern:
    """Parse a STIX pattern into its comparisons; raises PatternError when it does not parse."""
    fast = _fast(pattern)
    if fast is not None:
        return fast
    tree = _parse_tree(pattern, version)
    collector = _Collector()
    try:
        tree.walk(collector)
    except RecursionError:
        raise PatternError("pattern is nested too deeply") from None
    return ParsedPattern(tuple(collector.comparisons), tuple(collector.features), tuple(collector.and_groups))


def unsupported(value: str, reason: str) -> Indicator:
    return Indicator(type=None, value=value.strip(), status=Status.UNSUPPORTED, reason=reason)


def invalid(value: str, reason: str) -> Indicator:
    return Indicator(type=None, value=value.strip(), status=Status.INVALID, reason=reason)


def _host(value: str, declared: IndicatorType | None) -> Indicator:
    """An address or host name: the declared type when known, else whichever it is."""
    if declared is not None:
        return classify_as(value, declared)
    found = classify(value)
    if found.status is Status.PENDING and found.type not in _HOST_TYPES:
        return invalid(value, f"'{value}' is not an IP address or domain name")
    return found


def hash_type(algorithm: str) -> IndicatorType | None:
    """MD5 / SHA-1 / SHA-256 in any spelling (SHA256, sha-256, 'SHA-256'), else None."""
    return _HASH_TYPES.get(algorithm.upper().replace("-", "").replace("_", ""))


def classify_path(
    object_type: str, steps: tuple[str, ...], path: str, value: str, ref_type: str = ""
) -> Indicator:
    """Classify a value found at an object path (`=` semantics). `ref_type` is a sibling `*_ref.type`."""
    if steps == ("value",) and object_type in _VALUE_TYPES:
        return classify_as(value, _VALUE_TYPES[object_type])
    if object_type == "file" and len(steps) == 2 and steps[0] == "hashes":
        kind = hash_type(steps[1])
        if kind is None:
            return unsupported(
                value, f"hash algorithm {steps[1]} cannot be looked up; only MD5, SHA-1 and SHA-256 can"
            )
        return classify_as(value, kind)
    if (object_type, tuple("[*]" if s[:1] == "[" else s for s in steps)) in _REF_VALUE_PATHS:
        if ref_type and ref_type not in _VALUE_TYPES:
            return unsupported(value, f"{path} of type {ref_type}: {LOOKUP_HELP}")
        return _host(value, _VALUE_TYPES.get(ref_type))
    if object_type == "email-addr":
        return unsupported(value, "email addresses cannot be looked up in MDE")
    return unsupported(value, f"{path}: {LOOKUP_HELP}")


def _ref_types(parsed: ParsedPattern) -> dict[tuple[int, str, tuple[str, ...]], tuple[int, str]]:
    """`x:y_ref.type = 'T'` comparisons that qualify a sibling `x:y_ref.value` in the same observation.

    Keyed by (observation, object type, steps of the value path) -> (comparison index, 'T').
    """
    values = {(c.observation, c.object_type, c.steps) for c in parsed.comparisons}
    found: dict[tuple[int, str, tuple[str, ...]], tuple[int, str]] = {}
    for index, c in enumerate(parsed.comparisons):
        if len(c.steps) == 2 and c.steps[1] == "type" and c.operator == "=" and not c.negated:
            key = (c.observation, c.object_type, (c.steps[0], "value"))
            if key in values:
                found[key] = (index, c.values[0])
    return found


def _atoms_of(c: Comparison, ref_type: str) -> list[Atom]:
    if c.negated:
        op = "!=" if c.operator == "!=" else f"NOT {c.operator}"
        return [
            Atom(c.path, v, unsupported(v, f"a negated comparison ({op}) cannot be looked up"))
            for v in c.values
        ]
    if c.operator in ("=", "IN"):
        return [Atom(c.path, v, classify_path(c.object_type, c.steps, c.path, v, ref_type)) for v in c.values]
    if c.operator == "ISSUBSET":
        value = c.values[0]
        found = classify_path(c.object_type, c.steps, c.path, value, ref_type)
        if found.status is not Status.PENDING or found.type not in _IP_TYPES:
            found = unsupported(
                value, f"ISSUBSET '{value}' is an address range; only single addresses can be looked up"
            )
        return [Atom(c.path, value, found)]
    reason = f"operator {c.operator} cannot be looked up; only '=' and IN can"
    return [Atom(c.path, v, unsupported(v, reason)) for v in c.values or [""]]


def _compound_note(parsed: ParsedPattern, hints: set[int]) -> str:
    """Say which conditions of the pattern a single looked-up value does not check."""
    features = [f for f in parsed.features if f != "OR"]
    # An AND of a *_ref.type hint and its *_ref.value is one condition, not a conjunction.
    if any(sum(1 for i in range(start, end) if i not in hints) > 1 for start, end in parsed.and_groups):
        features.insert(0, "AND")
    features = list(dict.fromkeys(features))
    if not features:
        return ""
    return f"the pattern also requires conditions not checked here ({', '.join(features)})"


def _with_note(indicator: Indicator, note: str) -> Indicator:
    if not note or indicator.status is not Status.PENDING:
        return indicator
    return dataclasses.replace(indicator, note="; ".join(n for n in (indicator.note, note) if n))


@functools.lru_cache(maxsize=1 << 18)
def extract(pattern: str, version: str = "2.1") -> tuple[Atom, ...]:
    """Every comparison of a STIX pattern as classified atoms; at least one atom."""
    fast = _fast_parts(pattern)
    if fast is not None:  # the common single comparison: no features, no type hints, no note
        object_type, steps, path, value = fast
        return (Atom(path, value, classify_path(object_type, steps, path, value)),)
    try:
        parsed = parse_pattern(pattern, version)
    except PatternError as exc:
        return (Atom("", "", invalid("", f"pattern cannot be parsed: {exc}")),)
    ref_types = _ref_types(parsed)
    hints = {index for index, _ in ref_types.values()}  # type hints are not entries of their own
    atoms: list[Atom] = []
    for index, c in enumerate(parsed.comparisons):
        if index not in hints:
            ref_type = ref_types.get((c.observation, c.object_type, c.steps), (0, ""))[1]
            atoms.extend(_atoms_of(c, ref_type))
    note = _compound_note(parsed, hints)
    atoms = [Atom(a.path, a.value, _with_note(a.indicator, note)) for a in atoms]
    if not atoms:  # e.g. a lone [network-traffic:dst_ref.type = 'ipv4-addr']
        reason = f"the pattern has no value that can be looked up; {LOOKUP_HELP}"
        atoms.append(Atom("", "", unsupported("", reason)))
    return tuple(atoms)
