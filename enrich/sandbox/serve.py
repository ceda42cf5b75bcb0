"""The body of `enrich sandbox`: option parsing helpers and the foreground server loop."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterable

from enrich.sandbox.config import SandboxConfig
from enrich.sandbox.quotas import minute_hour_quota
from enrich.sandbox.server import Sandbox
from enrich.units import parse_rate_limit


def parse_quota(spec: str, default: tuple[int, int]) -> tuple[int, int]:
    """`--rate-limit` of `enrich sandbox`, in the grammar of `enrich run --rate-limit`.

    '100/min,1500/hour' -> (100, 1500); '10/s' -> (600, default per hour); '100/1s,1500/60s'
    -> (1500, default per hour). A blank spec keeps `default`. Grammar errors read as in
    `enrich run` (`units.parse_rate_limit`); a window that divides neither a minute nor an hour
    evenly is refused (`quotas.minute_hour_quota`).
    """
    return minute_hour_quota(parse_rate_limit(spec), default) if spec.strip() else default


def parse_graph_quota(spec: str) -> tuple[int, int | None] | None:
    """`--graph-hunting-rate-limit`: (per minute, per hour or None) for a spec, None for a blank
    one (Graph then takes the legacy per-minute quota with no hourly cap)."""
    if not spec.strip():
        return None
    per_minute, per_hour = minute_hour_quota(parse_rate_limit(spec), (45, 0))
    return per_minute, per_hour or None


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """'50MB' -> 52428800 (KB, MB, GB count 1024s, as in MDE's "50 MB"); '2000' -> 2000 bytes."""
    match = _SIZE_RE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"cannot read size {text!r}; expected e.g. 50MB, 64KB or 2000 (bytes)")
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise ValueError(f"size {text!r} must be at least 1 byte")
    return size


def parse_faults(items: Iterable[str]) -> dict[str, float]:
    """['500=0.05', 'reset=0.02,slow=0.01'] -> {'500': 0.05, 'reset': 0.02, 'slow': 0.01}."""
    faults: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            kind, sep, rate = part.partition("=")
            if not sep:
                raise ValueError(f"cannot read fault {part!r}; expected KIND=RATE, e.g. 503=0.05")
            try:
                faults[kind.strip()] = float(rate)
            except ValueError:
                raise ValueError(f"fault rate {rate!r} is not a number") from None
    return faults


def parse_latency(text: str) -> tuple[float, float]:
    """'0.01,0.05' -> (0.01, 0.05); a single value means a fixed latency."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"cannot read latency {text!r}; expected MIN,MAX in seconds") from None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise ValueError(f"cannot read latency {text!r}; expected MIN,MAX in seconds")


def exports(sb: Sandbox) -> list[str]:
    """`export NAME=value` lines for a POSIX shell."""
    return [f"export {name}={shlex.quote(value)}" for name, value in sb.env().items()]


def tenant_lines(sb: Sandbox) -> list[str]:
    """One `# tenant N: ...` line per tenant served (its tenant id, client id and secret), for a
    multi-tenant sandbox; the export lines hold the first tenant's."""
    if len(sb.clients) < 2:
        return []
    per_min, per_hour = sb.config.entity_limits
    hunt_min, hunt_hour = sb.config.hunting_limits
    lines = [
        f"# {len(sb.clients)} tenants, the same data for each; quotas per tenant and app: "
        f"{per_min}/min and {per_hour}/hour per entity API family, hunting {hunt_min}/min and "
        f"{hunt_hour}/hour per tenant"
    ]
    for number, client in enumerate(sb.clients, start=1):
        lines.append(
            f"# tenant {number}: MDE_TENANT_ID={client.tenant_id} MDE_CLIENT_ID={client.client_id} "
            f"MDE_CLIENT_SECRET={shlex.quote(client.secret)}"
        )
    return lines


def tenant_secrets_name(number: int) -> str:
    """The secrets file of tenant `number` (from 1) that `--secrets-dir` writes: tenant-1.json, ..."""
    return f"tenant-{number}.json"


def write_tenant_secrets(sb: Sandbox, folder: str) -> list[str]:
    """One secrets.json per tenant served (mode 0600) in `folder` (created); the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for number, client in enumerate(sb.clients, start=1):
        path = os.path.join(folder, tenant_secrets_name(number))
        body = {
            "mde_tenant_id": client.tenant_id,
            "mde_client_id": client.client_id,
            "mde_client_secret": client.secret,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
            handle.write("\n")
        written.append(path)
    return written


def serve(
    config: SandboxConfig,
    out: Callable[[str], None],
    err: Callable[[str], None],
    stop: threading.Event | None = None,
    secrets_dir: str | None = None,
) -> int:
    """Run the sandbox until Ctrl-C / SIGTERM (or `stop` is set); returns the exit code (0).

    `secrets_dir`: write one secrets.json per tenant there (`write_tenant_secrets`) before serving.
    """
    stop = stop or threading.Event()
    sb = Sandbox(config).start()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        # Ctrl-C must work even when the parent started us with SIGINT ignored (background jobs).
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for line in exports(sb) + tenant_lines(sb):
            out(line)
        if secrets_dir is not None:
            try:
                paths = write_tenant_secrets(sb, secrets_dir)
            except OSError as exc:
                err(f"enrich sandbox: cannot write the secrets files in {secrets_dir}: {exc.strerror or exc}")
                return 1
            err(
                f"# wrote {len(paths)} secrets files: {paths[0]}"
                + (f" .. {paths[-1]}" if len(paths) > 1 else "")
            )
        d = sb.data.summary()
        err(
            f"# MDE sandbox on {sb.base_url} (seed {config.seed}, {d['devices']} devices, "
            f"{sum(d['events'].values())} events); paste the export lines into another shell and run "
            f"`enrich run FILE` there; stats at {sb.base_url}/_sandbox/stats; Ctrl-C stops."
        )
        cloud = sb.cloud
        if cloud.name != "global":
            err(
                f"# cloud {cloud.name}: tokens for {cloud.graph_audience} (Graph) and "
                f"{', '.join(sorted(a for a in cloud.mde_audiences if a.startswith('https://api')))} (MDE), "
                f"as from {cloud.login_host}; the real hosts are https://{cloud.api_host} and "
                f"https://{cloud.graph_host}. A client asking for another cloud's audience is refused "
                "(AADSTS500011 at sign-in, or 401)."
            )
        if hasattr(sys.stdout, "flush"):
            sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    err("# sandbox stopped")
    return 0
