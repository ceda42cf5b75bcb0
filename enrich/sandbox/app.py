"""Routing and the request pipeline: route -> auth -> role -> forced 429 -> quota -> fault -> handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from enrich.sandbox.api import EntityApi
from enrich.sandbox.data import FAMILIES, Dataset
from enrich.sandbox.faults import Faults
from enrich.sandbox.login import ALL_MDE_AUDIENCES, Login, Tokens
from enrich.sandbox.quotas import HUNTING_FAMILIES, CpuQuota, Quotas, cpu_message
from enrich.sandbox.stats import RequestLog
from enrich.sandbox.wire import Request, Response, graph_error, json_response, mde_error, new_id

ALERT_ROLES = ("Alert.Read.All", "Alert.ReadWrite.All")
MACHINE_ROLES = ("Machine.Read.All", "Machine.ReadWrite.All")


@dataclass(frozen=True)
class Route:
    """A matched API route."""

    kind: str  # "mde" or "graph"
    family: str
    endpoint: str
    roles: tuple[str, ...]
    method: str
    handler: Callable[..., Response]
    args: tuple[str, ...] = ()


class App:
    """Everything the HTTP handler needs: the pipeline from a Request to a Response."""

    def __init__(
        self,
        config,
        data: Dataset,
        login: Login,
        tokens: Tokens,
        quotas: Quotas,
        faults: Faults,
        log: RequestLog,
        base_url: Callable[[], str],
        cpu: CpuQuota | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.login = login
        self.tokens = tokens
        self.quotas = quotas
        self.faults = faults
        self.log = log
        self.base_url = base_url
        self.cpu = cpu or CpuQuota(config.hunting_cpu_quota, config.time_scale)
        self.api = EntityApi(data, config)
        self.sleep: Callable[[float], object] = lambda s: None  # replaced by the server (interruptible)

    # --- entry point ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        seg = request.segments
        low = [s.lower() for s in seg]
        if low[:1] == ["_sandbox"]:
            return self._sandbox(request, low)
        if low[:1] == ["api"] or low[:2] in (["v1.0", "security"], ["beta", "security"]):
            resp = self._api(request, seg, low)
        else:
            resp = self._login(request, seg, low)
        self.log.add(
            request.method,
            request.path,
            resp.family,
            resp.endpoint,
            0 if resp.reset else resp.status,
            resp.client_id,
        )
        return resp

    # --- login ------------------------------------------------------------------------------

    def _login(self, request: Request, seg: list[str], low: list[str]) -> Response:
        host = request.headers.get("host")
        base = f"https://{host}" if host else self.base_url()
        endpoint, resp = "unknown", None
        if request.method == "GET" and low[:3] == ["common", "discovery", "instance"]:
            endpoint, resp = "discovery", self.login.instance_discovery(base, request)
        elif (
            request.method == "GET"
            and len(seg) == 4
            and low[1:] == ["v2.0", ".well-known", "openid-configuration"]
        ):
            endpoint, resp = (
                "openid-configuration",
                self.login.openid_configuration(base, seg[0], True, request),
            )
        elif request.method == "GET" and len(seg) == 3 and low[1:] == [".well-known", "openid-configuration"]:
            endpoint, resp = (
                "openid-configuration",
                self.login.openid_configuration(base, seg[0], False, request),
            )
        elif (
            len(seg) in (3, 4)
            and low[1] == "oauth2"
            and low[-1] == "token"
            and (len(seg) == 3 or low[2] == "v2.0")
        ):
            v2 = len(seg) == 4
            endpoint = "token" if v2 else "token_v1"
            if request.method != "POST":
                resp = json_response(405, {"error": "invalid_request", "error_description": "Use POST."})
            else:
                resp = self._token_fault(request) or self.login.token(base, seg[0], v2, request)
        if resp is None:
            resp = mde_error(404, "NotFound", f"No route for {request.method} {request.path}")
            resp.family = "other"
        else:
            resp.family = "login"
        resp.endpoint = endpoint
        return resp

    def _token_fault(self, request: Request) -> Response | None:
        kind = self.faults.token_fault()
        if kind is None:
            return None
        self.log.fault(kind)
        if kind == "token_slow":
            self.sleep(self.config.slow_seconds)
            return None
        from enrich.sandbox.login import aad_error

        if kind == "token_429":
            resp = aad_error(
                429,
                "temporarily_unavailable",
                50196,
                "The server terminated an operation because it encountered a client request loop.",
                request,
            )
            resp.headers.append(("Retry-After", "5"))
            return resp
        status = 500 if kind == "token_500" else 503
        return aad_error(
            status,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
            request,
        )

    # --- API --------------------------------------------------------------------------------

    def _route(self, request: Request, seg: list[str], low: list[str]) -> Route | None:
        a = self.api
        if low[0] in ("v1.0", "beta"):
            if low[1:] == ["security", "runhuntingquery"]:
                return Route(
                    "graph",
                    "graph_hunting",
                    "runHuntingQuery",
                    ("ThreatHunting.Read.All",),
                    "POST",
                    self._hunting_graph,
                )
            return None
        seg, low = seg[1:], low[1:]
        if low[:1] == ["v1.0"]:
            seg, low = seg[1:], low[1:]
        n = len(seg)
        if not n:
            return None
        head = low[0]
        if head == "files" and n in (2, 3):
            sub = low[2] if n == 3 else ""
            table = {
                "": ("files", ("File.Read.All",), a.file),
                "stats": ("files/stats", ("File.Read.All",), a.file_stats),
                "alerts": ("files/alerts", ALERT_ROLES, a.file_alerts),
                "machines": ("files/machines", MACHINE_ROLES, a.file_machines),
            }
            if sub in table:
                ep, roles, fn = table[sub]
                return Route("mde", "files", ep, roles, "GET", fn, (seg[1],))
        if head == "ips" and n == 3 and low[2] in ("stats", "alerts"):
            if low[2] == "stats":
                return Route("mde", "ips", "ips/stats", ("Ip.Read.All",), "GET", a.ip_stats, (seg[1],))
            return Route("mde", "ips", "ips/alerts", ALERT_ROLES, "GET", a.ip_alerts, (seg[1],))
        if head == "domains" and n == 3 and low[2] in ("stats", "alerts", "machines"):
            domain_fn, domain_roles = {
                "stats": (a.domain_stats, ("URL.Read.All",)),
                "alerts": (a.domain_alerts, ALERT_ROLES),
                "machines": (a.domain_machines, MACHINE_ROLES),
            }[low[2]]
            return Route("mde", "domains", f"domains/{low[2]}", domain_roles, "GET", domain_fn, (seg[1],))
        if head == "alerts":
            if n == 1:
                return Route("mde", "alerts", "alerts", ALERT_ROLES, "GET", a.alerts)
            if n == 2:
                return Route("mde", "alerts", "alerts/id", ALERT_ROLES, "GET", a.alert, (seg[1],))
            if n == 3 and low[2] == "files":
                return Route(
                    "mde", "alerts", "alerts/files", ("File.Read.All",), "GET", a.alert_files, (seg[1],)
                )
        if head == "machines":
            if n == 1:
                return Route("mde", "machines", "machines", MACHINE_ROLES, "GET", a.machines)
            if n == 2:
                return Route("mde", "machines", "machines/id", MACHINE_ROLES, "GET", a.machine, (seg[1],))
        if low == ["advancedqueries", "run"]:
            return Route(
                "mde",
                "hunting",
                "advancedqueries/run",
                ("AdvancedQuery.Read.All",),
                "POST",
                self._hunting_legacy,
            )
        return None

    def _api(self, request: Request, seg: list[str], low: list[str]) -> Response:
        route = self._route(request, seg, low)
        if route is None:
            resp = mde_error(404, "NotFound", f"No route for {request.method} {request.path}")
            resp.family, resp.endpoint = "other", "unknown"
            return resp
        resp, claims = self._pipeline(request, route)
        resp.family, resp.endpoint = route.family, route.endpoint
        resp.client_id = str(claims.get("appid", "")) if claims else ""
        client_request_id = request.headers.get("client-request-id")
        if route.kind == "graph" and client_request_id and not resp.reset:
            resp.headers.append(("client-request-id", client_request_id))  # Graph echoes it
        return resp

    def _pipeline(self, request: Request, route: Route) -> tuple[Response, dict | None]:
        graph = route.kind == "graph"
        if request.method != route.method:
            msg = f"The requested resource does not support http method '{request.method}'."
            bad = (
                graph_error(405, "Request_BadRequest", msg, request)
                if graph
                else mde_error(405, "BadRequest", msg)
            )
            return bad, None
        claims, failure = self._authorize(request, route)
        if failure:
            return failure, claims
        assert claims is not None  # _authorize returns claims whenever it reports no failure
        tenant, app = str(claims.get("tid", "")), str(claims.get("appid", ""))
        forced = self.faults.forced_429(route.family)
        if forced is not None:
            self.log.fault("forced_429")
            limit = self.quotas.limits_for(route.family)[0]
            return self._too_many(request, route, tenant, limit, "00:01:00", forced), claims
        refusal = self.quotas.admit(route.family, tenant, app)
        if refusal:
            return self._too_many(
                request, route, tenant, refusal.limit, refusal.window, refusal.retry_after, refusal.key
            ), claims
        hunting = route.family in HUNTING_FAMILIES
        if hunting:
            cpu_wait = self.cpu.check(tenant)
            if cpu_wait is not None:
                return self._cpu_exhausted(request, route, tenant, cpu_wait), claims
        fault = self.faults.api_fault(route.family)
        if fault:
            self.log.fault(fault)
        if fault == "reset":
            return Response(0, reset=True), claims
        if fault in ("500", "503"):
            return _server_error(request, graph, int(fault)), claims
        if fault == "preempted":
            return self._preempted(request, graph), claims
        resp = route.handler(request, *route.args)
        if hunting:
            self.cpu.charge(tenant, resp.cpu_seconds)
        if fault == "malformed":
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        delay = self.faults.delay()
        if fault == "slow":
            delay += self.config.slow_seconds
        resp.delay = delay
        if not graph:
            resp.headers.append(("OData-Version", "4.0"))
        return resp, claims

    def _authorize(self, request: Request, route: Route) -> tuple[dict | None, Response | None]:
        graph = route.kind == "graph"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            if graph:
                return None, graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", request)
            return None, _unauthorized("Authorization header with a Bearer token is missing.")
        claims, problem = self.tokens.verify(token)
        if claims is None:
            if graph:
                msg = (
                    "Lifetime validation failed, the token is expired."
                    if problem == "expired"
                    else "Access token validation failure."
                )
                return None, graph_error(401, "InvalidAuthenticationToken", msg, request)
            return None, _unauthorized(
                "The access token has expired." if problem == "expired" else "The access token is invalid."
            )
        roles = set(claims.get("roles") or [])
        aud = claims.get("aud")
        cloud = self.login.cloud
        if graph:
            if aud != cloud.graph_audience:
                return claims, graph_error(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                    request,
                )
            if not roles.intersection(route.roles):
                msg = (
                    f"Missing application roles. API required roles: {', '.join(route.roles)}. "
                    f"Application roles: {', '.join(sorted(roles)) or 'none'}."
                )
                return claims, graph_error(403, "Forbidden", msg, request)
            return claims, None
        if aud in ALL_MDE_AUDIENCES and aud not in cloud.mde_audiences:
            # a token for another cloud's MDE API: the audience is not this API's
            return None, _unauthorized(f"The access token audience {aud} is not valid for {cloud.api_host}.")
        if aud not in cloud.mde_audiences or not roles.intersection(route.roles):
            if self.config.forbidden_wording == "roles":  # the wording a 2026 Q&A thread quotes
                msg = f"Missing application roles. API required roles: {', '.join(route.roles)}"
            else:
                msg = (
                    f"The application does not have any of the required application permissions "
                    f"({', '.join(route.roles)}) to access the resource."
                )
            return claims, mde_error(403, "Forbidden", msg, str(claims.get("tid", "")) or None)
        return claims, None

    def _too_many(
        self,
        request: Request,
        route: Route,
        tenant: str,
        limit: int,
        window: str,
        retry_after: int,
        key: str | None = None,
    ) -> Response:
        if key is None:
            key = "Destination+TenantID" if route.family in HUNTING_FAMILIES else "Destination+TenantID+AppID"
        message = (
            f"API calls quota exceeded! Maximum allowed {limit} per {window} for the key "
            f"{key}. You can send requests again in {retry_after} seconds."
        )
        return self._429(request, route, tenant, message, retry_after)

    def _cpu_exhausted(self, request: Request, route: Route, tenant: str, retry_after: int) -> Response:
        return self._429(request, route, tenant, cpu_message(self.cpu.quota, retry_after), retry_after)

    def _429(self, request: Request, route: Route, tenant: str, message: str, retry_after: int) -> Response:
        headers = [("Retry-After", str(retry_after))]
        if route.kind == "graph":
            return graph_error(429, "TooManyRequests", message, request, headers)
        return json_response(429, {"error": {"code": "429", "message": message, "target": tenant}}, headers)

    def _preempted(self, request: Request, graph: bool) -> Response:
        from enrich.sandbox import hunting

        if graph:
            rid = new_id()
            answer = hunting.preempted_graph(
                self.data.now_datetime(), rid, request.headers.get("client-request-id")
            )
            return json_response(answer.status, answer.body, [("request-id", rid)])
        answer = hunting.preempted_legacy()
        return json_response(answer.status, answer.body)

    # --- hunting ----------------------------------------------------------------------------

    def _hunting_limits(self, graph: bool):
        from enrich.sandbox.hunting import GRAPH_QUERY_TIMEOUT, QUERY_TIMEOUT, HuntingLimits

        cfg = self.config
        timeout = cfg.hunting_timeout
        if timeout is None:
            timeout = GRAPH_QUERY_TIMEOUT if graph else QUERY_TIMEOUT
        return HuntingLimits(cfg.hunting_max_rows, cfg.hunting_max_result_bytes, timeout)

    def _hunting_legacy(self, request: Request) -> Response:
        from enrich.sandbox import hunting

        answer = hunting.answer_legacy(
            request.body,
            self.data.tables,
            self.data.now_datetime(),
            limits=self._hunting_limits(graph=False),
            file_profile=self.data.file_profile,
        )
        resp = json_response(answer.status, answer.body)
        resp.cpu_seconds = answer.cpu_seconds
        return resp

    def _hunting_graph(self, request: Request) -> Response:
        from enrich.sandbox import hunting

        rid = new_id()
        answer = hunting.answer_graph(
            request.body,
            self.data.tables,
            self.data.now_datetime(),
            limits=self._hunting_limits(graph=True),
            request_id=rid,
            client_request_id=request.headers.get("client-request-id"),
            file_profile=self.data.file_profile,
        )
        resp = json_response(answer.status, answer.body, [("request-id", rid)])
        resp.cpu_seconds = answer.cpu_seconds
        return resp

    # --- sandbox control --------------------------------------------------------------------

    def _sandbox(self, request: Request, low: list[str]) -> Response:
        if low == ["_sandbox", "stats"]:
            return json_response(
                200,
                {
                    **self.log.snapshot(),
                    "hunting_cpu_seconds": self.cpu.snapshot(),
                    "data": self.data.summary(),
                },
            )
        if low == ["_sandbox", "truth"]:
            family, key = request.param("family") or "", request.param("key") or ""
            if family not in FAMILIES or not key:
                return mde_error(
                    400, "InvalidInput", f"family must be one of {', '.join(FAMILIES)}; key is required"
                )
            try:
                hours = int(request.param("lookBackHours") or 720)
            except ValueError:
                return mde_error(400, "InvalidInput", "lookBackHours must be an integer")
            return json_response(
                200, {"family": family, "key": key, "truth": self.data.truth(family, key, hours)}
            )
        if low == ["_sandbox", "seen"]:
            wanted = request.param("family")
            return json_response(200, {"value": [list(k) for k in self.data.seen_keys(wanted)]})
        return mde_error(404, "NotFound", "Unknown sandbox control endpoint (try /_sandbox/stats).")


def _server_error(request: Request, graph: bool, status: int) -> Response:
    """An injected 500 or 503, in Graph's envelope or MDE's."""
    if graph:
        code = "UnknownError" if status == 500 else "ServiceUnavailable"
        return graph_error(status, code, "" if status == 500 else "Service unavailable.", request)
    if status == 500:
        return mde_error(500, "InternalServerError", "An error has occurred.")
    return mde_error(
        503,
        "ServiceUnavailable",
        "The server temporarily failed to handle the request. Try sending the HTTP request again.",
        headers=[("Retry-After", "1")],
    )


def _unauthorized(message: str) -> Response:
    return mde_error(
        401,
        "Unauthorized",
        f"Unauthorized. {message}",
        headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
    )
