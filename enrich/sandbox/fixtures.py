"""Documented example entities planted in every generated dataset (MDE docs' own examples)."""

from __future__ import annotations

from enrich.sandbox.catalog import derived
from enrich.sandbox.data import FileInfo, parse_ticks
from enrich.sandbox.generator import Generator


def plant_fixtures(g: Generator) -> None:
    """Documented example entities, so responses can be compared with the MDE docs."""
    ds = g.ds
    pua = FileInfo(
        sha1="4388963aaa83afe2042a46a3c017ad50bdcdafb3",
        sha256="413c58c8267d2c8648d8f6384bacc2ae9c929b2b96578b6860b5087cd1bd6462",
        md5=derived("md5", "4388963aaa83afe2042a46a3c017ad50bdcdafb3"),
        name="MobiSaver.exe",
        folder=r"C:\Users\alice\Downloads",
        size=22139496,
        file_type="APP",
        publisher="CHENGDU YIWO Tech Development Co., Ltd.",
        product="EaseUS MobiSaver for Android",
        signer="CHENGDU YIWO Tech Development Co., Ltd.",
        issuer="VeriSign Class 3 Code Signing 2010 CA",
        signer_hash="6c3245d4a9bc0244d99dff27af259cbbae2e2d16",
        valid_cert=False,
        determination_type="Pua",
        determination_value="PUA:Win32/FusionCore",
        global_prevalence=180022,
        global_first=parse_ticks("2017-09-19T03:51:27.6785431Z"),
        global_last=parse_ticks("2020-01-06T03:59:21.3229314Z"),
    )
    mrec = g.global_profile(
        FileInfo(
            sha1="0991a395da64e1c5fbe8732ed11e6be064081d9f",
            sha256=derived("sha256", "0991a395da64e1c5fbe8732ed11e6be064081d9f"),
            md5=derived("md5", "0991a395da64e1c5fbe8732ed11e6be064081d9f"),
            name="MREC.exe",
            folder=r"C:\Program Files\MREC",
            size=1_404_928,
            publisher="Microsoft Corporation",
            product="Microsoft Remote Event Collector",
            signer="Microsoft Corporation",
            issuer="Microsoft Code Signing PCA 2011",
            signer_hash=g.hexstr(160),
            valid_cert=True,
            determination_type="Clean",
            determination_value="",
        )
    )
    mrec.global_prevalence = 705012
    mrec.global_first = parse_ticks("2015-03-19T12:20:07.3432441Z")
    alert_file = FileInfo(
        sha1="f2a00fd2f2de1be0214b8529f1e9f67096c1aa70",
        sha256="dcd71ef5fff4362a9f64cf3f96f14f2b11d6f428f3badbedcb9ff3361e7079aa",
        md5="8d5b7cc9a832e21d22503057e1fec8e9",
        name="rundll32.exe",
        folder=r"C:\Windows\SysWOW64",
        size=113984,
        publisher="Microsoft Corporation",
        product="Microsoft&copy; Windows&copy; Operating System",
        signer="Microsoft Corporation",
        issuer="Microsoft Code Signing PCA",
        signer_hash="9dc17888b5cfad98b3cb35c1994e96227f061675",
        valid_cert=True,
        determination_type="Unknown",
        global_prevalence=29,
        global_first=parse_ticks("2019-03-23T23:54:06.0135204Z"),
        global_last=parse_ticks("2019-04-23T00:43:20.0489831Z"),
    )
    key = "enrich-sandbox/unsigned"
    unsigned = g.global_profile(
        FileInfo(
            sha1=derived("sha1", key),
            sha256=derived("sha256", key),
            md5=derived("md5", key),
            name="tool.exe",
            folder=r"C:\Users\bob\Downloads",
            size=48_640,
            determination_type="Unknown",
        )
    )
    key = "enrich-sandbox/not-in-org"
    not_in_org = g.global_profile(
        FileInfo(
            sha1=derived("sha1", key),
            sha256=derived("sha256", key),
            md5=derived("md5", key),
            name="rare.dll",
            folder=r"C:\Windows\Temp",
            size=90_112,
            determination_type="Malware",
            determination_value="Trojan:Win32/Emotet.RPX!MTB",
        )
    )
    for info, n in ((pua, 3), (mrec, 25), (alert_file, 2), (unsigned, 1)):
        g.sight_file(info, n, g.window("recent") if n < 3 else g.window("inside"))
        ds.planted[("files", info.sha1)] = True
    ds.add_file(not_in_org)
    ds.planted[("files", not_in_org.sha1)] = False
    g.alert(
        "files",
        alert_file.sha1,
        "Low-reputation arbitrary code executed by signed executable",
        "Execution",
        alert_file,
    )
    g.alert("files", pua.sha1, "'FusionCore' unwanted software was detected", "UnwantedSoftware", pua)
    for ip, n in (("10.209.67.177", 6), ("2a01:110:68:4:59e4:3916:3b3e:4f96", 2)):
        g.sight_ip(ip, n, g.window("inside"))
        ds.planted[("ips", ip)] = True
    for host, n in (("example.com", 4), ("client.wns.windows.com", 30)):
        g.sight_domain(host, n, g.window("inside"))
        ds.planted[("domains", host)] = True
    g.alert(
        "domains",
        "client.wns.windows.com",
        "Suspicious connection to a notification service",
        "CommandAndControl",
    )
    for fam, key in (
        ("files", "1111111111111111111111111111111111111111"),
        ("ips", "203.0.113.7"),
        ("domains", "never-seen.example.net"),
    ):
        ds.planted[(fam, key)] = False
        g.reserved.add((fam, key))
