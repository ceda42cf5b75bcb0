"""`enrich check`: a preflight that says in plain words what is missing before a night's run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from enrich.mde.auth import TokenProvider
from enrich.mde.client import PERMISSIONS, MdeClient, error_message, segment
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


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    message: str


def run_check(settings: Settings, *, families: tuple[str, ...] = tuple(PROBES)) -> list[CheckResult]:
    """Run every check in order; later checks are skipped (and say so) when an earlier one fails."""
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
            f"tenant {settings.tenant_id}, application {settings.client_id}, {how}; login at {settings.login_url}",
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

        given = claims.get("roles")
        roles: list = given if isinstance(given, list) else []
        held = {str(role).lower() for role in roles}
        lacking = [role for role in NEEDED_ROLES if role.lower() not in held]
        if lacking:
            results.append(
                CheckResult(
                    "roles",
                    False,
                    "the token lacks "
                    + ", ".join(lacking)
                    + " (has: "
                    + (", ".join(map(str, roles)) or "none")
                    + "); add these application permissions of WindowsDefenderATP to the app and have an "
                    "administrator grant admin consent",
                )
            )
        else:
            results.append(CheckResult("roles", True, "the token carries " + ", ".join(NEEDED_ROLES)))

        results.extend(asyncio.run(_probe_all(settings, provider, families)))
    finally:
        provider.close()
    return results


async def _probe_all(
    settings: Settings, provider: TokenProvider, families: tuple[str, ...]
) -> list[CheckResult]:
    quick = with_overrides(settings, max_retries=min(settings.max_retries, 2))
    budget = Budget(settings.rate_limits)
    async with MdeClient(quick, provider, budget, max_throttled=1) as client:
        return list(await asyncio.gather(*(_probe(client, family) for family in families)))


async def _probe(client: MdeClient, family: str) -> CheckResult:
    name = f"api:{family}"
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
