"""Sandbox settings: the server knobs (`SandboxConfig`) and the registered apps (`ClientSpec`)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Application roles of the WindowsDefenderATP resource the sandbox knows about.
MDE_ROLES: frozenset[str] = frozenset(
    {
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
        "Alert.Read.All",
        "Alert.ReadWrite.All",
        "Machine.Read.All",
        "Machine.ReadWrite.All",
        "AdvancedQuery.Read.All",
        "Ti.ReadWrite",
        "Ti.ReadWrite.All",
    }
)
# Application roles of Microsoft Graph the sandbox knows about.
GRAPH_ROLES: frozenset[str] = frozenset({"ThreatHunting.Read.All"})

DEFAULT_ROLES: tuple[str, ...] = (
    "File.Read.All",
    "Ip.Read.All",
    "URL.Read.All",
    "Alert.Read.All",
    "Machine.Read.All",
    "AdvancedQuery.Read.All",
    "ThreatHunting.Read.All",
)

# Fault kinds applied to API requests (rates per request), and to the token endpoints.
API_FAULTS: tuple[str, ...] = ("500", "503", "reset", "malformed", "slow", "preempted")
# Fault kinds that only the advanced-hunting routes can get ("preempted": MDE's 400 for a query
# stopped for its CPU or memory use); on other routes they draw as no fault.
HUNTING_ONLY_FAULTS: frozenset[str] = frozenset({"preempted"})
# API families a fault may be limited to (`fault_families`).
FAULT_FAMILIES: tuple[str, ...] = (
    "files",
    "ips",
    "domains",
    "alerts",
    "machines",
    "hunting",
    "graph_hunting",
)
CLOUDS: tuple[str, ...] = ("global", "gcc", "gcc-high", "dod")
# Most tenants one sandbox serves (`SandboxConfig.tenants`, `enrich sandbox --tenants`).
MAX_TENANTS = 1000
TOKEN_FAULTS: tuple[str, ...] = ("token_429", "token_500", "token_503", "token_slow")


@dataclass(frozen=True)
class ClientSpec:
    """One app registration: its id, secret, tenant and granted application roles.

    `roles` lists MDE and Graph roles together; a token only carries the roles of its audience.
    `certificate_pem` (a PEM certificate) lets the app authenticate with a signed client
    assertion (RS256 or PS256) instead of the secret. `secret_expired` makes a correct secret
    fail with AADSTS7000222.
    """

    client_id: str
    secret: str
    tenant_id: str
    roles: tuple[str, ...] = DEFAULT_ROLES
    secret_expired: bool = False
    certificate_pem: str | None = None
    display_name: str = "enrich-sandbox"


@dataclass
class SandboxConfig:
    """Knobs of one sandbox server.

    `time_scale` speeds up the quota clock: with 60, a one-minute quota window lasts one real
    second and Retry-After values shrink accordingly. Limits are (per minute, per hour) for each
    (API family, tenant, app). `faults` maps a fault kind (`500`, `503`, `reset`, `malformed`,
    `slow`, and for the token endpoints `token_429`, `token_500`, `token_503`, `token_slow`) to
    its rate per request. `lookback_policy` says what a `lookBackHours` outside 1..720 gets:
    `"reject"` (400 InvalidInput) or `"clamp"`. `md5_policy` says what `/api/files/{md5}` gets:
    `"reject"` (400 InvalidHashValue) or `"accept"` (looked up like SHA-1/SHA-256).
    `forbidden_wording` says how an MDE 403 for a missing role is worded (both are observed):
    `"permissions"` ("The application does not have any of the required application permissions
    (X, Y) to access the resource.") or `"roles"` ("Missing application roles. API required
    roles: X, Y"). Graph's 403 always uses the roles wording.
    `sample_dir` is scanned for indicators to seed the dataset (None: the repository's
    `sample_data/` when present, "" to skip).

    Advanced hunting (`enrich.sandbox.hunting`, `enrich.sandbox.quotas`): `hunting_limits` is
    the legacy endpoint's (per minute, per hour) call quota and `graph_hunting_limits` Graph's
    (per minute, per hour or None: no hourly cap; None as a whole: the legacy per-minute quota,
    no hourly cap); both count per tenant, each endpoint on its own. `hunting_max_rows` cuts
    longer results; a result over `hunting_max_result_bytes` is a 400; a query whose modelled
    run time exceeds `hunting_timeout` seconds (None: 200 legacy, 180 Graph) is a 504; each tenant may spend
    `hunting_cpu_quota` modelled CPU seconds per 15-minute cycle (scaled by `time_scale`), then
    gets 429 until the cycle ends. `fault_families` limits the `faults` to those API families
    (None: every family). `cloud` picks the audiences and hosts served (global, gcc, gcc-high, dod).

    `tenants` is how many tenants (each with one app registration) the sandbox serves when
    `clients` is not given: the first is `server.default_client(seed)`, the others are made from
    the seed too (`server.tenant_clients`). Every tenant sees the same data; quotas count per
    tenant (and app), so each tenant has the whole of `entity_limits` and `hunting_limits`.
    """

    port: int = 0
    seed: int = 1
    time_scale: float = 1.0
    entity_limits: tuple[int, int] = (100, 1500)
    hunting_limits: tuple[int, int] = (45, 1500)
    token_lifetime: int = 3599
    latency: tuple[float, float] = (0.0, 0.0)
    faults: dict[str, float] = field(default_factory=dict)
    slow_seconds: float = 30.0
    data_file: str | None = None
    clients: list[ClientSpec] | None = None
    lookback_policy: str = "reject"
    md5_policy: str = "reject"
    forbidden_wording: str = "permissions"
    sample_dir: str | None = None
    host: str = "127.0.0.1"
    graph_hunting_limits: tuple[int, int | None] | None = None
    hunting_max_rows: int = 100_000
    hunting_max_result_bytes: int = 50 * 1024 * 1024
    hunting_timeout: float | None = None
    hunting_cpu_quota: float = 150.0
    fault_families: tuple[str, ...] | None = None
    cloud: str = "global"
    tenants: int = 1

    def validate(self) -> None:
        """Raise ValueError for settings the server cannot honour."""
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        for name in ("entity_limits", "hunting_limits"):
            per_min, per_hour = getattr(self, name)
            if per_min < 1 or per_hour < 1:
                raise ValueError(f"{name} must be positive")
        lo, hi = self.latency
        if lo < 0 or hi < lo:
            raise ValueError("latency must be MIN,MAX with 0 <= MIN <= MAX")
        for kind, rate in self.faults.items():
            if kind not in API_FAULTS + TOKEN_FAULTS:
                known = ", ".join(API_FAULTS + TOKEN_FAULTS)
                raise ValueError(f"unknown fault {kind!r} (known: {known})")
            if not 0 <= rate <= 1:
                raise ValueError(f"fault rate for {kind} must be within 0..1")
        if sum(r for k, r in self.faults.items() if k in API_FAULTS) > 1:
            raise ValueError("API fault rates add up to more than 1")
        if self.lookback_policy not in ("reject", "clamp"):
            raise ValueError("lookback_policy must be 'reject' or 'clamp'")
        if self.md5_policy not in ("reject", "accept"):
            raise ValueError("md5_policy must be 'reject' or 'accept'")
        if self.forbidden_wording not in ("permissions", "roles"):
            raise ValueError("forbidden_wording must be 'permissions' or 'roles'")
        if self.token_lifetime < 1:
            raise ValueError("token_lifetime must be >= 1 second")
        if self.graph_hunting_limits is not None:
            per_min, per_hour = self.graph_hunting_limits
            if per_min < 1 or (per_hour is not None and per_hour < 1):
                raise ValueError("graph_hunting_limits must be positive")
        if self.hunting_max_rows < 1:
            raise ValueError("hunting_max_rows must be >= 1")
        if self.hunting_max_result_bytes < 1:
            raise ValueError("hunting_max_result_bytes must be >= 1 byte")
        if self.hunting_timeout is not None and not self.hunting_timeout > 0:
            raise ValueError("hunting_timeout must be > 0 seconds")
        if not self.hunting_cpu_quota > 0:
            raise ValueError("hunting_cpu_quota must be > 0 CPU seconds")
        for family in self.fault_families or ():
            if family not in FAULT_FAMILIES:
                raise ValueError(f"unknown fault family {family!r} (known: {', '.join(FAULT_FAMILIES)})")
        if not 1 <= self.tenants <= MAX_TENANTS:
            raise ValueError(f"tenants must be between 1 and {MAX_TENANTS}; got {self.tenants}")
        if self.cloud not in CLOUDS:
            raise ValueError(f"unknown cloud {self.cloud!r} (known: {', '.join(CLOUDS)})")
