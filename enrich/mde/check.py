"""`enrich check`: a preflight that says in plain words what is missing before a night's run.

Order: credentials, the MDE token, its roles, one cheap statistics call per entity family the
token may ask, the two hunting paths (decided from the tokens' roles: no hunting query is run),
then what each `--mode` can answer with all that. A family or path the token's roles rule out is
not asked at all: a failed check spends no quota where the roles already tell.

Which results decide the exit code depends on the mode checked (`mode`, default `auto`, the
run's default): the credentials, the token, the roles that mode needs, the probes of the
families it asks by statistics, and its own `mode:` line. The other modes' lines are shown for
information (`counts` False).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enrich.mde.auth import TokenProvider
from enrich.mde.client import GRAPH_PERMISSIONS, PERMISSIONS, MdeClient, error_message, segment
from enrich.mde.errors import AuthError, ConfigError, MdeError, PermissionDenied, RetriesExhausted
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings, with_overrides

# One cheap call per API family, about a value MDE is unlikely to have seen.
PROBES: dict[str, str] = {
    "files": "0000000000000000000000000000000000000000",
    "ips": "192.0.2.1",  # TEST-NET-1, never routed
    "domains": "enrich-check.example.com",
}
NEEDED_ROLES: tuple[str, ...] = tuple(PERMISSIONS[f] for f in PROBES)
MODES: tuple[str, ...] = ("stats", "hunt", "auto")
GRAPH_ROLE = GRAPH_PERMISSIONS["hunting"]  # ThreatHunting.Read.All, in the Microsoft Graph token
LEGACY_ROLE = PERMISSIONS["hunting"]  # AdvancedQuery.Read.All, in the WindowsDefenderATP token
# What each entity family answers in stats mode (the words of the mode lines).
FAMILY_TYPES: dict[str, str] = {
    "files": "SHA-1 and SHA-256",
    "ips": "IPv4 and IPv6",
    "domains": "domains and URL hosts",
}
HUNT_ONLY = "MD5 hashes and full URLs"
CONSENT = "have an administrator grant admin consent"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    message: str
    counts: bool = True  # whether a failure here fails the check (False: information about another mode)


def run_check(
    settings: Settings, *, families: tuple[str, ...] = tuple(PROBES), mode: str = "auto"
) -> list[CheckResult]:
    """Run every check in order; later checks are skipped (and say so) when an earlier one fails.

    `mode`: the `--mode` whose needs decide which failures count (`stats`, `hunt` or `auto`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    results: list[CheckResult] = []
    missing = settings.missing_credentials()
    if missing:
        results.append(
            CheckResult(
                "credentials",
                False,
                "missing: " + ", ".join(missing) + " (set them in the environment or in a secrets.json "
                "with mde_tenant_id, mde_client_id, mde_client_secret, passed with --secrets)",
            )
        )
        return results
    how = "client certificate" if settings.client_certificate else "client secret"
    results.append(
        CheckResult(
            "credentials",
            True,
            f"tenant {settings.tenant_id}, application {settings.client_id}, {how}; cloud {settings.describe_cloud()}",
        )
    )

    provider = TokenProvider(settings)
    try:
        try:
            claims = provider.token_claims()
        except (AuthError, ConfigError) as exc:
            results.append(CheckResult("token", False, str(exc)))
            return results
        results.append(
            CheckResult(
                "token", True, "a token for the WindowsDefenderATP API was issued by " + settings.login_url
            )
        )
        results.extend(asyncio.run(_remote_checks(settings, provider, families, mode, claims)))
    finally:
        provider.close()
    return results


def token_roles(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The application roles of a token's claims, lower-cased; None when the token is not readable
    (not a JWT: its roles cannot be told, so every family is probed)."""
    if not claims:
        return None
    given = claims.get("roles")  # Entra leaves the claim out when the app holds no role
    return frozenset(str(role).lower() for role in given) if isinstance(given, list) else frozenset()


async def _remote_checks(
    settings: Settings,
    provider: TokenProvider,
    families: tuple[str, ...],
    mode: str,
    claims: Mapping[str, Any],
) -> list[CheckResult]:
    from enrich.mde.hunting import PATH_GRAPH, PATH_LEGACY, hunting_paths

    roles = token_roles(claims)
    quick = with_overrides(settings, max_retries=min(settings.max_retries, 2))
    budget = Budget(settings.rate_limits)
    async with MdeClient(quick, provider, budget, max_throttled=1) as client:
        try:
            paths = await hunting_paths(client)
        except MdeError as exc:
            paths = {PATH_GRAPH: str(exc), PATH_LEGACY: str(exc)}
        probes = await asyncio.gather(*(_probe(client, family, roles) for family in families))
    paths = {
        path: paths.get(path, "not reported by the hunting transport") for path in (PATH_GRAPH, PATH_LEGACY)
    }
    hunting = next((path for path in (PATH_GRAPH, PATH_LEGACY) if not paths[path]), None)
    stats_ok = {result.name.removeprefix("api:"): result.ok for result in probes}
    uses_stats = mode == "stats" or (mode == "auto" and hunting is None)

    results = [_roles(claims, roles, mode, hunting)]
    results.extend(CheckResult(r.name, r.ok, r.message, counts=uses_stats) for r in probes)
    results.append(_path_result("hunting:graph", paths[PATH_GRAPH], graph=True))
    results.append(_path_result("hunting:legacy", paths[PATH_LEGACY], graph=False))
    modes = {
        "stats": _stats_mode(stats_ok),
        "hunt": _hunt_mode(hunting, paths, PATH_GRAPH),
        "auto": _auto_mode(paths, PATH_GRAPH, stats_ok),
    }
    for name in MODES:
        ok, message = modes[name]
        results.append(CheckResult(f"mode:{name}", ok, message, counts=name == mode))
    return results


def _roles(
    claims: Mapping[str, Any], roles: frozenset[str] | None, mode: str, hunting: str | None
) -> CheckResult:
    """The MDE token's roles, failing when they lack what `mode` needs (hunting counts for hunt and auto)."""
    if roles is None:
        return CheckResult(
            "roles", True, "the token's roles cannot be read (not a JWT): the calls below tell", counts=False
        )
    given = claims.get("roles")
    carried = ", ".join(map(str, given)) if isinstance(given, list) and given else "none"
    lacking = [role for role in NEEDED_ROLES if role.lower() not in roles]
    if mode == "hunt" or (mode == "auto" and hunting is not None):
        if hunting is not None:
            return CheckResult("roles", True, f"the token carries {carried}; hunting is usable (below)")
        return CheckResult(
            "roles",
            False,
            f"hunting needs {GRAPH_ROLE} (application permission of Microsoft Graph) or {LEGACY_ROLE} "
            f"(of WindowsDefenderATP), and neither is usable (the MDE token has: {carried}); add one to the "
            f"app and {CONSENT}",
        )
    if not lacking:
        return CheckResult("roles", True, "the token carries " + ", ".join(NEEDED_ROLES))
    advice = (
        f"; or grant {GRAPH_ROLE} (Microsoft Graph) or {LEGACY_ROLE} for hunt mode, which needs none of them"
        if mode == "auto"
        else ""
    )
    return CheckResult(
        "roles",
        False,
        "the token lacks "
        + ", ".join(lacking)
        + f" (has: {carried}); add these application permissions of WindowsDefenderATP to the app and "
        + CONSENT
        + advice,
    )


def _path_result(name: str, why_not: str, *, graph: bool) -> CheckResult:
    if why_not:
        return CheckResult(name, False, why_not, counts=False)
    if graph:
        return CheckResult(
            name,
            True,
            f"usable: Microsoft Graph runHuntingQuery ({GRAPH_ROLE} in the Graph token)",
            counts=False,
        )
    return CheckResult(
        name, True, f"usable: MDE /api/advancedqueries/run ({LEGACY_ROLE} in the MDE token)", counts=False
    )


def _stats_mode(stats_ok: Mapping[str, bool]) -> tuple[bool, str]:
    failing = [family for family, ok in stats_ok.items() if not ok]
    answered = ", ".join(FAMILY_TYPES[f] for f, ok in stats_ok.items() if ok)
    if not failing:
        return True, f"answers {answered} (the statistics APIs); {HUNT_ONLY} are unsupported in this mode"
    lacking = "; ".join(f"{FAMILY_TYPES[f]} need {PERMISSIONS[f]} (api:{f} above)" for f in failing)
    return False, f"cannot answer every type: {lacking}" + (f"; it answers {answered}" if answered else "")


def _hunt_mode(hunting: str | None, paths: Mapping[str, str], graph: str) -> tuple[bool, str]:
    if hunting is None:
        return False, (
            f"no hunting path is usable: grant {GRAPH_ROLE} (Microsoft Graph, the primary path) or "
            f"{LEGACY_ROLE} (WindowsDefenderATP, the legacy endpoint, retired on 1 February 2027) and {CONSENT}"
        )
    if hunting == graph:
        return True, "answers every type (MD5 and full URLs too) through Microsoft Graph runHuntingQuery"
    return True, (
        "answers every type (MD5 and full URLs too) through the legacy /api/advancedqueries/run, which stops "
        f"returning data on 1 February 2027; Microsoft Graph is not usable ({paths.get(graph, '')}): grant "
        f"{GRAPH_ROLE} to move to it"
    )


def _auto_mode(paths: Mapping[str, str], graph: str, stats_ok: Mapping[str, bool]) -> tuple[bool, str]:
    """What `--mode auto` would pick with these hunting paths: its own decision (`AutoStrategy.decide`)."""
    from enrich.answering.auto import AutoStrategy

    auto = AutoStrategy()
    auto.decide(paths)
    if auto.hunts:
        where = "Microsoft Graph" if not paths.get(graph, "unknown") else "the legacy hunting endpoint"
        return True, f"would hunt every type through {where} (no statistics call needed)"
    ok, stats = _stats_mode(stats_ok)
    reason = f"no hunting path is usable ({GRAPH_ROLE} or {LEGACY_ROLE} missing)"
    if ok:
        return (
            True,
            f"would use the statistics APIs for every type: {reason}; {HUNT_ONLY} would be unsupported",
        )
    return False, f"{reason}, and stats mode {stats}"


async def _probe(client: MdeClient, family: str, roles: frozenset[str] | None) -> CheckResult:
    name = f"api:{family}"
    role = PERMISSIONS[family]
    if roles is not None and role.lower() not in roles:
        return CheckResult(
            name, False, f"not asked: the token lacks {role}, so MDE would answer 403 (no quota spent)"
        )
    path = f"/api/{family}/{segment(PROBES[family])}/stats"
    try:
        status, body = await client.get(family, path, {"lookBackHours": 24})
    except PermissionDenied as exc:
        return CheckResult(name, False, str(exc))
    except RetriesExhausted as exc:
        return CheckResult(name, False, f"{client.settings.api_url} did not answer usefully: {exc}")
    except MdeError as exc:
        return CheckResult(name, False, str(exc))
    if status in (200, 404):
        return CheckResult(
            name, True, f"{client.settings.api_url}/api/{family}/…/stats answered (HTTP {status})"
        )
    if status == 400:
        # The permission is fine (not 403); MDE only disliked the probe value.
        return CheckResult(
            name, True, f"reachable and permitted (HTTP 400 for the probe: {error_message(body)})"
        )
    return CheckResult(name, False, f"unexpected HTTP {status}: {error_message(body) or 'no message'}")
