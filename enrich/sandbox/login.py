"""Microsoft Entra ID (login) emulation: discovery documents, v1/v2 token endpoints, JWT tokens."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from enrich.sandbox.config import GRAPH_ROLES, MDE_ROLES, ClientSpec
from enrich.sandbox.wire import Request, Response, json_response, new_id

#: The application id of the MDE API application ("WindowsDefenderATP"), research 1.1 and 10.
MDE_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92"
#: App ID URIs of that application in every cloud: the older names real clients still ask for
#: (research 10: `api.securitycenter.windows.com`, XSOAR's `windowsatpservice`) and its GUID.
MDE_APP_NAMES = frozenset({"https://securitycenter.onmicrosoft.com/windowsatpservice", MDE_APP_ID})
MDE_AUDIENCES = frozenset(
    {"https://api.securitycenter.microsoft.com", "https://api.securitycenter.windows.com", *MDE_APP_NAMES}
)
GRAPH_AUDIENCE = "https://graph.microsoft.com"
XDR_AUDIENCE = "https://api.security.microsoft.com"
# resource (App ID URI) -> roles a token for it may carry. The Defender XDR resource is accepted
# (a real tenant issues such tokens) but grants none of the MDE roles: the classic mis-scope -> 403.
RESOURCES: dict[str, frozenset[str]] = {
    **dict.fromkeys(MDE_AUDIENCES, MDE_ROLES),
    GRAPH_AUDIENCE: GRAPH_ROLES,
    XDR_AUDIENCE: frozenset(),
}


@dataclass(frozen=True)
class Cloud:
    """One Microsoft cloud as the sandbox serves it (research 1.7 and 10).

    `mde_audiences` are the audiences its MDE API accepts; `graph_audience` its Graph's;
    `resources` maps every resource its Entra ID issues tokens for to the roles such a token may
    carry (a resource of another cloud is unknown there: AADSTS500011). Hosts are those of the
    real cloud, for the banner and discovery documents.
    """

    name: str
    login_host: str
    api_host: str
    graph_host: str
    mde_audiences: frozenset[str]
    graph_audience: str
    resources: dict[str, frozenset[str]]
    cloud_instance_name: str = "microsoftonline.com"


def _gov(name: str, api_host: str, graph_host: str, login_host: str) -> Cloud:
    mde = frozenset({f"https://{api_host}", *MDE_APP_NAMES})
    graph = f"https://{graph_host}"
    resources = {**dict.fromkeys(mde, MDE_ROLES), graph: GRAPH_ROLES}
    instance = login_host.removeprefix("login.")
    return Cloud(name, login_host, api_host, graph_host, mde, graph, resources, instance)


_GCC = _gov("gcc", "api-gcc.securitycenter.microsoft.us", "graph.microsoft.com", "login.microsoftonline.com")
CLOUDS: dict[str, Cloud] = {
    "global": Cloud(
        "global",
        "login.microsoftonline.com",
        "api.security.microsoft.com",
        "graph.microsoft.com",
        MDE_AUDIENCES,
        GRAPH_AUDIENCE,
        RESOURCES,
    ),
    # GCC signs in with the commercial Entra ID, so the commercial MDE resource still gets a
    # token there -- which GCC's API then refuses (401), as it is not its audience.
    "gcc": dataclasses.replace(_GCC, resources={**RESOURCES, **_GCC.resources}),
    "gcc-high": _gov(
        "gcc-high", "api-gov.securitycenter.microsoft.us", "graph.microsoft.us", "login.microsoftonline.us"
    ),
    "dod": _gov(
        "dod", "api-gov.securitycenter.microsoft.us", "dod-graph.microsoft.us", "login.microsoftonline.us"
    ),
}
#: Every MDE audience of any cloud: a token for one of them at another cloud's API is a 401.
ALL_MDE_AUDIENCES = frozenset().union(*(cloud.mde_audiences for cloud in CLOUDS.values()))
#: Every resource any cloud knows: asked of a cloud that does not know it, AADSTS500011.
_ALL_RESOURCES = frozenset().union(*(cloud.resources for cloud in CLOUDS.values()))
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_IGNORED_SCOPES = {"openid", "profile", "offline_access", "email"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aad_error(
    status: int, error: str, code: int, description: str, request: Request | None = None
) -> Response:
    """An Entra ID error body: error, error_description (AADSTS...), error_codes, ids, error_uri."""
    trace = new_id()
    correlation = (request.headers.get("client-request-id") if request else None) or new_id()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return json_response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


class Tokens:
    """Issues and verifies HS256 JWT access tokens with a per-server key."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self._key = secrets.token_bytes(32)
        self._kid = secrets.token_hex(8)
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()

    def issue(
        self, client: ClientSpec, resource: str, credential: str, allowed: frozenset[str] | None = None
    ) -> tuple[str, int, int]:
        """(token, issued-at, expires-at) for `client` and `resource`; the token carries the
        client's roles that are in `allowed` (default: what the global cloud grants `resource`)."""
        now = int(time.time())
        exp = now + self.lifetime
        if allowed is None:
            allowed = RESOURCES[resource]
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{client.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": exp,
            "aio": b64url(secrets.token_bytes(24)),
            "app_displayname": client.display_name,
            "appid": client.client_id,
            "appidacr": "2" if credential == "certificate" else "1",
            "idp": f"https://sts.windows.net/{client.tenant_id}/",
            "idtyp": "app",
            "oid": client.client_id,
            "rh": "0." + b64url(secrets.token_bytes(30)) + ".",
            "roles": [r for r in client.roles if r in allowed],
            "sub": client.client_id,
            "tenant_region_scope": "NA",
            "tid": client.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "HS256", "kid": self._kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(sig)}", now, exp

    def verify(self, token: str) -> tuple[dict | None, str]:
        """(claims, "") for a valid token; (None, "invalid"|"expired") otherwise."""
        with self._lock:
            claims = self._cache.get(token)
        if claims is None:
            parts = token.split(".")
            if len(parts) != 3:
                return None, "invalid"
            try:
                expected = hmac.new(
                    self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
                ).digest()
                if not hmac.compare_digest(expected, b64url_decode(parts[2])):
                    return None, "invalid"
                claims = json.loads(b64url_decode(parts[1]))
            except (ValueError, UnicodeError, binascii.Error):
                return None, "invalid"
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[token] = claims
        now = time.time()
        if claims.get("exp", 0) <= now:
            return None, "expired"
        if claims.get("nbf", 0) > now + 300:
            return None, "invalid"
        return claims, ""


