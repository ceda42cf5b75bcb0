"""Request and response values passed between the HTTP plumbing and the endpoint handlers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    target: str  # the raw request target ("/api/ips/1.2.3.4/stats?lookBackHours=48")
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    segments: list[str] = field(default_factory=list)  # decoded path segments
    query: dict[str, str] = field(default_factory=dict)  # last value wins

    @classmethod
    def parse(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        parts = urlsplit(target)
        raw = [s for s in parts.path.split("/") if s]
        segments = [unquote(s) for s in raw]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(method.upper(), target, headers, body, segments, query)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def param(self, name: str) -> str | None:
        """A query parameter, matched case-insensitively."""
        low = name.lower()
        for key, value in self.query.items():
            if key.lower() == low:
                return value
        return None

    def host(self, default: str) -> str:
        return self.headers.get("host") or default


@dataclass
class Response:
    """What to send back. `reset` closes the connection without answering; `delay` waits first."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False
    delay: float = 0.0
    # for the request log
    family: str = "other"
    endpoint: str = ""
    client_id: str = ""
    cpu_seconds: float = 0.0  # modelled CPU of a hunting query (charged to the tenant's quota)


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


def new_id() -> str:
    return str(uuid.uuid4())


def mde_error(
    status: int,
    code: str,
    message: str,
    target: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """The MDE error envelope {"error": {"code", "message", "target"}}."""
    return json_response(
        status, {"error": {"code": code, "message": message, "target": target or new_id()}}, headers
    )


def graph_error(
    status: int,
    code: str,
    message: str,
    request: Request | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """The Microsoft Graph error envelope with innerError."""
    rid = new_id()
    inner = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": rid,
        "client-request-id": (request.headers.get("client-request-id") if request else None) or rid,
    }
    return json_response(
        status,
        {"error": {"code": code, "message": message, "innerError": inner}},
        [("request-id", rid), *(headers or [])],
    )
