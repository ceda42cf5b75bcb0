"""The Microsoft clouds MDE runs in, and the regional API hosts of the global cloud, as data.

Each cloud names its sign-in host, its MDE API host, its Graph host and the App ID URIs
(resources) whose tokens those APIs accept; the scopes are built from those resources as
Microsoft's msticpy does (`f"{resource}/.default"`), so a token asked of one cloud is never sent
to another. Sources: research notes 1.6, 1.7, 2 and 10 (Microsoft's "Defender for Endpoint for US
Government customers" and "Microsoft Graph national cloud deployments" pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from enrich.errors import EXIT_USAGE, Scope
from enrich.mde.errors import ConfigError

DEFAULT_CLOUD = "global"


class CloudChoiceError(ConfigError):
    """An unknown cloud or region, or a region the cloud does not have: a usage error (exit code 2)."""

    exit_code: ClassVar[int] = EXIT_USAGE
    scope: ClassVar[Scope] = "job"


@dataclass(frozen=True)
class Cloud:
    """One Microsoft cloud: where to sign in, which hosts to call, which resources to ask tokens for."""

    name: str
    login_url: str
    api_url: str  # the MDE API host when no region is chosen
    graph_url: str
    mde_resource: str  # the App ID URI of the MDE API application ("WindowsDefenderATP") here
    graph_resource: str
    regions: Mapping[str, str] = field(default_factory=dict)  # region -> its MDE API host

    @property
    def mde_scope(self) -> str:
        return f"{self.mde_resource}/.default"

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_resource}/.default"

    def api_url_for(self, region: str | None) -> str:
        """The MDE API host for `region` (None: the cloud's own); CloudChoiceError for a region it lacks."""
        if not region:
            return self.api_url
        key = region.strip().lower()
        if key in self.regions:
            return self.regions[key]
        if not self.regions:
            raise CloudChoiceError(
                f"the {self.name} cloud has no regional API hosts; drop --region (MDE_REGION {region!r}) "
                f"or use --cloud global"
            )
        raise CloudChoiceError(
            f"unknown region {region!r} for the {self.name} cloud; the regions are {', '.join(self.regions)}"
        )


# The regional hosts Microsoft lists for performance (research 2): same paths, same token resource.
GLOBAL_REGIONS: dict[str, str] = {
    region: f"https://{region}.api.security.microsoft.com"
    for region in ("us", "eu", "uk", "au", "swa", "ina", "aea")
}

_GCC_API = "https://api-gcc.securitycenter.microsoft.us"
_GOV_API = "https://api-gov.securitycenter.microsoft.us"

CLOUDS: dict[str, Cloud] = {
    "global": Cloud(
        "global",
        login_url="https://login.microsoftonline.com",
        api_url="https://api.security.microsoft.com",
        graph_url="https://graph.microsoft.com",
        # MDE's docs ask for the legacy resource even when calling api.security.microsoft.com (1.6).
        mde_resource="https://api.securitycenter.microsoft.com",
        graph_resource="https://graph.microsoft.com",
        regions=GLOBAL_REGIONS,
    ),
    # GCC signs in with the commercial Entra ID and uses the global Graph, but its own MDE API.
    "gcc": Cloud(
        "gcc",
        login_url="https://login.microsoftonline.com",
        api_url=_GCC_API,
        graph_url="https://graph.microsoft.com",
        mde_resource=_GCC_API,
        graph_resource="https://graph.microsoft.com",
    ),
    "gcc-high": Cloud(
        "gcc-high",
        login_url="https://login.microsoftonline.us",
        api_url=_GOV_API,
        graph_url="https://graph.microsoft.us",
        mde_resource=_GOV_API,
        graph_resource="https://graph.microsoft.us",
    ),
    "dod": Cloud(
        "dod",
        login_url="https://login.microsoftonline.us",
        api_url=_GOV_API,
        graph_url="https://dod-graph.microsoft.us",
        mde_resource=_GOV_API,
        graph_resource="https://dod-graph.microsoft.us",
    ),
}
CLOUD_NAMES: tuple[str, ...] = tuple(CLOUDS)


def cloud_named(name: str | None) -> Cloud:
    """The cloud called `name` (None or empty: global); CloudChoiceError naming the choices otherwise."""
    key = (name or DEFAULT_CLOUD).strip().lower()
    try:
        return CLOUDS[key]
    except KeyError:
        raise CloudChoiceError(
            f"unknown cloud {name!r} (--cloud or MDE_CLOUD); the clouds are {', '.join(CLOUD_NAMES)}"
        ) from None


def region_names(cloud: str | None = None) -> tuple[str, ...]:
    """The regions of `cloud` (default: every region of any cloud)."""
    if cloud is not None:
        return tuple(cloud_named(cloud).regions)
    return tuple(dict.fromkeys(region for c in CLOUDS.values() for region in c.regions))


def cloud_choice(text: str) -> str:
    """`text` as a cloud's name (a job file's `cloud`); ValueError naming the clouds otherwise."""
    key = str(text).strip().lower()
    if key not in CLOUDS:
        raise ValueError(f"must be one of {', '.join(CLOUD_NAMES)}; got {text!r}")
    return key


def region_choice(text: str) -> str:
    """`text` as a region's name (a job file's `region`); ValueError naming the regions otherwise."""
    key = str(text).strip().lower()
    if key not in region_names():
        raise ValueError(f"must be one of {', '.join(region_names())}; got {text!r}")
    return key
