"""Hunting quotas: per tenant in the shared budget (whatever the app), one budget family per path."""

from __future__ import annotations

import pytest

from enrich.mde.budget_store import BudgetStore
from enrich.mde.errors import ConfigError
from enrich.mde.limits import Budget
from enrich.mde.settings import TENANT_FAMILIES, parse_rate_limits
from tests.mde.test_limits import VirtualClock

EXACT = {"margin_fraction": 0.0, "margin_seconds": 0.0}
LIMITS = {"ips": [(2, 5.0)], "hunting": [(2, 5.0)], "hunting-graph": [(2, 5.0)]}


def _budget(path, tenant: str, app: str, clock) -> Budget:
    return Budget(LIMITS, clock, store=BudgetStore(path, tenant, app), **EXACT)


def _starts(clock, plan) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []

    async def main():
        for name, budget, family in plan:
            async with budget.slot(family):
                seen.append((name, clock.now()))

    clock.run(main())
    return seen


@pytest.mark.parametrize("family", sorted(TENANT_FAMILIES))
def test_two_apps_of_one_tenant_share_the_hunting_quota(tmp_path, family):
    db, clock = tmp_path / "cache.sqlite3", VirtualClock()
    one, two = _budget(db, "t1", "app-1", clock), _budget(db, "t1", "app-2", clock)
    seen = _starts(clock, [("one", one, family), ("two", two, family), ("two", two, family)])
    assert seen == [("one", 0.0), ("two", 0.0), ("two", 5.0)]


def test_the_entity_quota_stays_per_app_and_other_tenants_apart(tmp_path):
    db, clock = tmp_path / "cache.sqlite3", VirtualClock()
    one, two = _budget(db, "t1", "app-1", clock), _budget(db, "t1", "app-2", clock)
    other = _budget(db, "t2", "app-1", clock)
    plan = [("one", one, "ips"), ("one", one, "ips"), ("two", two, "ips"), ("two", two, "ips")]
    plan += [("one", one, "hunting"), ("one", one, "hunting"), ("other", other, "hunting")]
    plan += [("other", other, "hunting"), ("one", one, "hunting-graph")]
    assert {t for _, t in _starts(clock, plan)} == {0.0}


def test_a_hunting_pause_holds_every_app_of_the_tenant(tmp_path):
    db, clock = tmp_path / "cache.sqlite3", VirtualClock()
    one, two = _budget(db, "t1", "app-1", clock), _budget(db, "t1", "app-2", clock)
    one.penalise("hunting-graph", 7.0)
    seen = _starts(clock, [("two", two, "hunting-graph"), ("two", two, "hunting")])
    assert seen == [("two", 7.0), ("two", 7.0)]


def test_rate_limits_name_both_hunting_paths():
    default = parse_rate_limits("")
    assert default["hunting"] == [(45, 60.0), (1500, 3600.0)]
    assert default["hunting-graph"] == [(45, 60.0)]
    limits = parse_rate_limits("hunting=10/min,100/hour;hunting-graph=20/min")
    assert limits["hunting"] == [(10, 60.0), (100, 3600.0)] and limits["hunting-graph"] == [(20, 60.0)]
    with pytest.raises(ConfigError, match="hunting-graph"):
        parse_rate_limits("hunting-grph=1/min")
