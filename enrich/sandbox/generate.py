"""Deterministic synthetic telemetry from a seed: `build` lays out a whole dataset.

The bricks (devices, files, sightings, alerts, event times) come from `generator.Generator`;
the documented examples planted in every dataset from `fixtures.plant_fixtures`. Hashes the
sample files give for one file (`samples.linked_hashes`) become one file with those hashes,
seen or unseen together; the full URLs they give (`samples.scan_urls`) are the RemoteUrl of
some of their host's connections, so hunting for the exact URL finds them.
"""

from __future__ import annotations

from enrich.sandbox import samples
from enrich.sandbox.catalog import BENIGN_DOMAINS, derived
from enrich.sandbox.data import Dataset, normalize_domain
from enrich.sandbox.fixtures import plant_fixtures
from enrich.sandbox.generator import Generator


def file_hashes(given: tuple[str, ...]) -> tuple[str, str, str]:
    """(SHA-1, SHA-256, MD5) of a file known by `given` hashes; the missing ones derive from one given."""
    by_len = {len(h): h for h in given}
    anchor = by_len.get(40) or given[0]
    return (
        by_len.get(40) or derived("sha1", anchor),
        by_len.get(64) or derived("sha256", anchor),
        by_len.get(32) or derived("md5", anchor),
    )


def build(
    seed: int, now: int, tenant_id: str, sample_dir: str | None = None, device_count: int = 50
) -> Dataset:
    """The synthetic dataset for `seed`; plants indicators found in `sample_dir` ("" to skip)."""
    g = Generator(seed, now, tenant_id)
    g.make_devices(device_count)
    g.make_processes()
    ds = g.ds
    sample_root = samples.default_sample_dir() if sample_dir is None else sample_dir
    planted = samples.scan(sample_root) if sample_dir != "" else []
    linked = samples.linked_hashes(sample_root) if sample_dir != "" else []
    urls = samples.scan_urls(sample_root) if sample_dir != "" else {}
    group_of = {h: group for group in linked for h in group}

    def members(fam: str, key: str) -> tuple[str, ...]:
        return group_of.get(key, (key,)) if fam == "files" else (key,)

    def seen(fam: str, key: str) -> bool:  # a linked file is seen or not as a whole
        return samples.chosen_seen(members(fam, key)[0])

    for fam, key in planted:  # reserve first, so random data never makes an unseen one seen
        if not seen(fam, key):
            g.reserved.add((fam, key))
    plant_fixtures(g)
    g.background()
    # background: common processes and services seen everywhere
    for info in g.processes.values():
        g.sight_file(info, g.rng.randint(15, 45), g.window("any"))
    for host in BENIGN_DOMAINS:
        g.sight_domain(host, g.rng.randint(10, 45), g.window("any"))
    # indicators from the sample files: about half seen (within 30 days), the rest unknown
    for fam, key in planted:
        if (fam, key) in ds.planted:
            continue
        is_seen = seen(fam, key)
        for member in members(fam, key):
            ds.planted[(fam, member)] = is_seen
        if not is_seen:
            continue
        n = g.prevalence()
        if fam == "files":
            info = g.malicious_file(*file_hashes(members(fam, key)))
            g.sight_file(info, n, g.window("inside"))
            if info.determination_type in ("Malware", "Pua") and g.rng.random() < 0.5:
                g.alert("files", info.sha1, f"'{info.name}' malware was detected", "Malware", info)
        elif fam == "ips":
            g.sight_ip(key, n, g.window("inside"), urls.get(key, ()))
        elif normalize_domain(key):
            g.sight_domain(key, n, g.window("inside"), urls.get(key, ()))
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
