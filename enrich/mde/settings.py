"""Configuration of the MDE client: flags override the environment, which overrides secrets.json."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from enrich import units
from enrich.mde.clouds import DEFAULT_CLOUD, Cloud, cloud_named
from enrich.mde.errors import ConfigError, scrub
from enrich.units import DEFAULT_RATE_LIMIT

log = logging.getLogger(__name__)

ENTITY_FAMILIES: tuple[str, ...] = ("files", "ips", "domains")
# The families a rate limit may name (`hunting=45/min`); the entity families share an unnamed part.
RATE_LIMIT_FAMILIES: tuple[str, ...] = (*ENTITY_FAMILIES, "hunting", "hunting-graph")
# Legacy advanced hunting (`/api/advancedqueries/run`): 45/min and 1,500/hour per tenant.
DEFAULT_HUNTING_RATE_LIMIT = "45/min,1500/hour"
# Microsoft Graph runHuntingQuery: "at least 45 calls per minute per tenant", no hourly cap stated.
DEFAULT_GRAPH_HUNTING_RATE_LIMIT = "45/min"
# Families whose quota MDE counts per tenant, whatever the application (hunting): budget_store.py.
TENANT_FAMILIES: frozenset[str] = frozenset({"hunting", "hunting-graph"})
# The global cloud's hosts (enrich.mde.clouds); another --cloud or --region picks others.
DEFAULT_API_URL = "https://api.security.microsoft.com"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
# The hosts a cloud (and region) decides unless set: Connection field -> the Cloud's value for it.
_CLOUD_HOSTS: tuple[str, ...] = ("api_url", "login_url", "graph_url")

RateLimits = dict[str, list[tuple[int, float]]]

# Environment variable for each Settings field the environment may set.
ENV_VARS: dict[str, str] = {
    "cloud": "MDE_CLOUD",
    "region": "MDE_REGION",
    "tenant_id": "MDE_TENANT_ID",
    "client_id": "MDE_CLIENT_ID",
    "client_secret": "MDE_CLIENT_SECRET",
    "client_certificate": "MDE_CLIENT_CERTIFICATE",
    "api_url": "MDE_API_URL",
    "login_url": "MDE_LOGIN_URL",
    "graph_url": "MDE_GRAPH_URL",
    "ca_bundle": "MDE_CA_BUNDLE",
    "rate_limit": "MDE_RATE_LIMIT",
}
# Keys of secrets.json for each field.
SECRETS_KEYS: dict[str, str] = {
    "tenant_id": "mde_tenant_id",
    "client_id": "mde_client_id",
    "client_secret": "mde_client_secret",
    "client_certificate": "mde_client_certificate",
}


@dataclass(frozen=True)
class Connection:
    """A tenant's connection: credentials, cloud, hosts and the CA to trust. The secret is kept out of repr.

    `cloud` (global, gcc, gcc-high, dod) and `region` (global cloud only: us, eu, uk, au, ...)
    decide the hosts left empty and, always, the token scopes (`mde_scope`, `graph_scope`): a
    host given (MDE_API_URL, a test double) changes where calls go, never which resource the
    tokens are for.
    """

    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    client_certificate: str | None = None  # PEM file holding the private key and the certificate
    api_url: str = ""  # "" = the cloud's (or the region's) API host
    login_url: str = ""  # "" = the cloud's sign-in host
    graph_url: str = ""  # "" = the cloud's Graph host
    ca_bundle: str | None = None
    cloud: str = DEFAULT_CLOUD
    region: str | None = None

    def __post_init__(self) -> None:
        cloud = cloud_named(self.cloud)
        object.__setattr__(self, "cloud", cloud.name)
        region = (self.region or "").strip().lower() or None
        object.__setattr__(self, "region", region)
        chosen = {
            "api_url": cloud.api_url_for(region),
            "login_url": cloud.login_url,
            "graph_url": cloud.graph_url,
        }
        for name in _CLOUD_HOSTS:
            given = getattr(self, name)
            object.__setattr__(self, name, _check_https(name, given if given else chosen[name]))
        for name, var in (("ca_bundle", "MDE_CA_BUNDLE"), ("client_certificate", "MDE_CLIENT_CERTIFICATE")):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise ConfigError(f"{var} points to {path!r}, which is not a readable file")

    @property
    def authority(self) -> str:
        return f"{self.login_url}/{self.tenant_id}"

    @property
    def cloud_info(self) -> Cloud:
        """The `enrich.mde.clouds.Cloud` this connection is in."""
        return cloud_named(self.cloud)

    @property
    def mde_scope(self) -> str:
        """The scope of MDE API tokens in this cloud (e.g. https://api.securitycenter.microsoft.com/.default)."""
        return self.cloud_info.mde_scope

    @property
    def graph_scope(self) -> str:
        """The scope of Microsoft Graph tokens in this cloud (e.g. https://graph.microsoft.us/.default)."""
        return self.cloud_info.graph_scope

    def describe_cloud(self) -> str:
        """One line: the cloud (and region), the hosts called and the token scopes (`enrich check`)."""
        region = f", region {self.region}" if self.region else ""
        return (
            f"{self.cloud}{region}: login {self.login_url}, MDE API {self.api_url}, Graph {self.graph_url}; "
            f"tokens for {self.mde_scope} and {self.graph_scope}"
        )

    def secrets(self) -> tuple[str, ...]:
        """The values no log, message or output may show (register them with `register_secret`)."""
        return (self.client_secret,) if self.client_secret else ()

    def missing_credentials(self) -> list[str]:
        """Names of the variables still to set for a token (empty when complete)."""
        missing = []
        if not self.tenant_id:
            missing.append("MDE_TENANT_ID")
        if not self.client_id:
            missing.append("MDE_CLIENT_ID")
        if not self.client_secret and not self.client_certificate:
            missing.append("MDE_CLIENT_SECRET (or MDE_CLIENT_CERTIFICATE)")
        return missing

    def require_credentials(self) -> None:
        """Raise ConfigError naming what to set when credentials are incomplete."""
        missing = self.missing_credentials()
        if missing:
            raise ConfigError(
                "MDE credentials are missing: set "
                + ", ".join(missing)
                + " in the environment, or put mde_tenant_id, mde_client_id and mde_client_secret "
                "in a secrets.json passed with --secrets"
            )


@dataclass(frozen=True)
class ClientOptions:
    """How the client calls MDE: budgets per API family, requests in flight, time-outs, retries."""

    rate_limits: RateLimits = field(default_factory=lambda: parse_rate_limits(DEFAULT_RATE_LIMIT))
    concurrency: int = 8
    timeout: float = 30.0
    max_retries: int = 6

    def __post_init__(self) -> None:
        if int(self.concurrency) < 1:
            raise ConfigError(f"concurrency must be at least 1; got {self.concurrency}")
        if float(self.timeout) <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds; got {self.timeout}")
        if int(self.max_retries) < 0:
            raise ConfigError(f"max retries must be 0 or more; got {self.max_retries}")


@dataclass(frozen=True)
class Settings(ClientOptions, Connection):
    """One tenant's connection with the client's options: everything an `MdeClient` needs.

    Parts that need only one half take it by its type (`TokenProvider` a `Connection`).
    """

    def __post_init__(self) -> None:
        Connection.__post_init__(self)
        ClientOptions.__post_init__(self)

    @property
    def connection(self) -> Connection:
        return Connection(**{f.name: getattr(self, f.name) for f in fields(Connection)})

    @property
    def options(self) -> ClientOptions:
        return ClientOptions(**{f.name: getattr(self, f.name) for f in fields(ClientOptions)})


def _check_https(name: str, url: str) -> str:
    url = (url or "").strip().rstrip("/")
    var = ENV_VARS.get(name, name)
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigError(
            f"{var} must be an https:// address such as https://host.example; got {url!r} "
            "(plain http is refused because tokens would travel in clear)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{var} must not contain a query or fragment; got {url!r}")
    return url


def parse_rate_limit(spec: str) -> list[tuple[int, float]]:
    """`units.parse_rate_limit`, raising ConfigError."""
    try:
        return units.parse_rate_limit(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def parse_rate_limits(spec: str) -> RateLimits:
    """Per-family limits: `"100/min,1500/hour"` applies to files, ips and domains.

    Parts separated by `;` may name a family: `"100/min,1500/hour;hunting=45/min,1500/hour"`.
    Families not named keep their defaults (hunting, the legacy hunting endpoint: 45/min,
    1500/hour; hunting-graph, Graph's runHuntingQuery: 45/min). A family that is not one
    of `RATE_LIMIT_FAMILIES` is a ConfigError naming them (a typo must not leave a limit unset).
    """
    result: RateLimits = {
        "hunting": parse_rate_limit(DEFAULT_HUNTING_RATE_LIMIT),
        "hunting-graph": parse_rate_limit(DEFAULT_GRAPH_HUNTING_RATE_LIMIT),
    }
    entity = parse_rate_limit(DEFAULT_RATE_LIMIT)
    named: RateLimits = {}
    for chunk in (spec or "").split(";"):
        if not chunk.strip():
            continue
        if "=" in chunk:
            family, _, limits = chunk.partition("=")
            family = family.strip().lower()
            if family not in RATE_LIMIT_FAMILIES:
                raise ConfigError(
                    f"unknown API family {family!r} in the rate limit {chunk.strip()!r}; "
                    f"the families are {', '.join(RATE_LIMIT_FAMILIES)} (e.g. domains=50/min)"
                )
            named[family] = parse_rate_limit(limits)
        else:
            entity = parse_rate_limit(chunk)
    for family in ENTITY_FAMILIES:
        result[family] = list(entity)
    result.update(named)
    return result


def rate_limit_spec(spec: str) -> str:
    """`spec` unchanged once `parse_rate_limits` accepts it; ValueError with the reason otherwise.

    What `run --rate-limit` and a job's `rate_limit` check when they are read (a usage error then,
    not a failure once the run has started).
    """
    try:
        parse_rate_limits(spec)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return spec


def _read_secrets_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"the secrets file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the secrets file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the secrets file {path} is not valid JSON (line {exc.lineno}): {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"the secrets file {path} must hold a JSON object with mde_tenant_id, mde_client_id, ..."
        )
    try:
        mode = os.stat(path).st_mode
        if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("the secrets file %s is readable by other users; consider chmod 600 %s", path, path)
    except OSError:
        pass
    out: dict[str, str] = {}
    for name, key in SECRETS_KEYS.items():
        value = data.get(key)
        if value not in (None, ""):
            out[name] = str(value)
    return out


_FIELDS = frozenset(f.name for f in fields(Settings))


def load_settings(
    secrets_file: str | None = None,
    *,
    require_credentials: bool = True,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build Settings from (lowest to highest) defaults, secrets.json, the environment, `overrides`.

    `overrides` are Settings field names (as click passes them; None means "not given"); the
    rate limit may be given as `rate_limit="100/min,1500/hour"` or as parsed `rate_limits`.
    Raises ConfigError, naming the variables to set, when credentials are missing and
    `require_credentials` is true.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if secrets_file:
        values.update(_read_secrets_file(secrets_file))
    for name, var in ENV_VARS.items():
        text = env.get(var)
        if text is not None and text.strip() != "":
            values[name] = text.strip() if name != "client_secret" else text
    for name, given in overrides.items():
        if given is None:
            continue
        if name != "rate_limit" and name not in _FIELDS:
            raise TypeError(f"load_settings() got an unexpected setting {name!r}")
        values[name] = given
    spec = values.pop("rate_limit", None)
    if spec is not None and "rate_limits" not in overrides:
        values["rate_limits"] = parse_rate_limits(str(spec))
    try:
        for name, cast in (
            ("concurrency", int),
            ("max_retries", int),
            ("timeout", float),
        ):
            if name in values:
                values[name] = cast(values[name])
    except ValueError as exc:
        raise ConfigError(f"a numeric setting is not a number: {exc}") from None
    try:
        settings = Settings(**values)
    except ConfigError as exc:  # a secret pasted where a URL or a path belongs must not be echoed
        raise type(exc)(scrub(str(exc), also=[str(values.get("client_secret") or "")])) from None
    if require_credentials:
        settings.require_credentials()
    return settings


def with_overrides(settings: Settings, **changes: object) -> Settings:
    """A copy of `settings` with some fields changed (validated again)."""
    return replace(settings, **changes)  # type: ignore[arg-type]
