"""The KQL engine's tabular operators, one known answer each, over two tiny hand-made tables.

The expected rows are written out by hand from the tables below (Kusto's documented semantics),
never computed with the engine's helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrich.sandbox.kql import KqlError, QueryResult, run_query

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SCHEMAS = {
    "T": [
        ("Timestamp", "datetime"),
        ("Name", "string"),
        ("N", "long"),
        ("R", "real"),
        ("D", "dynamic"),
        ("B", "bool"),
    ],
    "U": [("Name", "string"), ("Extra", "string")],
    "V": [("Name", "long"), ("Other", "string")],
}
T = [
    {
        "Timestamp": "2026-11-25T10:00:00.0000000Z",
        "Name": "alpha",
        "N": 1,
        "R": 1.5,
        "D": ["a", "b"],
        "B": True,
    },
    {"Timestamp": "2026-11-24T10:00:00.0000000Z", "Name": "beta", "N": 2, "R": None, "D": [], "B": False},
    {
        "Timestamp": "2026-11-20T10:00:00.0000000Z",
        "Name": "alpha",
        "N": None,
        "R": 2.5,
        "D": {"k": 1, "j": 2},
        "B": None,
    },
]
U = [{"Name": "alpha", "Extra": "x"}, {"Name": "alpha", "Extra": "y"}, {"Name": "gamma", "Extra": "z"}]
V = [{"Name": 7, "Other": "o"}]
DATA = {"T": T, "U": U, "V": V}


def run(query: str, **kwargs: object) -> QueryResult:
    return run_query(query, DATA, NOW, schemas=SCHEMAS, **kwargs)  # type: ignore[arg-type]


def rows(query: str) -> list[dict[str, object]]:
    return run(query).rows


def column(query: str, name: str) -> list[object]:
    return [r[name] for r in run(query).rows]


# (id, query, expected rows)
CASES = [
    (
        "extend_and_project",
        "T | extend M = N * 2, S = strcat(Name, '-x') | project Name, M, S",
        [
            {"Name": "alpha", "M": 2, "S": "alpha-x"},
            {"Name": "beta", "M": 4, "S": "beta-x"},
            {"Name": "alpha", "M": None, "S": "alpha-x"},
        ],
    ),
    (
        "extend_sees_earlier_items",
        "T | take 1 | extend A = N + 1, B2 = A * 10 | project A, B2",
        [{"A": 2, "B2": 20}],
    ),
    (
        "extend_replaces_in_place",
        "T | take 1 | extend N = 'now text' | project-keep Name, N",
        [{"Name": "alpha", "N": "now text"}],
    ),
    ("project_unnamed_expression", "T | take 1 | project N + 1", [{"Column1": 2}]),
    (
        "summarize_by_bin_named_after_column",
        "T | summarize c = count() by bin(Timestamp, 1d) | sort by Timestamp asc",
        [
            {"Timestamp": "2026-11-20T00:00:00.0000000Z", "c": 1},
            {"Timestamp": "2026-11-24T00:00:00.0000000Z", "c": 1},
            {"Timestamp": "2026-11-25T00:00:00.0000000Z", "c": 1},
        ],
    ),
    (
        "summarize_aggregates",
        "T | summarize c = count(), n = sum(N), a = avg(R), s = make_set(Name), l = make_list(N), d = dcount(Name), "
        "lo = min(Timestamp), hi = max(N)",
        [
            {
                "c": 3,
                "n": 3,
                "a": 2.0,
                "s": ["alpha", "beta"],
                "l": [1, 2],
                "d": 2,
                "lo": "2026-11-20T10:00:00.0000000Z",
                "hi": 2,
            }
        ],
    ),
    (
        "summarize_conditional_aggregates",
        "T | summarize ci = countif(N > 1), di = dcountif(Name, B == true), mi = minif(R, Name == 'alpha'), "
        "ma = maxif(N, Name == 'alpha'), su = sumif(N, Name == 'beta'), ls = make_list_if(Name, R > 2)",
        [{"ci": 1, "di": 1, "mi": 1.5, "ma": 1, "su": 2, "ls": ["alpha"]}],
    ),
    (
        "summarize_default_names",
        "T | summarize count(), dcount(Name), max(N), make_set(Name), make_list(Name), sum(N), avg(N)",
        [
            {
                "count_": 3,
                "dcount_Name": 2,
                "max_N": 2,
                "set_Name": ["alpha", "beta"],
                "list_Name": ["alpha", "beta", "alpha"],
                "sum_N": 3,
                "avg_N": 1.5,
            }
        ],
    ),
    ("make_set_limit", "T | summarize s = make_set(Name, 1)", [{"s": ["alpha"]}]),
    (
        "make_set_flattens_arrays",
        "T | where Name == 'alpha' | summarize s = make_set(D)",
        [{"s": ["a", "b", {"k": 1, "j": 2}]}],
    ),
    (
        "arg_max_star",
        "T | summarize arg_max(Timestamp, *) by Name | project Name, Timestamp, N",
        [
            {"Name": "alpha", "Timestamp": "2026-11-25T10:00:00.0000000Z", "N": 1},
            {"Name": "beta", "Timestamp": "2026-11-24T10:00:00.0000000Z", "N": 2},
        ],
    ),
    (
        "arg_min_columns",
        "T | summarize arg_min(Timestamp, N, R) by Name",
        [
            {"Name": "alpha", "Timestamp": "2026-11-20T10:00:00.0000000Z", "N": None, "R": 2.5},
            {"Name": "beta", "Timestamp": "2026-11-24T10:00:00.0000000Z", "N": 2, "R": None},
        ],
    ),
    (
        "take_any_and_any",
        "T | where Name == 'beta' | summarize take_any(Name), any(N)",
        [{"Name": "beta", "any_N": 2}],
    ),
    (
        "summarize_empty_input_no_by",
        "T | where N > 100 | summarize c = count(), s = make_set(Name), m = max(N)",
        [{"c": 0, "s": [], "m": None}],
    ),
    ("summarize_empty_input_by", "T | where N > 100 | summarize c = count() by Name", []),
    (
        "mv_expand_arrays_and_bags",
        "T | mv-expand D | project Name, D",
        [
            {"Name": "alpha", "D": "a"},
            {"Name": "alpha", "D": "b"},
            {"Name": "alpha", "D": {"k": 1}},
            {"Name": "alpha", "D": {"j": 2}},
        ],
    ),
    (
        "mv_expand_typed_with_index",
        "T | take 1 | mv-expand with_itemindex=i X = D to typeof(string) | project X, i",
        [{"X": "a", "i": 0}, {"X": "b", "i": 1}],
    ),
    (
        "mv_expand_parallel_and_limit",
        "T | take 1 | extend E = dynamic([10, 20, 30]) | mv-expand D, E limit 3 | project D, E",
        [{"D": "a", "E": 10}, {"D": "b", "E": 20}, {"D": None, "E": 30}],
    ),
    (
        "join_innerunique_default",
        "T | join U on Name | project Name, N, Extra",
        [{"Name": "alpha", "N": 1, "Extra": "x"}, {"Name": "alpha", "N": 1, "Extra": "y"}],
    ),
    (
        "join_inner",
        "T | join kind=inner U on Name | project N, Extra, Name1",
        [
            {"N": 1, "Extra": "x", "Name1": "alpha"},
            {"N": 1, "Extra": "y", "Name1": "alpha"},
            {"N": None, "Extra": "x", "Name1": "alpha"},
            {"N": None, "Extra": "y", "Name1": "alpha"},
        ],
    ),
    (
        "join_leftouter_subquery_left_right",
        "T | join kind=leftouter (U | where Extra != 'x') on $left.Name == $right.Name | project Name, Extra",
        [{"Name": "alpha", "Extra": "y"}, {"Name": "beta", "Extra": ""}, {"Name": "alpha", "Extra": "y"}],
    ),
    ("join_leftanti", "T | join kind=leftanti U on Name | project Name", [{"Name": "beta"}]),
    ("join_leftsemi", "T | join kind=leftsemi U on Name | project N", [{"N": 1}, {"N": None}]),
    ("join_rightanti", "T | join kind=rightanti U on Name", [{"Name": "gamma", "Extra": "z"}]),
    ("join_rightsemi", "T | join kind=rightsemi U on Name | project Extra", [{"Extra": "x"}, {"Extra": "y"}]),
    (
        "join_rightouter",
        "T | where Name == 'beta' | join kind=rightouter U on Name | project Name, Name1",
        [{"Name": "", "Name1": "alpha"}, {"Name": "", "Name1": "alpha"}, {"Name": "", "Name1": "gamma"}],
    ),
    (
        "join_fullouter",
        "T | where N == 2 | join kind=fullouter (U | where Extra == 'z') on Name | project Name, Name1",
        [{"Name": "beta", "Name1": ""}, {"Name": "", "Name1": "gamma"}],
    ),
    ("top_asc_nulls_first", "T | top 2 by N asc | project N", [{"N": None}, {"N": 1}]),
    ("top_default_desc", "T | top 1 by Timestamp | project Name", [{"Name": "alpha"}]),
    ("sort_nulls_first", "T | sort by R desc nulls first | project R", [{"R": None}, {"R": 2.5}, {"R": 1.5}]),
    ("sort_two_keys", "T | order by Name asc, Timestamp asc | project N", [{"N": None}, {"N": 1}, {"N": 2}]),
    ("project_away_wildcard", "T | take 1 | project-away D, B, Time*", [{"Name": "alpha", "N": 1, "R": 1.5}]),
    (
        "project_rename_and_reorder",
        "T | take 1 | project-rename Who = Name | project-reorder N, Who | project-away Timestamp, D",
        [{"N": 1, "Who": "alpha", "R": 1.5, "B": True}],
    ),
    ("distinct_columns", "T | distinct Name", [{"Name": "alpha"}, {"Name": "beta"}]),
    ("distinct_star", "U | project Name | distinct *", [{"Name": "alpha"}, {"Name": "gamma"}]),
    ("count_operator", "T | count", [{"Count": 3}]),
    ("take_and_limit", "T | take 2 | limit 1 | project N", [{"N": 1}]),
    ("in_subquery", "T | where Name in ((U | project Name)) | count", [{"Count": 2}]),
    (
        "in_tabular_let",
        "let names = U | where Extra == 'z' | project Name; T | where Name !in (names) | count",
        [{"Count": 3}],
    ),
    (
        "tabular_let_and_union_operator",
        "let X = T | where N > 1 | project Name; X | union (U | project Name)",
        [{"Name": "beta"}, {"Name": "alpha"}, {"Name": "alpha"}, {"Name": "gamma"}],
    ),
    (
        "union_withsource",
        "union withsource=Src T, (U | take 1) | project Src, Name",
        [
            {"Src": "T", "Name": "alpha"},
            {"Src": "T", "Name": "beta"},
            {"Src": "T", "Name": "alpha"},
            {"Src": "union_arg1", "Name": "alpha"},
        ],
    ),
    (
        "union_inner",
        "union kind=inner (T | take 1), U | getschema | project ColumnName",
        [{"ColumnName": "Name"}],
    ),
    ("union_isfuzzy_skips_missing", "union isfuzzy=true U, NoSuchTable | count", [{"Count": 3}]),
    (
        "union_type_conflict_suffixes",
        "union (U | take 1), V | project Name_string, Name_long",
        [{"Name_string": "alpha", "Name_long": None}, {"Name_string": "", "Name_long": 7}],
    ),
    (
        "parse_simple",
        "T | parse Name with 'al' Rest | project Rest",
        [{"Rest": "pha"}, {"Rest": ""}, {"Rest": "pha"}],
    ),
    (
        "parse_typed_and_star",
        "U | take 1 | extend L = 'id=42; user=bob; x' | parse L with * 'id=' Id:long '; user=' User ';' * | project Id, User",
        [{"Id": 42, "User": "bob"}],
    ),
    (
        "parse_regex",
        r"U | take 1 | extend L = 'port 8080 open' | parse kind=regex L with @'port\s+' Port:int | project Port",
        [{"Port": 8080}],
    ),
    (
        "getschema",
        "U | getschema | project ColumnName, ColumnType",
        [{"ColumnName": "Name", "ColumnType": "string"}, {"ColumnName": "Extra", "ColumnType": "string"}],
    ),
    (
        "member_and_index",
        "T | extend x = D[0], y = D.k, z = D['j'] | project x, y, z",
        [{"x": "a", "y": None, "z": None}, {"x": None, "y": None, "z": None}, {"x": None, "y": 1, "z": 2}],
    ),
    ("filter_alias", "T | filter B | project N", [{"N": 1}]),
    (
        "comments_everywhere",
        "T // the table\n| where N == 1 // one row\n| project Name // done",
        [{"Name": "alpha"}],
    ),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator(query, expected):
    result = run(query)
    assert result.rows == expected
    names = [name for name, _ in result.schema]
    for row in result.rows:
        assert list(row) == names


def test_schemas_of_new_columns():
    assert run(
        "T | extend M = N * 2, S = tostring(N), Age = now() - Timestamp | project M, S, Age"
    ).schema == [
        ("M", "long"),
        ("S", "string"),
        ("Age", "timespan"),
    ]
    assert run("T | summarize make_set(Name), arg_max(Timestamp, N) by B").schema == [
        ("B", "bool"),
        ("set_Name", "dynamic"),
        ("Timestamp", "datetime"),
        ("N", "long"),
    ]
    assert run("T | mv-expand X = D to typeof(long) | project X").schema == [("X", "long")]


def test_timespans_render_as_kusto_prints_them():
    assert column("T | extend Age = now() - Timestamp | project Age", "Age") == [
        "1.02:00:00",
        "2.02:00:00",
        "6.02:00:00",
    ]


def test_window_applies_to_every_table_reference():
    window = (datetime(2026, 11, 24, tzinfo=UTC), None)
    result = run("union withsource=S T, (T | where N == 2) | project S, N", window=window)
    assert result.rows == [{"S": "T", "N": 1}, {"S": "T", "N": 2}, {"S": "union_arg1", "N": 2}]


def test_invoke_file_profile_with_hook():
    profiles = {
        "aa" * 20: {
            "SHA256": "bb" * 32,
            "GlobalPrevalence": 12,
            "Signer": "Contoso",
            "IsExecutable": True,
            "GlobalFirstSeen": "2020-01-02T03:04:05.0000000Z",
        },
    }
    schemas = {"F": [("SHA1", "string"), ("SHA256", "string")]}
    data = {
        "F": [
            {"SHA1": "AA" * 20, "SHA256": ""},
            {"SHA1": "cc" * 20, "SHA256": ""},
            {"SHA1": "aa" * 20, "SHA256": "ff"},
        ]
    }
    result = run_query(
        "F | invoke FileProfile(SHA1, 2) | project SHA1, SHA256, GlobalPrevalence, Signer, IsExecutable, GlobalFirstSeen, ProfileAvailability",
        data,
        NOW,
        schemas=schemas,
        file_profile=profiles.get,
    )
    assert result.rows == [
        {
            "SHA1": "AA" * 20,
            "SHA256": "bb" * 32,
            "GlobalPrevalence": 12,
            "Signer": "Contoso",
            "IsExecutable": True,
            "GlobalFirstSeen": "2020-01-02T03:04:05.0000000Z",
            "ProfileAvailability": "Available",
        },
        {
            "SHA1": "cc" * 20,
            "SHA256": "",
            "GlobalPrevalence": None,
            "Signer": "",
            "IsExecutable": None,
            "GlobalFirstSeen": None,
            "ProfileAvailability": "Unavailable",
        },
        # past the 2-row limit: not enriched; its own SHA256 stays
        {
            "SHA1": "aa" * 20,
            "SHA256": "ff",
            "GlobalPrevalence": None,
            "Signer": "",
            "IsExecutable": None,
            "GlobalFirstSeen": None,
            "ProfileAvailability": "Unavailable",
        },
    ]
    full = run_query("F | invoke FileProfile()", data, NOW, schemas=schemas)
    assert [name for name, _ in full.schema] == [
        "SHA1",
        "SHA256",
        "MD5",
        "FileSize",
        "GlobalPrevalence",
        "GlobalFirstSeen",
        "GlobalLastSeen",
        "Signer",
        "Issuer",
        "SignerHash",
        "IsCertificateValid",
        "IsRootSignerMicrosoft",
        "SignatureState",
        "IsExecutable",
        "ThreatName",
        "Publisher",
        "SoftwareName",
        "ProfileAvailability",
    ]
    assert {r["ProfileAvailability"] for r in full.rows} == {"Unavailable"}  # no hook: nothing known


def test_invoke_file_profile_by_another_column():
    schemas = {"P": [("InitiatingProcessSHA256", "string")]}
    data = {"P": [{"InitiatingProcessSHA256": "dd" * 32}]}
    result = run_query(
        "P | invoke FileProfile(InitiatingProcessSHA256, 1000) | project SHA1, ThreatName",
        data,
        NOW,
        schemas=schemas,
        file_profile=lambda h: (
            {"SHA1": "ee" * 20, "ThreatName": "Trojan:Win32/X"} if h == "dd" * 32 else None
        ),
    )
    assert result.rows == [{"SHA1": "ee" * 20, "ThreatName": "Trojan:Win32/X"}]


def test_innerunique_keeps_one_left_row_per_key():
    # Kusto's default join dedupes the left side's keys before matching
    assert len(rows("T | join U on Name")) == 2
    assert len(rows("T | join kind=inner U on Name")) == 4


def test_rows_are_not_copied_by_where_and_take():
    table = [{"Name": "a", "Extra": "x"}, {"Name": "b", "Extra": "y"}]
    from enrich.sandbox.kql.compiler import Compiler
    from enrich.sandbox.kql.parser import parse

    plan = Compiler("", {"U": table}, SCHEMAS, 0, None, None).compile_query(
        parse("U | where Name == 'b' | take 5")
    )
    out = plan.run()
    assert len(out) == 1 and out[0] is table[1]


def test_take_count_must_be_constant_non_negative():
    with pytest.raises(KqlError, match="row count"):
        run("T | take 1.5")
    with pytest.raises(KqlError, match="Failed to resolve scalar expression named 'N'"):
        run("T | take N")
    with pytest.raises(KqlError):
        run("T | take -1")


def test_user_defined_functions():
    assert rows(
        "let scaled = (x:long, by:long = 10) { x * by }; T | take 2 | extend A = scaled(N), B = scaled(N, 2) | project A, B"
    ) == [{"A": 10, "B": 2}, {"A": 20, "B": 4}]
    assert rows("let above = (n:long) { T | where N > n }; above(1) | project Name") == [{"Name": "beta"}]
    assert rows("let k = () { let base = 3; base + 1 }; U | take 1 | extend X = k() | project X") == [
        {"X": 4}
    ]
    with pytest.raises(KqlError, match="expected to be of type long, not string"):
        run("let f = (x:long) { x }; T | extend Y = f(Name)")
    with pytest.raises(KqlError, match="calls itself"):
        run("let f = (x:long) { f(x) }; T | extend Y = f(N)")
    with pytest.raises(KqlError, match="expects 1 argument"):
        run("let f = (x:long) { x }; T | extend Y = f()")


def test_toscalar():
    assert rows("let top = toscalar(T | summarize max(N)); T | where N == top | project Name") == [
        {"Name": "beta"}
    ]
    assert rows("T | where N == toscalar(T | where Name == 'nope' | project N) | count") == [{"Count": 0}]


def test_operators_over_shared_layout_rows():
    # the dataset's rows are read-only Mappings (enrich.sandbox.tables.row), not dicts
    from enrich.sandbox.tables.row import Layout

    layout = Layout("U", SCHEMAS["U"])
    data = {"U": [layout.row({"Name": "alpha", "Extra": "x"}), layout.row({"Name": "beta"})], "T": T}
    query = (
        "union withsource=S U | extend L = strcat(Name, ':', Extra), A = dynamic([1, 2]) | mv-expand A"
        " | parse L with N2 ':' E2 | project S, Name, L, A, N2, E2"
    )
    result = run_query(query, data, NOW, schemas=SCHEMAS)
    assert result.rows == [
        {"S": "U", "Name": "alpha", "L": "alpha:x", "A": 1, "N2": "alpha", "E2": "x"},
        {"S": "U", "Name": "alpha", "L": "alpha:x", "A": 2, "N2": "alpha", "E2": "x"},
        {"S": "U", "Name": "beta", "L": "beta:", "A": 1, "N2": "beta", "E2": ""},
        {"S": "U", "Name": "beta", "L": "beta:", "A": 2, "N2": "beta", "E2": ""},
    ]


def test_union_wildcard_table_names():
    assert rows("union withsource=S U* | summarize n = count() by S") == [{"S": "U", "n": 3}]
    assert rows("union withsource=S * | summarize n = count() by S") == [
        {"S": "T", "n": 3},
        {"S": "U", "n": 3},
        {"S": "V", "n": 1},
    ]
    with pytest.raises(KqlError, match="no table"):
        run("union Nope*")


def test_print_datatable_range_sources():
    assert rows("print 1, x = 'a'") == [{"print_0": 1, "x": "a"}]
    assert rows("datatable(Name:string, N:long) ['a', 1, 'b', 2,] | where N > 1") == [{"Name": "b", "N": 2}]
    assert rows("let d = datatable(x:real)[1, 2.5]; d | summarize s = sum(x)") == [{"s": 3.5}]
    assert rows("T | where Name in (datatable(n:string)['beta']) | project N") == [{"N": 2}]
    assert rows("range i from 1 to 5 step 2") == [{"i": 1}, {"i": 3}, {"i": 5}]
    assert rows("range i from 5 to 1 step -2") == [{"i": 5}, {"i": 3}, {"i": 1}]
    assert rows("range t from datetime(2026-01-01) to datetime(2026-01-02) step 12h") == [
        {"t": "2026-01-01T00:00:00.0000000Z"},
        {"t": "2026-01-01T12:00:00.0000000Z"},
        {"t": "2026-01-02T00:00:00.0000000Z"},
    ]
    with pytest.raises(KqlError, match="more than 1,000,000 rows"):
        run("range i from 1 to 10000000 step 1")
    with pytest.raises(KqlError, match="column 'a' is long, the value is string"):
        run("datatable(a:long)[1, 'x']")
    with pytest.raises(KqlError, match="do not fill rows"):
        run("datatable(a:long, b:long)[1, 2, 3]")


def test_lookup():
    # lookup: leftouter by default, the key column once
    assert rows("T | lookup (U | where Extra == 'y') on Name | project Name, N, Extra") == [
        {"Name": "alpha", "N": 1, "Extra": "y"},
        {"Name": "beta", "N": 2, "Extra": ""},
        {"Name": "alpha", "N": None, "Extra": "y"},
    ]
    assert run("T | lookup kind=inner U on Name").schema == [*SCHEMAS["T"], ("Extra", "string")]
    assert len(rows("T | lookup kind=inner U on Name")) == 4
    with pytest.raises(KqlError, match="lookup"):
        run("T | lookup kind=fullouter U on Name")


def test_statistical_and_bag_aggregations():
    result = run(
        "datatable(x:long)[1, 2, 3, 4, 10] | summarize stdev(x), variance(x), variancep(x), percentile(x, 50), "
        "percentiles(x, 0, 90), count_distinct(x)"
    )
    assert result.rows == [
        {
            "stdev_x": 12.5**0.5,  # mean 4, squared deviations 9 + 4 + 1 + 0 + 36 = 50, over n - 1
            "variance_x": 12.5,
            "variancep_x": 10.0,
            "percentile_x_50": 3,  # nearest rank: ceil(0.5 * 5) = 3rd value
            "percentile_x_0": 1,
            "percentile_x_90": 10,
            "count_distinct_x": 5,
        }
    ]
    assert rows(
        "datatable(b:dynamic)[dynamic({'a': 1}), dynamic({'b': 2, 'a': 3}), dynamic(null)]"
        " | summarize make_bag(b), make_list_with_nulls(b)"
    ) == [{"bag_b": {"a": 1, "b": 2}, "list_b": [{"a": 1}, {"b": 2, "a": 3}, None]}]
    with pytest.raises(KqlError, match="between 0 and 100"):
        run("T | summarize percentile(N, 150)")


def test_function_returning_a_table_by_name():
    assert rows("let g = () { U }; g() | count") == [{"Count": 3}]
    assert rows("let g = () { let x = U | take 1; x }; g() | project Extra") == [{"Extra": "x"}]


def test_evaluate_bag_unpack():
    query = (
        "datatable(Id:long, AF:dynamic)[1, dynamic({'a': 1, 'b': 'x'}), 2, dynamic({'c': [1]}), 3, dynamic(null)]"
        " | evaluate bag_unpack(AF)"
    )
    result = run(query)
    assert result.schema == [("Id", "long"), ("a", "dynamic"), ("b", "dynamic"), ("c", "dynamic")]
    assert result.rows == [
        {"Id": 1, "a": 1, "b": "x", "c": None},
        {"Id": 2, "a": None, "b": None, "c": [1]},
        {"Id": 3, "a": None, "b": None, "c": None},
    ]
    assert rows("datatable(AF:dynamic)[dynamic({'a': 1})] | evaluate bag_unpack(AF, 'af_')") == [{"af_a": 1}]
    with pytest.raises(KqlError, match="collides"):
        run("datatable(Id:long, AF:dynamic)[1, dynamic({'Id': 1})] | evaluate bag_unpack(AF)")
    with pytest.raises(KqlError, match="Unknown plugin: 'nope'"):
        run("T | evaluate nope()")


def test_serialize_row_number_prev_next():
    assert rows("range i from 1 to 4 step 1 | extend r = row_number(), p = prev(i), n = next(i, 1, -1)") == [
        {"i": 1, "r": 1, "p": None, "n": 2},
        {"i": 2, "r": 2, "p": 1, "n": 3},
        {"i": 3, "r": 3, "p": 2, "n": 4},
        {"i": 4, "r": 4, "p": 3, "n": -1},
    ]
    assert rows("T | sort by N asc | project N, rn = row_number(10)") == [
        {"N": None, "rn": 10},
        {"N": 1, "rn": 11},
        {"N": 2, "rn": 12},
    ]
    assert rows("U | serialize rn = row_number() | where rn > 1 | project Extra, rn") == [
        {"Extra": "y", "rn": 2},
        {"Extra": "z", "rn": 3},
    ]
    with pytest.raises(KqlError, match="the row set must be serialized"):
        run("U | summarize by Name | extend rn = row_number()")


def test_as_binds_the_input():
    assert rows(
        "U | where Extra != 'z' | as X | join kind=inner (X | project Name, E2 = Extra) on Name | count"
    ) == [{"Count": 4}]


def test_search():
    schemas = {"A": [("Name", "string"), ("N", "long")], "B": [("Name", "string"), ("Extra", "string")]}
    data = {
        "A": [{"Name": "Mimikatz.exe", "N": 1}, {"Name": "b c", "N": 5}],
        "B": [{"Name": "a", "Extra": "mimikatz"}, {"Name": "zz", "Extra": "x"}],
    }

    def search(query: str) -> list[dict[str, object]]:
        return run_query(query, data, NOW, schemas=schemas).rows

    assert search('search "mimikatz"') == [
        {"$table": "A", "Name": "Mimikatz.exe", "N": 1, "Extra": ""},
        {"$table": "B", "Name": "a", "N": None, "Extra": "mimikatz"},
    ]
    assert search('search kind=case_sensitive "mimikatz" | project Name') == [{"Name": "a"}]
    assert search('search in (A) "b"') == [{"$table": "A", "Name": "b c", "N": 5}]
    assert search('A | search Name:"b" or N > 4') == [{"Name": "b c", "N": 5}]
    assert search('search "mimi*" | count') == [{"Count": 2}]  # prefix of a term
    assert search('search "*katz" | count') == [{"Count": 2}]  # suffix of a term ('Mimikatz.exe' too)
    assert search('search "*kat" | count') == [{"Count": 0}]
    assert search('search "*ikat*" and Name == "a" | project Extra') == [{"Extra": "mimikatz"}]
    assert search('search strlen("abc") == 3 | count') == [{"Count": 4}]  # a string argument is a value
    with pytest.raises(KqlError, match="Nope"):
        search('search in (A, Nope) "x"')


def test_mv_apply():
    base = "datatable(Id:long, Arr:dynamic)[1, dynamic([3, 1, 2]), 2, dynamic([]), 3, dynamic([7])]"
    assert rows(base + " | mv-apply x = Arr to typeof(long) on (summarize s = sum(x), c = count())") == [
        {"Id": 1, "Arr": [3, 1, 2], "s": 6, "c": 3},
        {"Id": 2, "Arr": [], "s": None, "c": 0},
        {"Id": 3, "Arr": [7], "s": 7, "c": 1},
    ]
    assert rows(base + " | mv-apply x = Arr to typeof(long) on (top 1 by x) | project Id, x") == [
        {"Id": 1, "x": 3},
        {"Id": 3, "x": 7},
    ]
    assert rows(base + " | mv-apply Arr on (where Arr > 1)") == [
        {"Id": 1, "Arr": 3},
        {"Id": 1, "Arr": 2},
        {"Id": 3, "Arr": 7},
    ]
    assert run(base + " | mv-apply with_itemindex=i x = Arr on (project i, x)").schema == [
        ("Id", "long"),
        ("Arr", "dynamic"),
        ("i", "long"),
        ("x", "dynamic"),
    ]


def test_bracketed_column_names():
    assert rows("U | take 1 | project ['My Col'] = Extra | extend X = strcat(['My Col'], '!')") == [
        {"My Col": "x", "X": "x!"}
    ]
    assert run("search in (U) 'gamma' | project ['$table'], Name").rows == [{"$table": "U", "Name": "gamma"}]
    assert rows("T | take 1 | project D[0], B2 = B") == [{"Column1": "a", "B2": True}]
    assert run("T | extend E = dynamic({'k': 1}) | project E['k']").schema == [("k", "dynamic")]


def test_render_is_a_hint_for_the_client():
    assert rows(
        "U | summarize n = count() by Name | render columnchart with (title='names', kind=stacked)"
    ) == [
        {"Name": "alpha", "n": 2},
        {"Name": "gamma", "n": 1},
    ]
    with pytest.raises(KqlError, match="'render' must be the last operator"):
        run("U | render table | count")


def test_make_series():
    base = (
        "datatable(T:datetime, S:string, N:long)[datetime(2026-01-01 01:00), 'a', 1, datetime(2026-01-01 02:30), 'a', 2,"
        " datetime(2026-01-03), 'b', 5, datetime(2026-01-01 05:00), 'a', 4]"
    )
    days = ["2026-01-01T00:00:00.0000000Z", "2026-01-02T00:00:00.0000000Z", "2026-01-03T00:00:00.0000000Z"]
    result = run(
        base + " | make-series c = count(), s = sum(N) default = -1 on T"
        " from datetime(2026-01-01) to datetime(2026-01-04) step 1d by S"
    )
    assert result.schema == [("S", "string"), ("c", "dynamic"), ("s", "dynamic"), ("T", "dynamic")]
    assert result.rows == [
        {"S": "a", "c": [3, 0, 0], "s": [7, -1, -1], "T": days},
        {"S": "b", "c": [0, 0, 1], "s": [-1, -1, 5], "T": days},
    ]
    # without from/to: from the first bin with data to the last
    assert rows(base + " | make-series avg(N) on T step 1d") == [{"avg_N": [7 / 3, 0, 5.0], "T": days}]
    with pytest.raises(KqlError, match="the step must be a positive constant"):
        run(base + " | make-series count() on T step 0d")


def test_let_of_a_non_deterministic_value_is_evaluated_once():
    assert rows("let r = rand(); range i from 1 to 5 step 1 | extend x = r | summarize d = dcount(x)") == [
        {"d": 1}
    ]


def test_runaway_join_and_mv_expand_are_refused_before_making_rows():
    with pytest.raises(KqlError, match="exceeded the allowed limits: the 'join' operator"):
        run(
            "range a from 1 to 3000 step 1 | extend k = 1"
            " | join kind=inner (range b from 1 to 3000 step 1 | extend k = 1) on k | count"
        )
    with pytest.raises(KqlError, match="exceeded the allowed limits: the 'mv-expand' operator"):
        run(
            "let l = toscalar(range x from 1 to 2500 step 1 | summarize make_list(x));"
            " range a from 1 to 2500 step 1 | extend l = l | mv-expand l | count"
        )
