"""Throughput of the MDE sandbox over HTTPS with keep-alive.

Usage: .venv/bin/python bench/sandbox.py [--seconds 5] [--threads 8]

Starts an in-process sandbox with quotas set out of the way, gets one token, then runs N threads,
each with its own keep-alive httpx.Client, cycling over entity stats calls (files, IPs, domains)
for a few seconds. Prints requests/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import httpx

from enrich.sandbox import Sandbox, SandboxConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(name, None)

    cfg = SandboxConfig(seed=1, entity_limits=(10**9, 10**9), hunting_limits=(10**9, 10**9))
    with Sandbox(cfg) as sb:
        token = httpx.post(
            f"{sb.base_url}/{sb.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sb.client_id,
                "client_secret": sb.client_secret,
                "scope": "https://api.securitycenter.microsoft.com/.default",
            },
            verify=sb.ssl_context(),
        ).json()["access_token"]
        keys = sb.data.seen_keys()[:200] + [("ips", "203.0.113.7"), ("domains", "never-seen.example.net")]
        paths = [f"/api/{fam}/{key}/stats" for fam, key in keys]
        latencies: list[list[float]] = [[] for _ in range(args.threads)]
        errors = [0] * args.threads
        stop = threading.Event()

        def worker(i: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=sb.base_url, verify=sb.ssl_context(), headers=headers) as client:
                n = i
                while not stop.is_set():
                    t0 = time.perf_counter()
                    r = client.get(paths[n % len(paths)])
                    latencies[i].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        errors[i] += 1
                    n += args.threads

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        lat = sorted(x for per in latencies for x in per)
        total = len(lat)
        print(
            f"sandbox: {total} requests in {elapsed:.2f} s with {args.threads} keep-alive clients "
            f"= {total / elapsed:.0f} req/s; non-200: {sum(errors)}"
        )
        print(
            f"latency ms: median {statistics.median(lat) * 1000:.2f}, "
            f"p95 {lat[int(total * 0.95)] * 1000:.2f}, p99 {lat[int(total * 0.99)] * 1000:.2f}"
        )
        print(f"server counted {sb.stats()['total']} requests")


if __name__ == "__main__":
    main()
