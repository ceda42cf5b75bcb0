"""The hunting tables: every documented column, typed; every row carries all of them, in the row contract."""

from __future__ import annotations

import re

import pytest

from enrich.sandbox import generate
from enrich.sandbox.data import parse_ticks
from enrich.sandbox.schema import FILE_PROFILE, TABLES
from enrich.sandbox.tables import LAYOUTS, Row
from enrich.sandbox.tables.columns import parse_columns

pytestmark = pytest.mark.timeout(60)

NOW = parse_ticks("2026-11-20T12:00:00.1234567Z")
TS7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
PY_TYPES = {
    "string": (str,),
    "long": (int,),
    "int": (int,),
    "bool": (bool,),
    "datetime": (str,),
    "dynamic": (list, dict, str, int, float, bool),
}


@pytest.fixture(scope="module")
def ds():
    return generate.build(6, NOW, "tenant", sample_dir="")


# Spot checks against Microsoft's schema pages: (table, column, type, position in the page).
DOCUMENTED = [
    ("DeviceNetworkEvents", "RemoteUrl", "string", 6),
    ("DeviceNetworkEvents", "LocalPort", "int", 8),
    ("DeviceNetworkEvents", "RemoteIPType", "string", 11),
    ("DeviceNetworkEvents", "InitiatingProcessSHA256", "string", 13),
    ("DeviceNetworkEvents", "InitiatingProcessRemoteSessionIP", "string", 43),
    ("DeviceFileEvents", "FileOriginUrl", "string", 9),
    ("DeviceFileEvents", "FileSize", "long", 14),
    ("DeviceFileEvents", "RequestSourcePort", "int", 42),
    ("DeviceFileEvents", "IsAzureInfoProtectionApplied", "bool", 49),
    ("DeviceProcessEvents", "ProcessCommandLine", "string", 17),
    ("DeviceProcessEvents", "ProcessCreationTime", "datetime", 20),
    ("DeviceProcessEvents", "InitiatingProcessSignatureStatus", "string", 54),
    ("DeviceImageLoadEvents", "InitiatingProcessParentCreationTime", "datetime", 34),
    ("DeviceEvents", "RegistryValueData", "string", 22),
    ("DeviceEvents", "ProcessRemoteSessionIP", "string", 63),
    ("DeviceLogonEvents", "LogonType", "string", 4),
    ("DeviceLogonEvents", "IsLocalAdmin", "bool", 10),
    ("DeviceRegistryEvents", "PreviousRegistryValueData", "string", 10),
    ("DeviceInfo", "PublicIP", "string", 4),
    ("DeviceInfo", "OSBuild", "long", 7),
    ("DeviceInfo", "HostDeviceId", "string", 36),
    ("DeviceNetworkInfo", "IPAddresses", "dynamic", 13),
    ("AlertInfo", "AttackTechniques", "string", 7),
    ("AlertEvidence", "EvidenceRole", "string", 8),
    ("AlertEvidence", "ApplicationId", "int", 29),
    ("AlertEvidence", "SubscriptionId", "string", 41),
]
COLUMN_COUNTS = {
    "DeviceNetworkEvents": 44,
    "DeviceFileEvents": 57,
    "DeviceProcessEvents": 58,
    "DeviceImageLoadEvents": 37,
    "DeviceEvents": 64,
    "DeviceLogonEvents": 48,
    "DeviceRegistryEvents": 42,
    "DeviceInfo": 37,
    "DeviceNetworkInfo": 16,
    "AlertInfo": 8,
    "AlertEvidence": 42,
}


@pytest.mark.parametrize(("table", "column", "kql_type", "position"), DOCUMENTED)
def test_documented_columns_in_place(table, column, kql_type, position):
    assert TABLES[table][position] == (column, kql_type)


def test_every_table_has_its_documented_column_count():
    assert {name: len(columns) for name, columns in TABLES.items()} == COLUMN_COUNTS
    for columns in TABLES.values():
        names = [c for c, _ in columns]
        assert len(set(names)) == len(names)
        assert names[0] == "Timestamp"
    for name in TABLES:
        if name.startswith("Device"):
            assert {"DeviceId", "DeviceName"} <= {c for c, _ in TABLES[name]}, name
        if name.startswith("Device") and name not in ("DeviceInfo", "DeviceNetworkInfo"):
            assert {"ReportId", "InitiatingProcessSHA1", "InitiatingProcessMD5"} <= {
                c for c, _ in TABLES[name]
            }