class Login:
    """The login endpoints for a set of registered clients."""

    def __init__(
        self, clients: list[ClientSpec], tokens: Tokens, on_issue=None, cloud: Cloud | None = None
    ) -> None:
        self.clients = clients
        self.tokens = tokens
        self.cloud = cloud or CLOUDS["global"]
        self.tenants = {c.tenant_id.lower() for c in clients}
        self._on_issue = on_issue or (lambda: None)

    def _client(self, tenant: str, client_id: str) -> ClientSpec | None:
        for c in self.clients:
            if c.tenant_id.lower() == tenant.lower() and c.client_id.lower() == client_id.lower():
                return c
        return None

    # --- discovery --------------------------------------------------------------------------

    def openid_configuration(self, base: str, tenant: str, v2: bool, request: Request) -> Response:
        if tenant.lower() not in self.tenants:
            return aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. This may happen if there are no active subscriptions for the "
                "tenant. Check to make sure you have the correct tenant ID. Check with your subscription "
                "administrator.",
                request,
            )
        root = f"{base}/{tenant}"
        oauth = f"{root}/oauth2/v2.0" if v2 else f"{root}/oauth2"
        doc = {
            "token_endpoint": f"{oauth}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery/{'v2.0/' if v2 else ''}keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0" if v2 else f"https://sts.windows.net/{tenant}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{oauth}/authorize",
            "device_authorization_endpoint": f"{oauth}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{oauth}/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "tid",
                "ver",
            ],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": self.cloud.cloud_instance_name,
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": self.cloud.graph_host,
            "rbac_url": "https://pas.windows.net",
        }
        return json_response(200, doc, [("Cache-Control", "max-age=86400, private")])

    def instance_discovery(self, base: str, request: Request) -> Response:
        endpoint = request.param("authorization_endpoint") or ""
        segments = [s for s in urlsplit(endpoint).path.split("/") if s]
        if not segments:
            return aad_error(400, "invalid_instance", 50049, "Unknown or invalid instance.", request)
        host = urlsplit(base).netloc
        return json_response(
            200,
            {
                "tenant_discovery_endpoint": f"{base}/{segments[0]}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            },
        )

    # --- token ------------------------------------------------------------------------------

    def token(self, base: str, tenant: str, v2: bool, request: Request) -> Response:
        """POST /{tenant}/oauth2/v2.0/token (v2) or /{tenant}/oauth2/token (v1)."""
        form = _form(request.body)
        client_id = form.get("client_id", "")
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic:
            client_id = client_id or basic[0]
        resp = self._token(base, tenant, v2, request, form, client_id, basic)
        resp.client_id = client_id
        return resp

    def _token(self, base, tenant, v2, request, form, client_id, basic) -> Response:
        if tenant.lower() not in self.tenants:
            return aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud. Check with your subscription administrator, this may happen if there are "
                "no active subscriptions for the tenant.",
                request,
            )
        grant = form.get("grant_type")
        if not grant:
            return _missing("grant_type", request)
        if grant != "client_credentials":
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
                request,
            )
        assertion = form.get("client_assertion")
        if not client_id and assertion:
            client_id = _assertion_subject(assertion)
        if not client_id:
            return _missing("client_id", request)
        client = self._client(tenant, client_id)
        if client is None:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                request,
            )
        failure, credential = self._check_credentials(client, form, basic, assertion, request, tenant)
        if failure:
            return failure
        resource, failure = _resource(form, v2, request, tenant, self.cloud.resources)
        if failure:
            return failure
        token, iat, exp = self.tokens.issue(client, resource, credential, self.cloud.resources[resource])
        self._on_issue()
        life = exp - iat
        if v2:
            body = {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}
        else:
            body = {
                "token_type": "Bearer",
                "expires_in": str(life),
                "ext_expires_in": str(life),
                "expires_on": str(exp),
                "not_before": str(iat),
                "resource": form.get("resource", resource),
                "access_token": token,
            }
        return json_response(200, body, [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")])

    def _check_credentials(
        self, client, form, basic, assertion, request, tenant
    ) -> tuple[Response | None, str]:
        secret = form.get("client_secret") or (basic[1] if basic else None)
        if assertion:
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                return aad_error(
                    400,
                    "invalid_request",
                    50027,
                    f"Invalid client_assertion_type; expected '{CLIENT_ASSERTION_TYPE}'.",
                    request,
                ), ""
            problem = verify_assertion(assertion, client, tenant)
            if problem:
                code, text = problem
                return aad_error(401, "invalid_client", code, text, request), ""
            return None, "certificate"
        if secret is None:
            return aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
                request,
            ), ""
        if not hmac.compare_digest(secret.encode(), client.secret.encode()):
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client.client_id}'.",
                request,
            ), ""
        if client.secret_expired:
            return aad_error(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{client.client_id}' are expired. Visit the Azure portal "
                "to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                "credentials for added security: https://aka.ms/certCreds.",
                request,
            ), ""
        return None, "secret"


