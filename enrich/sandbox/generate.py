"""Deterministic synthetic telemetry from a seed: `build` lays out a whole dataset.

The bricks (devices, files, sightings, alerts, event times) come from `generator.Generator`;
the documented examples planted in every dataset from `fixtures.plant_fixtures`.
"""

from __future__ import annotations

from enrich.sandbox import samples
from enrich.sandbox.catalog import BENIGN_DOMAINS, derived
from enrich.sandbox.data import Dataset, FileInfo, normalize_domain
from enrich.sandbox.fixtures import plant_fixtures
from enrich.sandbox.generator import Generator


def _planted_file(g: Generator, key: str) -> FileInfo:
    if len(key) == 64:
        sha1, sha256, md5 = derived("sha1", key), key, derived("md5", key)
    elif len(key) == 40:
        sha1, sha256, md5 = key, derived("sha256", key), derived("md5", key)
    else:
        sha1, sha256, md5 = derived("sha1", key), derived("sha256", key), key
    return g.malicious_file(sha1, sha256, md5)


def build(
    seed: int, now: int, tenant_id: str, sample_dir: str | None = None, device_count: int = 50
) -> Dataset:
    """The synthetic dataset for `seed`; plants indicators found in `sample_dir` ("" to skip)."""
    g = Generator(seed, now, tenant_id)
    g.make_devices(device_count)
    g.make_processes()
    ds = g.ds
    planted = (
        samples.scan(samples.default_sample_dir() if sample_dir is None else sample_dir)
        if sample_dir != ""
        else []
    )
    for fam, key in planted:  # reserve first, so random data never makes an unseen one seen
        if not samples.chosen_seen(key):
            g.reserved.add((fam, key))
    plant_fixtures(g)
    # background: common processes and services seen everywhere
    for info in g.processes.values():
        g.sight_file(info, g.rng.randint(15, 45), g.window("any"))
    for host in BENIGN_DOMAINS:
        g.sight_domain(host, g.rng.randint(10, 45), g.window("any"))
    # indicators from the sample files: about half seen (within 30 days), the rest unknown
    for fam, key in planted:
        if (fam, key) in ds.planted:
            continue
        seen = samples.chosen_seen(key)
        ds.planted[(fam, key)] = seen
        if not seen:
            continue
        n = g.prevalence()
        if fam == "files":
            info = _planted_file(g, key)
            g.sight_file(info, n, g.window("inside"))
            if info.determination_type in ("Malware", "Pua") and g.rng.random() < 0.5:
                g.alert("files", info.sha1, f"'{info.name}' malware was detected", "Malware", info)
        elif fam == "ips":
            g.sight_ip(key, n, g.window("inside"))
        elif normalize_domain(key):
            g.sight_domain(key, n, g.window("inside"))
    # random extra indicators
    for _ in range(120):
        info = g.random_file()
        r = g.rng.random()
        if r < 0.2:
            ds.add_file(info)  # known to MDE, never in this organisation
            continue
        g.sight_file(info, g.prevalence(), g.window("old" if r < 0.28 else "any"))
        if info.determination_type in ("Malware", "Pua") and g.rng.random() < 0.6:
            g.alert("files", info.sha1, f"'{info.determination_value}' malware was detected", "Malware", info)
    for i in range(56):
        ip = (
            g.public_ip(v6=i % 10 == 9)
            if i % 12
            else f"192.168.{g.rng.randint(0, 254)}.{g.rng.randint(2, 254)}"
        )
        g.sight_ip(ip, g.prevalence(), g.window("old" if i % 9 == 4 else "any"))
        if g.rng.random() < 0.2:
            g.alert("ips", ip, "Communication with a known malicious IP address", "CommandAndControl")
    for i in range(42):
        host = g.domain()
        g.sight_domain(host, g.prevalence(), g.window("old" if i % 9 == 4 else "any"))
        if g.rng.random() < 0.2:
            g.alert("domains", host, "Connection to a suspicious domain", "CommandAndControl")
    ds.finish()
    return ds
