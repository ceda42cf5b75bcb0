"""MDE entity endpoints: files, IPs, domains, alerts and machines, answered from the Dataset."""

from __future__ import annotations

import re

from enrich.sandbox.data import MAX_LOOKBACK_HOURS, Dataset, format_ticks, normalize_domain, normalize_ip
from enrich.sandbox.wire import Request, Response, json_response, mde_error

_HEX = re.compile(r"^[0-9a-fA-F]+$")
MACHINES_CAP = 500
MAX_TOP = 10_000


def _ts(ticks: int | None) -> str | None:
    return format_ticks(ticks) if ticks is not None else None


class EntityApi:
    """Handlers for GET /api/... entity routes. `policies` is the live SandboxConfig."""

    def __init__(self, data: Dataset, policies) -> None:
        self.data = data
        self.policies = policies

    # --- shared checks ----------------------------------------------------------------------

    def _context(self, request: Request, fragment: str) -> str:
        return f"https://{request.host('api.security.microsoft.com')}/api/$metadata#{fragment}"

    def _lookback(self, request: Request) -> tuple[int, Response | None]:
        raw = request.param("lookBackHours")
        if raw is None:
            return MAX_LOOKBACK_HOURS, None
        try:
            hours = int(raw.strip())
        except ValueError:
            return 0, mde_error(
                400, "InvalidInput", f"Invalid input lookBackHours={raw}. It must be an integer."
            )
        if 1 <= hours <= MAX_LOOKBACK_HOURS:
            return hours, None
        if self.policies.lookback_policy == "clamp":
            return min(max(hours, 1), MAX_LOOKBACK_HOURS), None
        return 0, mde_error(
            400,
            "InvalidInput",
            f"Invalid input lookBackHours={raw}. It must be between 1 and {MAX_LOOKBACK_HOURS}.",
        )

    def _hash(self, value: str, sha1_only: bool = False) -> Response | None:
        """None when `value` is an accepted file id, else the 400 response."""
        if _HEX.match(value):
            n = len(value)
            if n == 40 or (n == 64 and not sha1_only):
                return None
            if n == 32 and not sha1_only and self.policies.md5_policy == "accept":
                return None
            if sha1_only and n in (32, 64):
                return mde_error(
                    400,
                    "InvalidHashValue",
                    f"Hash value {value} is invalid. Only SHA-1 is supported (not MD5 or SHA-256).",
                )
        return mde_error(400, "InvalidHashValue", f"Hash value {value} is invalid.")

    def _file(self, value: str):
        return self.data.find_file(value.lower())

    # --- files ------------------------------------------------------------------------------

    def file(self, request: Request, file_id: str) -> Response:
        bad = self._hash(file_id)
        if bad:
            return bad
        info = self._file(file_id)
        if info is None:
            return mde_error(404, "ResourceNotFound", f"File {file_id} was not found")
        return json_response(
            200, {"@odata.context": self._context(request, "Files/$entity"), **info.entity()}
        )

    def file_stats(self, request: Request, file_id: str) -> Response:
        bad = self._hash(file_id)
        if bad:
            return bad
        hours, bad = self._lookback(request)
        if bad:
            return bad
        info = self._file(file_id)
        if info is None:
            return mde_error(404, "ResourceNotFound", f"File {file_id} was not found")
        prevalence, first, last = self.data.stats("files", info.sha1, hours)
        return json_response(
            200,
            {
                "@odata.context": self._context(request, "microsoft.windowsDefenderATP.api.InOrgFileStats"),
                "sha1": info.sha1,
                "orgPrevalence": str(prevalence),
                "organizationPrevalence": prevalence,
                "orgFirstSeen": _ts(first),
                "orgLastSeen": _ts(last),
                "globalPrevalence": str(info.global_prevalence),
                "globallyPrevalence": info.global_prevalence,
                "globalFirstObserved": format_ticks(info.global_first),
                "globalLastObserved": format_ticks(info.global_last),
                "topFileNames": list(info.names),
            },
        )

    def file_alerts(self, request: Request, file_id: str) -> Response:
        bad = self._hash(file_id, sha1_only=True)
        if bad:
            return bad
        return self._collection(request, "Alerts", self.data.alerts_for("files", file_id.lower()))

    def file_machines(self, request: Request, file_id: str) -> Response:
        bad = self._hash(file_id, sha1_only=True)
        if bad:
            return bad
        devices = self.data.devices_for("files", file_id.lower()) if self._file(file_id) else []
        return self._collection(request, "Machines", [d.entity() for d in devices])

    # --- IPs and domains --------------------------------------------------------------------

    def ip_stats(self, request: Request, ip: str) -> Response:
        if normalize_ip(ip) is None:
            return mde_error(400, "InvalidIpAddress", f"IP address {ip} is invalid.")
        return self._org_stats(request, "ips", ip, "ipAddress", "InOrgIPStats")

    def ip_alerts(self, request: Request, ip: str) -> Response:
        if normalize_ip(ip) is None:
            return mde_error(400, "InvalidIpAddress", f"IP address {ip} is invalid.")
        return self._collection(request, "Alerts", self.data.alerts_for("ips", ip))

    def domain_stats(self, request: Request, domain: str) -> Response:
        if normalize_domain(domain) is None:
            return mde_error(400, "InvalidDomainName", f"Domain name {domain} is invalid.")
        return self._org_stats(request, "domains", domain, "host", "InOrgDomainStats")

    def _org_stats(self, request: Request, family: str, key: str, key_field: str, entity: str) -> Response:
        """IP or domain statistics: 200 with prevalence 0 and null dates when never seen."""
        hours, bad = self._lookback(request)
        if bad:
            return bad
        prevalence, first, last = self.data.stats(family, key, hours)
        return json_response(
            200,
            {
                "@odata.context": self._context(request, f"microsoft.windowsDefenderATP.api.{entity}"),
                key_field: key,
                "orgPrevalence": str(prevalence),
                "organizationPrevalence": prevalence,
                "orgFirstSeen": _ts(first),
                "orgLastSeen": _ts(last),
            },
        )

    def domain_alerts(self, request: Request, domain: str) -> Response:
        if normalize_domain(domain) is None:
            return mde_error(400, "InvalidDomainName", f"Domain name {domain} is invalid.")
        return self._collection(request, "Alerts", self.data.alerts_for("domains", domain))

    def domain_machines(self, request: Request, domain: str) -> Response:
        if normalize_domain(domain) is None:
            return mde_error(400, "InvalidDomainName", f"Domain name {domain} is invalid.")
        devices = self.data.devices_for("domains", domain)[:MACHINES_CAP]
        return self._collection(request, "Machines", [d.entity() for d in devices])

    # --- alerts and machines ----------------------------------------------------------------

    def alerts(self, request: Request) -> Response:
        return self._paged(request, "Alerts", self.data.alerts)

    def alert(self, request: Request, alert_id: str) -> Response:
        for alert in self.data.alerts:
            if alert["id"] == alert_id:
                return json_response(
                    200, {"@odata.context": self._context(request, "Alerts/$entity"), **alert}
                )
        return mde_error(404, "ResourceNotFound", f"Alert {alert_id} was not found")

    def alert_files(self, request: Request, alert_id: str) -> Response:
        for alert in self.data.alerts:
            if alert["id"] == alert_id:
                files = [self.data.find_file(e["sha1"]) for e in alert["evidence"] if e.get("sha1")]
                return self._collection(request, "Files", [f.entity() for f in files if f])
        return mde_error(404, "ResourceNotFound", f"Alert {alert_id} was not found")

    def machines(self, request: Request) -> Response:
        return self._paged(request, "Machines", [d.entity() for d in self.data.devices])

    def machine(self, request: Request, machine_id: str) -> Response:
        dev = self.data.device(machine_id.lower())
        if dev is None:
            return mde_error(404, "ResourceNotFound", f"Machine {machine_id} was not found")
        return json_response(
            200, {"@odata.context": self._context(request, "Machines/$entity"), **dev.entity()}
        )

    # --- collections ------------------------------------------------------------------------

    def _collection(self, request: Request, entity_set: str, items: list[dict]) -> Response:
        return json_response(200, {"@odata.context": self._context(request, entity_set), "value": items})

    def _paged(self, request: Request, entity_set: str, items: list[dict]) -> Response:
        """$top (max 10000) and $skip; other OData options are not supported (400 ODataError)."""
        values = {}
        for name in ("$top", "$skip"):
            raw = request.param(name)
            if raw is None:
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                return mde_error(
                    400, "ODataError", f"Invalid OData URI query: {name}={raw} is not an integer."
                )
            if values[name] < 0:
                return mde_error(400, "ODataError", f"Invalid OData URI query: {name} must not be negative.")
        unsupported = [k for k in request.query if k.startswith("$") and k.lower() not in ("$top", "$skip")]
        if unsupported:
            return mde_error(
                400,
                "ODataError",
                f"Invalid OData URI query: {unsupported[0]} is not supported by the sandbox.",
            )
        top = values.get("$top", MAX_TOP)
        if top > MAX_TOP:
            return mde_error(400, "ODataError", f"Invalid OData URI query: $top must be at most {MAX_TOP}.")
        skip = values.get("$skip", 0)
        return self._collection(request, entity_set, items[skip : skip + top])
