"""Differential property tests: random predicates and summaries, run by the engine and by a plain
Python reference written here (Kusto's three-valued logic: a comparison with null is null, and
`where` keeps only the rows whose predicate is true)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.sandbox.kql import run_query

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SCHEMAS = {"T": [("Id", "long"), ("S", "string"), ("N", "long"), ("When", "datetime")]}
WORDS = ["alpha", "Beta", "gamma-ray", "alpha.beta", "", "x y", "BETA"]

Value = bool | None
Predicate = tuple[str, Callable[[dict[str, object]], Value]]


def iso(days: int) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


rows_strategy = st.lists(
    st.tuples(st.sampled_from(WORDS), st.one_of(st.none(), st.integers(-5, 5)), st.integers(0, 40)),
    max_size=12,
).map(lambda rows: [{"Id": i, "S": s, "N": n, "When": iso(d)} for i, (s, n, d) in enumerate(rows)])


def _cmp(op: str, a: object, b: object) -> Value:
    if a is None or b is None:
        return None
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]  # type: ignore[operator]


def _terms(text: str) -> list[str]:
    out, current = [], ""
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            current += ch
        elif current:
            out.append(current)
            current = ""
    return out + [current] if current else out


@st.composite
def atoms(draw: st.DrawFn) -> Predicate:
    kind = draw(st.sampled_from(["num", "str", "in", "has", "time", "empty"]))
    if kind == "num":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        k = draw(st.integers(-5, 5))
        return f"N {op} {k}", lambda r, op=op, k=k: _cmp(op, r["N"], k)
    if kind == "str":
        op = draw(st.sampled_from(["==", "!=", "=~", "!~", "contains", "startswith"]))
        w = draw(st.sampled_from(WORDS[:4]))

        def check(r: dict[str, object], op: str = op, w: str = w) -> Value:
            s = str(r["S"])
            return {
                "==": s == w,
                "!=": s != w,
                "=~": s.lower() == w.lower(),
                "!~": s.lower() != w.lower(),
                "contains": w.lower() in s.lower(),
                "startswith": s.lower().startswith(w.lower()),
            }[op]

        return f"S {op} '{w}'", check
    if kind == "in":
        op = draw(st.sampled_from(["in", "!in", "in~", "!in~"]))
        ws = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))

        def member(r: dict[str, object], op: str = op, ws: list[str] = ws) -> Value:
            s = str(r["S"])
            hit = s.lower() in {w.lower() for w in ws} if "~" in op else s in ws
            return not hit if op.startswith("!") else hit

        return f"S {op} (" + ", ".join(f"'{w}'" for w in ws) + ")", member
    if kind == "has":
        w = draw(st.sampled_from(["alpha", "beta", "ray", "gamma", "y"]))
        return f"S has '{w}'", lambda r, w=w: w in _terms(str(r["S"]))
    if kind == "time":
        d = draw(st.integers(0, 40))
        cutoff = iso(d)
        return f"When > ago({d}d)", lambda r, cutoff=cutoff: str(r["When"]) > cutoff
    return "isempty(S)", lambda r: r["S"] == ""


def _and(a: Value, b: Value) -> Value:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Value, b: Value) -> Value:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


predicates = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(
            lambda p: (f"({p[0][0]} and {p[1][0]})", lambda r, p=p: _and(p[0][1](r), p[1][1](r)))
        ),
        st.tuples(inner, inner).map(
            lambda p: (f"({p[0][0]} or {p[1][0]})", lambda r, p=p: _or(p[0][1](r), p[1][1](r)))
        ),
        inner.map(lambda p: (f"not({p[0]})", lambda r, p=p: None if (v := p[1](r)) is None else not v)),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(rows_strategy, predicates)
def test_where_agrees_with_reference(rows, predicate):
    text, check = predicate
    result = run_query(f"T | where {text} | project Id", {"T": rows}, NOW, schemas=SCHEMAS)
    assert [r["Id"] for r in result.rows] == [r["Id"] for r in rows if check(r) is True], text


@settings(max_examples=100, deadline=None)
@given(rows_strategy, predicates)
def test_summarize_agrees_with_reference(rows, predicate):
    text, check = predicate
    query = (
        f"T | where {text} | summarize c = count(), d = dcount(N), lo = min(N), hi = max(When), "
        "s = make_set(N), n = countif(N > 0) by S"
    )
    result = run_query(query, {"T": rows}, NOW, schemas=SCHEMAS)
    counts: dict[str, int] = {}
    numbers: dict[str, list[int]] = {}
    whens: dict[str, list[str]] = {}
    for r in rows:
        if check(r) is not True:
            continue
        key = str(r["S"])
        counts[key] = counts.get(key, 0) + 1
        whens.setdefault(key, []).append(str(r["When"]))
        numbers.setdefault(key, [])
        if isinstance(r["N"], int):
            numbers[key].append(r["N"])
    got = {r["S"]: r for r in result.rows}
    assert set(got) == set(counts)
    for key, count in counts.items():
        ns = numbers[key]
        row = got[key]
        assert row["c"] == count
        assert row["d"] == len(set(ns))
        assert row["lo"] == (min(ns) if ns else None)
        assert row["hi"] == max(whens[key])
        assert row["s"] == list(dict.fromkeys(ns))
        assert row["n"] == sum(1 for v in ns if v > 0)
