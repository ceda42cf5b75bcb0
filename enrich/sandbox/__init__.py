"""A faithful local emulator of Microsoft Defender for Endpoint (login, entity APIs, hunting).

from enrich.sandbox import Sandbox, SandboxConfig, ClientSpec
with Sandbox(SandboxConfig(seed=1, time_scale=60)) as sb:
    sb.base_url, sb.ca_file, sb.env(), sb.stats(), sb.truth("ips", "10.209.67.177")
"""

from enrich.sandbox.config import ClientSpec, SandboxConfig
from enrich.sandbox.server import Sandbox
from enrich.sandbox.stats import RequestRecord

__all__ = ["ClientSpec", "RequestRecord", "Sandbox", "SandboxConfig"]
