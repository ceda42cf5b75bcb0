"""`--mode auto`'s choice without a network: hunting when a path is usable, stats otherwise, and
what it says (reasons, notes, the summary's `mode`); the quota estimates it prints."""

from __future__ import annotations

from enrich.answering import make_strategy
from enrich.answering.auto import (
    AutoStrategy,
    estimate_seconds,
    hunting_counts,
    hunting_path,
    mode_estimates,
)
from enrich.answering.hunting import HuntingStrategy
from enrich.answering.stats import StatsStrategy
from enrich.indicators import extract
from enrich.mde.hunting import PATH_GRAPH, PATH_LEGACY
from enrich.mde.settings import parse_rate_limits
from enrich.model import MDE_COLUMNS, LookupKey
from enrich.outcome import mde_columns
from enrich.sinks.summary import describe_mode

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
URL = "http://evil.example/a"
NO_GRAPH = "the application lacks ThreatHunting.Read.All (Microsoft Graph)"
NO_LEGACY = "the application lacks AdvancedQuery.Read.All (WindowsDefenderATP)"


def cells(strategy, text: str) -> dict[str, str]:  # noqa: ANN001
    return dict(zip(MDE_COLUMNS, mde_columns(extract(text), None, strategy), strict=True))


def test_before_deciding_auto_plans_as_hunting_and_says_it_assumes_so():
    auto = make_strategy("auto")
    assert isinstance(auto, AutoStrategy) and auto.needs_prepare
    md5 = cells(auto, MD5)
    assert md5["mde_status"] == "pending" and md5["mde_lookup"] == f"files/{MD5}"
    assert "auto mode looks it up by advanced hunting when the app may hunt" in md5["mde_note"]
    url = cells(auto, URL)
    assert url["mde_lookup"] == f"domains/evil.example;urls/{URL}"
    assert "auto mode asks the exact URL by advanced hunting" in url["mde_note"]
    assert auto.choice()["chosen"] == "hunt" and "assumed" in auto.choice()["reason"]


def test_a_usable_path_makes_auto_hunt_with_the_usable_paths_only():
    auto = AutoStrategy()
    chosen = auto.decide({PATH_GRAPH: NO_GRAPH, PATH_LEGACY: ""})
    assert isinstance(chosen, HuntingStrategy) and chosen.paths == (PATH_LEGACY,)
    assert auto.cache_methods == (PATH_GRAPH, PATH_LEGACY)
    assert auto.row_keys(extract(MD5)) == [LookupKey("files", MD5)]
    assert "auto mode" not in cells(auto, MD5)["mde_note"]  # decided: nothing assumed any more
    choice = auto.choice()
    assert choice["chosen"] == "hunt" and choice["paths"] == {PATH_GRAPH: NO_GRAPH, PATH_LEGACY: "usable"}
    assert "hunting-legacy" in choice["reason"] and NO_GRAPH in choice["reason"]
    assert hunting_path(auto) == PATH_LEGACY
    both = AutoStrategy()
    both.decide({PATH_GRAPH: "", PATH_LEGACY: ""})
    assert both.chosen.paths == (PATH_GRAPH, PATH_LEGACY) and hunting_path(both) == PATH_GRAPH


def test_without_a_hunting_path_auto_is_stats_and_md5_is_unsupported_naming_the_permission():
    auto = AutoStrategy()
    chosen = auto.decide({PATH_GRAPH: NO_GRAPH, PATH_LEGACY: NO_LEGACY})
    assert isinstance(chosen, StatsStrategy)
    assert auto.cache_methods == ("stats",)
    md5 = cells(auto, MD5)
    assert md5["mde_status"] == "unsupported"
    assert "ThreatHunting.Read.All" in md5["mde_error"] and "AdvancedQuery.Read.All" in md5["mde_error"]
    assert NO_GRAPH in md5["mde_error"]
    url = cells(auto, URL)
    assert url["mde_status"] == "pending" and url["mde_lookup"] == "domains/evil.example"
    assert "statistics are for the host evil.example" in url["mde_note"]
    assert "the exact URL was not asked" in url["mde_note"] and NO_LEGACY in url["mde_note"]
    choice = auto.choice()
    assert choice["chosen"] == "stats" and "no hunting path is usable" in choice["reason"]
    assert NO_GRAPH in choice["reason"] and NO_LEGACY in choice["reason"]


def test_estimates_count_one_call_per_stats_lookup_and_a_thousand_values_per_hunting_call():
    limits = parse_rate_limits("")  # MDE's documented quotas
    # 3,000 IPs: stats needs 3,000 calls at 100/min and 1,500/hour -> past the hour; hunting 3 calls
    got = estimate_seconds({"ips": 3000}, limits)
    assert got["stats"] > 3600 and got["hunt"] < 60
    # 100 calls' worth of hunting (100,000 values) at 45/min: more than two minutes
    assert estimate_seconds({"domains": 100_000}, limits)["hunt"] >= 120
    assert estimate_seconds({}, limits) == {"stats": 0.0, "hunt": 0.0}
    keys = {LookupKey("files", MD5): None, LookupKey("files", "a" * 40): None, LookupKey("urls", URL): None}
    assert hunting_counts(keys) == {"files": 1, "md5": 1, "ips": 0, "domains": 0, "urls": 1}
    # a stats plan has no MD5 or URL keys: they are counted from the indicators by type
    assert (
        mode_estimates({}, {"url": 2500, "md5": 0}, False, limits)["hunt"]
        == mode_estimates({LookupKey("urls", str(i)): None for i in range(2500)}, {}, True, limits)["hunt"]
    )


def test_the_mode_line_says_what_was_chosen_why_and_how_long_each_would_take():
    line = describe_mode(
        {
            "asked": "auto",
            "chosen": "stats",
            "reason": "no hunting path is usable (hunting-graph: x)",
            "estimated_seconds": {"stats": 5400.0, "hunt": 30.0},
        }
    )
    assert line.startswith("mode auto: stats (no hunting path is usable")
    assert "stats 1.5 h" in line and "hunt 30s" in line
    assert (
        describe_mode({"asked": "hunt", "chosen": "hunt", "reason": "--mode hunt"})
        == "mode hunt (--mode hunt)"
    )