def _missing(name: str, request: Request) -> Response:
    return aad_error(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
        request,
    )


def _not_found(resource: str, tenant: str, request: Request) -> Response:
    return aad_error(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named {tenant}. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        request,
    )


def _resource(
    form: dict[str, str],
    v2: bool,
    request: Request,
    tenant: str,
    resources: dict[str, frozenset[str]] | None = None,
) -> tuple[str, Response | None]:
    """The resource a token is asked for (a key of `resources`: the cloud's), or the error.

    v1 names it in `resource=` (App ID URI or application GUID), v2 as `scope=<it>/.default`.
    A resource this cloud does not know -- another cloud's included -- is AADSTS500011.
    """
    known = RESOURCES if resources is None else resources
    if not v2:
        resource = form.get("resource")
        if not resource:
            return "", _missing("resource", request)
        key = resource.rstrip("/")
        if key not in known:
            return "", _not_found(resource, tenant, request)
        return key, None
    scope = form.get("scope")
    if not scope:
        return "", _missing("scope", request)
    wanted = [s for s in scope.split() if s.lower() not in _IGNORED_SCOPES]
    if len(wanted) != 1:
        return "", aad_error(
            400,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid. The scope "
            f"{scope} is not valid.",
            request,
        )
    only = wanted[0]
    base, _, _ = only.rpartition("/")
    if only.endswith("/.default"):
        if base in known:
            return base, None
        if base in _ALL_RESOURCES:  # another cloud's resource
            return "", _not_found(base, tenant, request)
    if base in known:
        return "", aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {only} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
            request,
        )
    return "", aad_error(
        400,
        "invalid_scope",
        70011,
        f"The provided value for the input parameter 'scope' is not valid. The scope {only} is not valid.",
        request,
    )


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (unquote(user), unquote(password)) if sep else None


