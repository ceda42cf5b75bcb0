"""The registry's contracts: type rules and their messages, constant checks (`validate`), `describe`,
and a property test that no function raises for any values of its argument types and that every
result fits the type its rule declares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.sandbox.kql.functions import (
    FUNCTIONS,
    NOT_CONSTANT,
    Function,
    FunctionTypeError,
    describe,
    validate,
)
from enrich.sandbox.kql.functions import ticks as tk


@dataclass
class Ctx:
    now: int


CTX = Ctx(tk.parse_datetime("2026-11-20T10:11:12Z") or 0)


# ---------------------------------------------------------------------------
# Type rules


@pytest.mark.parametrize(
    ("name", "types", "result"),
    [
        ("strlen", ["string"], "long"),
        ("tolower", ["guid"], "string"),
        ("iff", ["bool", "long", "long"], "long"),
        ("iff", ["bool", "int", "real"], "real"),
        ("iff", ["bool", "string", "guid"], "string"),
        ("case", ["bool", "long", "bool", "int", "long"], "long"),
        ("coalesce", ["string", "string", "string"], "string"),
        ("coalesce", ["int", "long"], "long"),
        ("max_of", ["datetime", "datetime"], "datetime"),
        ("bin", ["datetime", "timespan"], "datetime"),
        ("bin", ["timespan", "timespan"], "timespan"),
        ("bin", ["long", "long"], "long"),
        ("bin", ["int", "real"], "real"),
        ("bin_at", ["datetime", "timespan", "datetime"], "datetime"),
        ("round", ["real", "int"], "real"),
        ("abs", ["int"], "long"),
        ("tostring", ["dynamic"], "string"),
        ("todatetime", ["string"], "datetime"),
        ("extract", ["string", "long", "string"], "string"),
        ("extract", ["string", "long", "string", "typeof(long)"], "long"),
        ("extract", ["string", "long", "string", "type:datetime"], "datetime"),
        ("parse_url", ["string"], "dynamic"),
        ("split", ["string", "string", "int"], "dynamic"),
        ("ago", ["timespan"], "datetime"),
        ("now", [], "datetime"),
        ("datetime_diff", ["string", "datetime", "datetime"], "long"),
        ("pack", ["string", "long", "string", "datetime"], "dynamic"),
        ("strcat", ["string", "datetime", "long", "dynamic"], "string"),
        ("isempty", ["dynamic"], "bool"),
    ],
)
def test_result_types(name: str, types: list[str], result: str) -> None:
    assert FUNCTIONS[name].returns(types) == result


@pytest.mark.parametrize(
    ("name", "types", "message"),
    [
        ("strlen", ["long"], "strlen(): argument #1 expected to be a string expression, not long"),
        ("tolower", ["dynamic"], "tolower(): argument #1 expected to be a string expression, not dynamic"),
        (
            "iff",
            ["string", "long", "long"],
            "iff(): argument #1 expected to be a bool expression, not string",
        ),
        (
            "iff",
            ["bool", "string", "long"],
            "iff(): argument #3 expected to be a string expression, not long",
        ),
        (
            "case",
            ["bool", "long", "string"],
            "case(): argument #3 expected to be a long expression, not string",
        ),
        ("case", ["bool", "long"], "expects an odd number of arguments"),
        (
            "coalesce",
            ["string", "long"],
            "coalesce(): argument #2 expected to be a string expression, not long",
        ),
        ("bin", ["datetime", "long"], "bin(): argument #2 expected to be a timespan expression, not long"),
        ("bin", ["string", "long"], "bin(): argument #1"),
        ("ago", ["long"], "ago(): argument #1 expected to be a timespan expression, not long"),
        (
            "array_length",
            ["string"],
            "array_length(): argument #1 expected to be a dynamic expression, not string",
        ),
        (
            "substring",
            ["string", "real"],
            "substring(): argument #2 expected to be an integer expression, not real",
        ),
        ("strlen", ["string", "string"], "The function 'strlen' expects 1 argument(s), got 2"),
        ("substring", ["string"], "The function 'substring' expects between 2 and 3 argument(s), got 1"),
        ("coalesce", ["string"], "The function 'coalesce' expects between 2 and 64 argument(s), got 1"),
        ("strcat", ["string"] * 65, "The function 'strcat' expects between 1 and 64 argument(s), got 65"),
        ("pack", ["string"], "expects an even number of arguments"),
        (
            "extract",
            ["string", "long", "string", "string"],
            "argument #4 expected to be a typeof(...) expression",
        ),
    ],
)
def test_type_errors_name_function_argument_and_types(name: str, types: list[str], message: str) -> None:
    with pytest.raises(FunctionTypeError) as info:
        FUNCTIONS[name].returns(types)
    assert message in str(info.value)


def test_names_are_case_sensitive_and_aliases_resolve() -> None:
    assert "ToLower" not in FUNCTIONS
    assert FUNCTIONS["iif"].call is FUNCTIONS["iff"].call
    assert FUNCTIONS["todouble"].returns(["string"]) == "real"
    assert FUNCTIONS["parse_json"].returns(["string"]) == "dynamic"
    assert FUNCTIONS["floor"].returns(["datetime", "timespan"]) == "datetime"


# ---------------------------------------------------------------------------
# validate: constant arguments checked once


@pytest.mark.parametrize(
    ("name", "args", "fragment"),
    [
        (
            "extract",
            ["(unclosed", 1, NOT_CONSTANT],
            "extract(): argument #1 is not a valid regular expression",
        ),
        ("extract", ["(a)(b)", 3, NOT_CONSTANT], "capture group 3"),
        ("extract", ["(a)", -1, NOT_CONSTANT], "must not be negative"),
        ("extract_all", ["abc", NOT_CONSTANT], "at least one capture group"),
        (
            "replace_regex",
            [NOT_CONSTANT, "[z-a]", "x"],
            "replace_regex(): argument #2 is not a valid regular expression",
        ),
        ("trim", ["*", NOT_CONSTANT], "trim(): argument #1"),
        ("countof", [NOT_CONSTANT, "a", "fuzzy"], "'normal' or 'regex'"),
        ("countof", [NOT_CONSTANT, "(", "regex"], "argument #2 is not a valid regular expression"),
        (
            "format_datetime",
            [NOT_CONSTANT, "yyyy-MM-dd Q"],
            "format_datetime(): argument #2 is not a valid format",
        ),
        ("format_datetime", [NOT_CONSTANT, "yyyyyyy"], "unsupported format specifier 'yyyyyyy'"),
        ("format_timespan", [NOT_CONSTANT, "hh:mm:ss zz"], "not a valid format"),
        (
            "datetime_add",
            ["fortnight", 1, NOT_CONSTANT],
            "datetime_add(): argument #1 is not a valid datetime part",
        ),
        ("datetime_diff", ["eon", NOT_CONSTANT, NOT_CONSTANT], "not a valid datetime part"),
        ("no_such_function", [], "Unknown function: 'no_such_function'"),
        ("datetime_utc_to_local", [NOT_CONSTANT, "Mars/Olympus"], "not a known time zone"),
        # RE2 (Kusto's regex engine) refuses what Python's re would accept
        ("extract", [r"a(?=b)", 0, NOT_CONSTANT], "lookaround"),
        ("extract", [r"(?<!x)(y)", 1, NOT_CONSTANT], "lookaround"),
        ("replace_regex", [NOT_CONSTANT, r"(a)\1", "x"], "backreference"),
        ("countof", [NOT_CONSTANT, "a*+", "regex"], "possessive quantifier"),
    ],
)
def test_validate_rejects_bad_constants(name: str, args: list[object], fragment: str) -> None:
    message = validate(name, args)
    assert message is not None and fragment in message


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("extract", [r"(?<n>\d+)", 1, NOT_CONSTANT]),
        ("extract", [r"(?P<n>\d+)[]x]\\1", 1, NOT_CONSTANT]),
        ("extract", [NOT_CONSTANT, NOT_CONSTANT, NOT_CONSTANT]),
        ("replace_regex", [NOT_CONSTANT, r"(\w+)\s", r"\1"]),
        ("countof", [NOT_CONSTANT, "(", "normal"]),  # a plain search is not a regex
        ("format_datetime", [NOT_CONSTANT, "yyyy-MM-dd [HH:mm:ss.fffffff] tt"]),
        ("format_timespan", [NOT_CONSTANT, "d.hh:mm:ss.FFF"]),
        ("datetime_add", ["Month", NOT_CONSTANT, NOT_CONSTANT]),
        ("tolower", [NOT_CONSTANT]),
    ],
)
def test_validate_accepts_good_constants(name: str, args: list[object]) -> None:
    assert validate(name, args) is None


# ---------------------------------------------------------------------------
# describe


def test_describe_covers_every_function_once() -> None:
    rows = describe()
    assert [name for name, _ in rows] == sorted(FUNCTIONS)
    for name, text in rows:
        signature, _, semantics = text.partition(" — ")
        assert signature.startswith(name + "("), text
        assert "->" in signature and semantics.strip(), text


# ---------------------------------------------------------------------------
# Property: no function raises, and results fit the declared type

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
# Datetimes of the value model lie in 0001-01-01..9999-12-31; timespans are any 64-bit tick count.
_DATETIMES = st.one_of(
    st.none(),
    st.integers(tk.MIN_DATETIME, tk.MAX_DATETIME),
    st.sampled_from([tk.MIN_DATETIME, tk.MAX_DATETIME, 0, -1]),
)
_TIMESPANS = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, tk.DAY, -tk.DAY, 7 * tk.DAY]),
)
_STRINGS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "https://user:pw@host.example:8080/a/b?x=1&y=2#frag",
            "10.1.2.3/24",
            "::1",
            "C:\\Windows\\x.exe:ads",
            "(\\d+)",
            "[",
            "yyyy-MM-dd HH:mm:ss.fff",
            "1.02:03:04",
            "2026-11-20T10:11:12.1234567Z",
            "day",
            "regex",
            '{"a":[1,2]}',
        ]
    ),
)
VALUES = {
    "string": _STRINGS,
    "guid": _STRINGS,
    "bool": st.none() | st.booleans(),
    "int": st.none() | st.integers(-(2**31), 2**31 - 1) | st.sampled_from([0, -1, 1, 2]),
    "long": st.none() | st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, 1, 2, 7]),
    "real": st.none() | st.floats() | st.sampled_from([0.0, -0.0, 0.5, 1e308]),
    "datetime": _DATETIMES,
    "timespan": _TIMESPANS,
    "dynamic": _JSON,
    "type": st.sampled_from(
        ["string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic", "guid"]
    ),
}


def _fits(value: object, kql_type: str) -> bool:
    if kql_type in ("string", "guid"):
        return isinstance(value, str)
    if value is None:
        return True
    if kql_type == "bool":
        return isinstance(value, bool)
    if kql_type in ("int", "long", "timespan"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kql_type == "datetime":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and tk.MIN_DATETIME <= value <= tk.MAX_DATETIME
        )
    if kql_type == "real":
        return isinstance(value, float)
    return _is_json(value)


def _is_json(value: object) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _accepted(fn: Function, position: int) -> list[str]:
    family = fn.params[position] if position < len(fn.params) else fn.rest
    assert family is not None
    return sorted(family)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Function, list[str], list[object]]:
    fn = FUNCTIONS[draw(st.sampled_from(sorted(FUNCTIONS)))]
    highest = min(fn.max_args if fn.max_args is not None else fn.min_args + 3, fn.min_args + 4)
    count = draw(st.integers(fn.min_args, max(fn.min_args, highest)))
    types = [draw(st.sampled_from(_accepted(fn, i))) for i in range(count)]
    values = [draw(VALUES[t]) for t in types]
    return fn, types, values


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_no_function_raises_and_results_fit_their_type(
    case: tuple[Function, list[str], list[object]],
) -> None:
    fn, types, values = case
    fn.call(CTX, *values)  # the untyped call must not raise either
    try:
        result_type = fn.returns(types)
    except FunctionTypeError:
        return  # the engine refuses the call site; nothing runs
    if result_type == "type":
        return
    result = fn.bind(types)(CTX, *values)
    assert _fits(result, result_type), (fn.name, types, values, result, result_type)


def test_functions_of_null_give_null() -> None:
    """Kusto: a function of a null datetime, timespan, number, bool or dynamic gives null (or "" when
    its result is a string). String arguments are never null: they get "" here."""
    keep_going = {"isempty", "isnotempty", "isnull", "isnotnull", "notempty", "notnull", "coalesce", "case"}
    keep_going |= {"iff", "iif", "pack_array", "bag_pack", "pack", "pack_dictionary", "tostring", "todynamic"}
    keep_going |= {
        "parse_json",
        "toobject",
        "max_of",
        "min_of",
        "strcat",
        "strcat_delim",
        "reverse",
        "strrep",
    }
    keep_going |= {"hash_sha256", "hash_sha1", "hash_md5", "indexof", "toguid", "strcat_array"}
    checked = 0
    for name, fn in FUNCTIONS.items():
        families = [fn.params[i] if i < len(fn.params) else fn.rest for i in range(fn.min_args)]
        if name in keep_going or not families or all(f is not None and "string" in f for f in families):
            continue
        args = ["" if f is not None and "string" in f else None for f in families]
        result = fn.call(CTX, *args)
        assert result in (None, "") or (isinstance(result, float) and math.isnan(result)), (name, result)
        checked += 1
    assert checked > 50


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.data())
def test_validate_never_raises(case: tuple[Function, list[str], list[object]], data: st.DataObject) -> None:
    fn, _, values = case
    constants = [data.draw(st.sampled_from([v, NOT_CONSTANT])) for v in values]
    message = validate(fn.name, constants)
    assert message is None or (isinstance(message, str) and message.startswith(fn.name + "():"))
