"""Request log and counters (what `sb.stats()`, `sb.requests` and GET /_sandbox/stats show)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from typing import NamedTuple

MAX_RECORDS = 200_000


class RequestRecord(NamedTuple):
    """One request as the sandbox answered it. `status` 0 means the connection was reset."""

    time: float  # time.time()
    method: str
    path: str
    family: str  # files, ips, domains, alerts, machines, hunting, graph_hunting, login, other
    endpoint: str  # e.g. "files/stats", "token", "runHuntingQuery"
    status: int
    client_id: str  # appid of the token (or the client_id sent to the token endpoint), "" if none


def status_key(status: int) -> str:
    return "reset" if status == 0 else str(status)


class RequestLog:
    """Thread-safe log of the last MAX_RECORDS requests plus counters over all of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
            self._by_endpoint: dict[str, Counter] = defaultdict(Counter)
            self._by_family: dict[str, Counter] = defaultdict(Counter)
            self._faults: Counter = Counter()
            self._total = 0
            self._tokens = 0

    def add(
        self, method: str, path: str, family: str, endpoint: str, status: int, client_id: str = ""
    ) -> None:
        record = RequestRecord(time.time(), method, path, family, endpoint, status, client_id)
        key = status_key(status)
        with self._lock:
            self._records.append(record)
            self._by_endpoint[endpoint][key] += 1
            self._by_family[family][key] += 1
            self._total += 1

    def token_issued(self) -> None:
        with self._lock:
            self._tokens += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "total": self._total,
                "by_endpoint": {k: dict(v) for k, v in sorted(self._by_endpoint.items())},
                "by_family": {k: dict(v) for k, v in sorted(self._by_family.items())},
                "tokens_issued": self._tokens,
                "faults_injected": dict(self._faults),
            }
