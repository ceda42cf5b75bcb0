"""HTTPS plumbing (threaded, HTTP/1.1 keep-alive) and the `Sandbox` object that owns a server."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import shutil
import socket
import ssl
import string
import struct
import tempfile
import threading
import uuid
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from enrich.sandbox import generate, userdata
from enrich.sandbox.app import App
from enrich.sandbox.config import ClientSpec, SandboxConfig
from enrich.sandbox.data import Dataset, ticks_now
from enrich.sandbox.faults import Faults
from enrich.sandbox.login import CLOUDS, Cloud, Login, Tokens
from enrich.sandbox.quotas import CpuQuota, Quotas
from enrich.sandbox.stats import RequestLog, RequestRecord, status_key
from enrich.sandbox.tls import server_context, write_certificates
from enrich.sandbox.wire import Request

MAX_BODY = 16 * 1024 * 1024
KEEPALIVE_IDLE_SECONDS = 60


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "enrich-sandbox"
    sys_version = ""
    timeout = KEEPALIVE_IDLE_SECONDS

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base-class signature
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            self._write(413, [("Content-Type", "text/plain")], b"request body too large or malformed\n")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        resp = server.app.handle(Request.parse(self.command, self.path, headers, body))
        if resp.reset:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if resp.delay > 0 and server.stopping.wait(resp.delay):
            self.close_connection = True
            return
        self._write(resp.status, resp.headers, resp.body)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}", "Server: enrich-sandbox"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (body if self.command != "HEAD" else b""))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, app: App, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.context = context
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def finish_request(self, request, client_address) -> None:
        request.settimeout(KEEPALIVE_IDLE_SECONDS)
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()
            return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            # mypy does not bind the Self of typeshed's RequestHandlerClass callable when it is
            # read through `self` in a method (expected "Self", got "_Server"): the checker is wrong.
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()

    def shutdown_request(self, request) -> None:
        with contextlib.suppress(OSError):
            request.close()

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def default_client(seed: int) -> ClientSpec:
    """The deterministic default tenant + app for a seed (all roles)."""
    return _made_client(random.Random(f"clients/{seed}"))


def tenant_clients(seed: int, count: int) -> list[ClientSpec]:
    """`count` tenants, one app each (all roles), deterministic for a seed; the first is
    `default_client(seed)`, so a one-tenant sandbox is the sandbox as it always was."""
    made = [default_client(seed)]
    for number in range(2, count + 1):
        made.append(_made_client(random.Random(f"clients/{seed}/tenant/{number}")))
    return made


def _made_client(rng: random.Random) -> ClientSpec:
    """A tenant id, client id and a secret shaped like Entra ID's (`xyz8Q~` + 37 characters)."""
    alphabet = string.ascii_letters + string.digits
    secret = (
        "".join(rng.choice(alphabet) for _ in range(3))
        + "8Q~"
        + "".join(rng.choice(alphabet + "._-") for _ in range(37))
    )
    return ClientSpec(
        client_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        secret=secret,
        tenant_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


class Sandbox:
    """A running MDE emulator: login, entity APIs, hunting, quotas and faults on one HTTPS port."""

    def __init__(self, config: SandboxConfig | None = None, **overrides) -> None:
        cfg = dataclasses.replace(config or SandboxConfig(), **overrides)
        cfg.faults = dict(cfg.faults)
        cfg.validate()
        self.config = cfg
        self.clients: list[ClientSpec] = (
            list(cfg.clients) if cfg.clients else tenant_clients(cfg.seed, cfg.tenants)
        )
        first = self.clients[0]
        if cfg.data_file:
            self.data: Dataset = userdata.load(cfg.data_file, cfg.seed, ticks_now(), first.tenant_id)
        else:
            self.data = generate.build(cfg.seed, ticks_now(), first.tenant_id, cfg.sample_dir)
        self._log = RequestLog()
        self._tokens = Tokens(cfg.token_lifetime)
        self._faults = Faults(cfg.faults, cfg.latency, cfg.seed, cfg.fault_families)
        self._quotas = Quotas(
            cfg.entity_limits,
            cfg.hunting_limits,
            cfg.time_scale,
            graph_hunting_limits=cfg.graph_hunting_limits,
        )
        self._cpu = CpuQuota(cfg.hunting_cpu_quota, cfg.time_scale)
        self._login = Login(
            self.clients, self._tokens, on_issue=self._log.token_issued, cloud=CLOUDS[cfg.cloud]
        )
        self._app = App(
            cfg,
            self.data,
            self._login,
            self._tokens,
            self._quotas,
            self._faults,
            self._log,
            lambda: self.base_url,
            self._cpu,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None
        self.ca_file = ""

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._tmp = tempfile.mkdtemp(prefix="enrich-sandbox-")
        files = write_certificates(self._tmp)
        self.ca_file = files.ca_file
        server = _Server((self.config.host, self.config.port), self._app, server_context(files))
        self._app.sleep = server.stopping.wait
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"enrich-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- where and who ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"https://{self.config.host}:{self.port}"

    @property
    def cloud(self) -> Cloud:
        """The cloud served: its token audiences and the hosts of the real service."""
        return self._login.cloud

    @property
    def tenant_id(self) -> str:
        return self.clients[0].tenant_id

    @property
    def client_id(self) -> str:
        return self.clients[0].client_id

    @property
    def client_secret(self) -> str:
        return self.clients[0].secret

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the sandbox CA (for httpx: `verify=sb.ssl_context()`)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def env(self, tenant: int = 0) -> dict[str, str]:
        """Environment variables that point `enrich` at this sandbox with one client (by default the
        first; `tenant` is its index in `clients`)."""
        client = self.clients[tenant]
        return {
            "MDE_TENANT_ID": client.tenant_id,
            "MDE_CLIENT_ID": client.client_id,
            "MDE_CLIENT_SECRET": client.secret,
            "MDE_API_URL": self.base_url,
            "MDE_LOGIN_URL": self.base_url,
            "MDE_GRAPH_URL": self.base_url,
            "MDE_CA_BUNDLE": self.ca_file,
        }

    # --- observation and control ------------------------------------------------------------

    def stats(self) -> dict:
        """{"total", "by_endpoint": {endpoint: {status: n}}, "by_family", "tokens_issued", "faults_injected"}."""
        return self._log.snapshot()

    def tenant_stats(self) -> dict[str, dict[str, int]]:
        """Requests per tenant id and status ("200", "429", ...), from the request log (token
        requests included; a request whose app is unknown is under "")."""
        tenant_of = {c.client_id.lower(): c.tenant_id for c in self.clients}
        counts: dict[str, dict[str, int]] = {}
        for record in self._log.records():
            tenant = tenant_of.get(record.client_id.lower(), "")
            by_status = counts.setdefault(tenant, {})
            key = status_key(record.status)
            by_status[key] = by_status.get(key, 0) + 1
        return counts

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.records()

    def reset_stats(self) -> None:
        self._log.reset()

    def reset_quotas(self) -> None:
        """Forget every call counted and every hunting CPU second spent."""
        self._quotas.reset()
        self._cpu.reset()

    def hunting_cpu_spent(self, tenant: str | None = None) -> float:
        """Modelled hunting CPU seconds `tenant` (default: the first client's) spent this cycle."""
        return self._cpu.spent(tenant or self.tenant_id)

    def configure(self, **knobs) -> None:
        """Change knobs at run time: faults, fault_families, latency, token_lifetime, slow_seconds,
        entity_limits, hunting_limits, graph_hunting_limits, hunting_max_rows,
        hunting_max_result_bytes, hunting_timeout, hunting_cpu_quota, time_scale, lookback_policy,
        md5_policy, forbidden_wording."""
        allowed = {
            "fault_families",
            "graph_hunting_limits",
            "hunting_max_rows",
            "hunting_max_result_bytes",
            "hunting_timeout",
            "hunting_cpu_quota",
            "faults",
            "latency",
            "token_lifetime",
            "slow_seconds",
            "entity_limits",
            "hunting_limits",
            "time_scale",
            "lookback_policy",
            "md5_policy",
            "forbidden_wording",
        }
        unknown = set(knobs) - allowed
        if unknown:
            raise TypeError(f"configure() cannot change {', '.join(sorted(unknown))}")
        trial = dataclasses.replace(self.config, **knobs)
        trial.validate()
        for name, value in knobs.items():
            setattr(self.config, name, dict(value) if name == "faults" else value)
        self._faults.configure(self.config.faults, self.config.latency)
        self._faults.limit_to(self.config.fault_families)
        self._tokens.lifetime = self.config.token_lifetime
        self._quotas.entity_limits = self.config.entity_limits
        self._quotas.hunting_limits = self.config.hunting_limits
        self._quotas.graph_hunting_limits = self.config.graph_hunting_limits
        self._quotas.time_scale = self.config.time_scale
        self._cpu.quota = self.config.hunting_cpu_quota
        self._cpu.time_scale = self.config.time_scale

    def force_429(self, count: int = 5, retry_after: int = 2, family: str | None = None) -> None:
        """The next `count` API requests of `family` (None: any) get 429 with this Retry-After."""
        self._faults.force_429(count, retry_after, family)

    def truth(self, family: str, key: str, lookback_hours: int = 720) -> dict | None:
        """What the stats API answers for (family, key): prevalence and the same timestamp strings."""
        return self.data.truth(family, key, lookback_hours)
