"""Which hunting endpoint to ask: Microsoft Graph first, MDE's legacy endpoint when Graph is unusable.

A path is unusable when its token lacks the permission in its `roles` claim (Entra tokens are
JWTs; a token that is no JWT is tried), when signing in for its audience fails, or once it
answered 403, refused our token, or said it has no such route (404/405/410/501: a service or
proxy without hunting, a retired endpoint); from then on, for the rest of the run (the client's
life), the other path is used. The decision is kept per `MdeClient`. With no path left,
`no_path_error` says why: AuthError, PermissionDenied, or HuntingUnavailable (routes missing).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from enrich.mde.auth import GRAPH_SCOPE, TokenProvider, TokenSource, decode_jwt_claims
from enrich.mde.client import MdeClient
from enrich.mde.errors import AuthError, MdeError, PermissionDenied
from enrich.mde.hunting.interface import PATH_GRAPH, PATH_LEGACY

GRAPH_ROUTE = "/v1.0/security/runHuntingQuery"
LEGACY_ROUTE = "/api/advancedqueries/run"
PERMISSION = {PATH_GRAPH: "ThreatHunting.Read.All", PATH_LEGACY: "AdvancedQuery.Read.All"}
API_NAME = {PATH_GRAPH: "Microsoft Graph", PATH_LEGACY: "WindowsDefenderATP"}


class HuntingUnavailable(MdeError):
    """Advanced hunting cannot be used though the app may hunt: no hunting route (404/405/410/501)
    on any path left, or (`QueryRefused`) a family's queries are not understood. `statuses`: the
    HTTP statuses that said so."""

    def __init__(self, message: str, *, statuses: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.statuses = statuses


class QueryRefused(HuntingUnavailable):
    """The first query of a family was refused with a 400 that is not about its size or run time
    (e.g. "Failed to resolve table or column"): the service does not understand the query, so
    the family's other chunks would be refused alike."""

    def __init__(self, message: str, *, family: str, path: str, detail: str) -> None:
        super().__init__(message, statuses=(400,))
        self.family, self.path, self.detail = family, path, detail  # detail: what the service said


@dataclass
class _Paths:
    """One client's hunting paths: the Graph token source, and why a path is unusable ("" usable)."""

    graph_tokens: TokenSource
    reasons: dict[str, str] | None = None  # decided on first use
    errors: dict[str, MdeError] = field(default_factory=dict)  # the error behind a reason, if any
    lock: asyncio.Lock | None = None


_STATE: weakref.WeakKeyDictionary[MdeClient, _Paths] = weakref.WeakKeyDictionary()


def _state(client: MdeClient) -> _Paths:
    state = _STATE.get(client)
    if state is None:
        state = _STATE[client] = _Paths(TokenProvider(client.settings, scope=GRAPH_SCOPE))
    return state


def use_graph_tokens(client: MdeClient, tokens: TokenSource) -> None:
    """Make `tokens` the source of Graph tokens for `client` (before its first hunt)."""
    _state(client).graph_tokens = tokens


def graph_tokens(client: MdeClient) -> TokenSource:
    """The source of Graph-audience tokens `client` hunts with."""
    return _state(client).graph_tokens


def base_url(client: MdeClient, path: str) -> str:
    return client.settings.graph_url if path == PATH_GRAPH else client.settings.api_url


def tokens_for(client: MdeClient, path: str) -> TokenSource:
    return graph_tokens(client) if path == PATH_GRAPH else client.tokens


async def _reason(client: MdeClient, path: str, state: _Paths) -> str:
    """Why `path` cannot be used, from a token of its audience; "" when it can (or may: no JWT)."""
    tokens = tokens_for(client, path)
    try:
        token = tokens.cached_token() or await asyncio.to_thread(tokens.get_token)
        assert token is not None
    except AuthError as exc:
        state.errors[path] = exc
        audience = "Microsoft Graph" if path == PATH_GRAPH else "MDE"
        return f"signing in for {audience} failed: {exc}"
    claims = decode_jwt_claims(token)
    if not claims:
        return ""  # not a JWT: only a call can tell
    roles = claims.get("roles")
    granted = {str(role) for role in roles} if isinstance(roles, list) else set()
    if PERMISSION[path] in granted:
        return ""
    return f"the application lacks the {API_NAME[path]} application permission {PERMISSION[path]}"


async def hunting_paths(client: MdeClient) -> dict[str, str]:
    """PATH_GRAPH/PATH_LEGACY -> "" when usable, else why not; decided once per client from its tokens."""
    state = _state(client)
    if state.lock is None:
        state.lock = asyncio.Lock()
    async with state.lock:
        if state.reasons is None:
            state.reasons = {path: await _reason(client, path, state) for path in (PATH_GRAPH, PATH_LEGACY)}
        return dict(state.reasons)


def sign_in_error(client: MdeClient, path: str) -> AuthError | None:
    """The sign-in failure that made `path` unusable for `client` (None: it signed in, or not asked)."""
    error = _state(client).errors.get(path)
    return error if isinstance(error, AuthError) else None


def mark_unusable(client: MdeClient, path: str, reason: str, error: MdeError | None = None) -> None:
    """`path` is not to be used again by `client` (it answered 403, or refused our token)."""
    state = _state(client)
    reasons = state.reasons if state.reasons is not None else {PATH_GRAPH: "", PATH_LEGACY: ""}
    reasons[path] = reason
    state.reasons = reasons
    if error is not None:
        state.errors[path] = error


def no_path_error(client: MdeClient, tried: tuple[str, ...]) -> MdeError:
    """The error when no path of `tried` can be used: a sign-in failure as it was; HuntingUnavailable
    when a path's route is missing (no permission would help); else PermissionDenied."""
    state = _state(client)
    reasons = state.reasons or {}
    for path in (PATH_LEGACY, PATH_GRAPH):
        error = state.errors.get(path)
        if path in tried and isinstance(error, AuthError):
            return error
    why = "; ".join(f"{path}: {reasons.get(path) or 'not tried'}" for path in tried)
    missing = [e for p in tried if isinstance(e := state.errors.get(p), HuntingUnavailable)]
    if missing:
        statuses = tuple(sorted({status for error in missing for status in error.statuses}))
        return HuntingUnavailable(f"advanced hunting is not available ({why})", statuses=statuses)
    needed = " or ".join(f"{PERMISSION[path]} ({API_NAME[path]})" for path in tried)
    return PermissionDenied(
        f"advanced hunting is not available: the app needs the application permission {needed}, "
        f"granted with admin consent ({why})",
        family="hunting",
        permissions=tuple(PERMISSION[path] for path in tried),
    )