def test_file_profile_columns():
    assert [c for c, _ in FILE_PROFILE] == [
        "SHA1", "SHA256", "MD5", "FileSize", "GlobalPrevalence", "GlobalFirstSeen", "GlobalLastSeen",
        "Signer", "Issuer", "SignerHash", "IsCertificateValid", "IsRootSignerMicrosoft", "SignatureState",
        "IsExecutable", "ThreatName", "Publisher", "SoftwareName", "ProfileAvailability",
    ]  # fmt: skip


def test_column_text_is_checked():
    assert parse_columns("A string\n\n B boolean ") == [("A", "string"), ("B", "bool")]
    with pytest.raises(ValueError, match="unknown KQL type"):
        parse_columns("A text")
    with pytest.raises(ValueError, match="twice"):
        parse_columns("A string\nA long")
    with pytest.raises(ValueError, match="Name type"):
        parse_columns("A string extra")


def test_every_table_is_filled_and_every_row_has_every_column(ds):
    for name, columns in TABLES.items():
        rows = ds.tables[name]
        assert rows, f"{name} has no rows"
        names = [c for c, _ in columns]
        for row in rows[:: max(1, len(rows) // 300)]:
            assert isinstance(row, Row) and list(row) == names and len(row) == len(names)
            for column, kql_type in columns:
                value = row[column]
                if value is None or value == "":
                    assert value == ("" if kql_type == "string" else None), (name, column, value)
                    continue
                assert isinstance(value, PY_TYPES[kql_type]), (name, column, value)
                if kql_type in ("int", "long"):
                    assert not isinstance(value, bool), (name, column)
                if kql_type == "datetime":
                    assert TS7.match(value), (name, column, value)


def test_values_filled_where_the_data_has_them(ds):
    net = ds.tables["DeviceNetworkEvents"]
    assert all(
        r["RemoteIP"] and r["RemoteIPType"] and r["LocalIP"] and r["InitiatingProcessSHA1"] for r in net
    )
    assert any("?" in r["RemoteUrl"] and r["RemoteUrl"].startswith("http") for r in net)  # full URLs
    assert any(r["RemoteUrl"] and "://" not in r["RemoteUrl"] for r in net)  # bare hosts
    files = ds.tables["DeviceFileEvents"]
    assert any(r["FileOriginUrl"].startswith("https://") and r["FileOriginIP"] for r in files)
    logons = ds.tables["DeviceLogonEvents"]
    assert {r["LogonType"] for r in logons} >= {"Interactive", "Network"}
    assert all(r["AccountName"] and r["AccountDomain"] for r in logons)
    assert all(r["RegistryKey"].startswith("HKEY_") for r in ds.tables["DeviceRegistryEvents"])
    info = ds.tables["DeviceInfo"]
    assert all(r["OSPlatform"] and r["PublicIP"] and isinstance(r["LoggedOnUsers"], list) for r in info)
    assert all(r["IPAddresses"][0]["IPAddress"] for r in ds.tables["DeviceNetworkInfo"])
    alerts = {r["AlertId"] for r in ds.tables["AlertInfo"]}
    assert alerts == {a["id"] for a in ds.alerts}
    evidence = ds.tables["AlertEvidence"]
    assert {r["AlertId"] for r in evidence} == alerts
    assert {"File", "Machine"} <= {r["EntityType"] for r in evidence}


def test_device_names_agree_across_tables_and_machines(ds):
    names = {d.id: d.name for d in ds.devices}
    latest_row: dict[str, int] = {}
    for table, rows in ds.tables.items():
        for row in rows:
            if table.startswith("Device"):
                assert row["DeviceName"] == names[row["DeviceId"]], table
                latest_row[row["DeviceId"]] = max(
                    latest_row.get(row["DeviceId"], 0), parse_ticks(row["Timestamp"])
                )
    for dev in ds.devices:  # /api/machines lastSeen is the device's latest report
        assert parse_ticks(dev.entity()["lastSeen"]) == latest_row[dev.id]
    for dev in ds.devices:
        assert dev.entity()["computerDnsName"] == dev.name
    latest = {r["DeviceId"]: r for r in ds.tables["DeviceInfo"]}
    for dev in ds.devices:
        assert latest[dev.id]["PublicIP"] == dev.entity()["lastExternalIpAddress"]
        assert latest[dev.id]["OSPlatform"] == dev.entity()["osPlatform"]


def test_layout_refuses_unknown_columns_and_rows_compare_like_dicts():
    layout = LAYOUTS["AlertInfo"]
    row = layout.row({"AlertId": "da1", "Title": "t"})
    assert row == {c: row[c] for c in row} and dict(row)["Severity"] == ""
    assert row.get("Nope", 5) == 5 and "Title" in row and "Nope" not in row
    with pytest.raises(KeyError, match="AlertInfo has no column 'Nope'"):
        layout.row({"Nope": 1})