def _assertion_subject(assertion: str) -> str:
    try:
        claims = json.loads(b64url_decode(assertion.split(".")[1]))
        return str(claims.get("sub") or claims.get("iss") or "")
    except (ValueError, IndexError, binascii.Error):
        return ""


def verify_assertion(assertion: str, client: ClientSpec, tenant: str) -> tuple[int, str] | None:
    """None when the client assertion JWT is valid for `client`; else (AADSTS code, message)."""
    bad_signature = (700027, "Client assertion failed signature validation.")
    try:
        head_b64, body_b64, sig_b64 = assertion.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(body_b64))
        signature = b64url_decode(sig_b64)
    except (ValueError, binascii.Error):
        return 50027, "JWT token is invalid or malformed."
    if not client.certificate_pem:
        return 700027, (
            "Client assertion contains an invalid signature. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{header.get('x5t', '')}']"
        )
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        return (
            700023,
            "Client assertion audience claim does not match Realm issuer.",
        )  # iss/sub must be the app
    aud_path = urlsplit(str(claims.get("aud", ""))).path.rstrip("/")
    if aud_path.lower() not in (f"/{tenant}/oauth2/v2.0/token".lower(), f"/{tenant}/oauth2/token".lower()):
        return (
            700212,
            f"The audience claim '{claims.get('aud')}' of the client assertion is not the token endpoint.",
        )
    now = time.time()
    if float(claims.get("exp", 0)) <= now or float(claims.get("nbf", 0)) > now + 300:
        return 700024, "Client assertion is not within its valid time range."
    try:
        public_key = x509.load_pem_x509_certificate(client.certificate_pem.encode()).public_key()
    except ValueError:
        return bad_signature
    if not isinstance(public_key, rsa.RSAPublicKey):
        return bad_signature
    alg = header.get("alg")
    signed = f"{head_b64}.{body_b64}".encode("ascii")
    try:
        if alg == "RS256":
            public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            public_key.verify(signature, signed, pss, hashes.SHA256())
        else:
            return 5002738, f"Invalid JWT token. '{alg}' is not a supported signature algorithm."
    except InvalidSignature:
        return bad_signature
    return None
