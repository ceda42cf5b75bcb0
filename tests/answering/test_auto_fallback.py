"""`--mode auto` when hunting turns out unusable at call time, through real `enrich run` processes
against the sandbox: the app's token has the hunting roles (so auto chooses hunting), but the
hunting routes answer 403 anyway, have no hunting (404/501), or refuse the queries as not
understood (a 400 that is not about size). Auto then answers what the statistics APIs can, the
rows equal a `--mode stats` run's for those types, MD5 rows say why, and the summary says so;
a transient 503 storm is no fallback; `--mode hunt` fails loudly.

The faults are the sandbox's own hunting handlers replaced for the test (after its role check,
quota and fault pipeline), answering as MDE and Graph word such errors.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enrich.sandbox.wire import graph_error, mde_error
from tests.answering.test_hunting_run import calls, pick_values
from tests.process_helpers import run_command, sandbox_env

pytestmark = pytest.mark.usefixtures("clean_mde_env")

HUNTER = "5a5a5a5a-0000-4000-8000-00000000f001"
SECRET = "k-auto-fallback-secret"
# The cells that must be the same as a stats run's (the notes are compared apart).
SAME = (
    "mde_status",
    "mde_org_prevalence",
    "mde_org_first_seen",
    "mde_org_last_seen",
    "mde_error",
    "mde_lookup",
    "mde_answered_by",
)
FILES_TABLE = "DeviceImageLoadEvents"  # only the files query reads it


@pytest.fixture(scope="module")
def sandbox():
    """A sandbox whose one app holds every default role, hunting ones included."""
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
    from enrich.sandbox.config import DEFAULT_ROLES

    tenant = "11111111-2222-4333-8444-55555555f001"
    clients = [ClientSpec(HUNTER, SECRET, tenant, roles=DEFAULT_ROLES)]
    with Sandbox(SandboxConfig(time_scale=60, sample_dir="", clients=clients)) as box:
        yield box


@pytest.fixture
def feed(sandbox, tmp_path) -> dict[str, list[str]]:
    values = pick_values(sandbox)
    (tmp_path / "in.csv").write_text("indicator\n" + "".join(f"{v}\n" for vs in values.values() for v in vs))
    return values


Responder = Callable[..., object]


@pytest.fixture
def hunting_answers(sandbox, monkeypatch) -> Iterator[Callable[[Responder], None]]:
    """`hunting_answers(respond)`: both hunting routes answer `respond(request, graph, real)` (`real`:
    the sandbox's own handler) for the rest of the test."""
    app = sandbox._app

    def install(respond: Responder) -> None:
        graph, legacy = app._hunting_graph, app._hunting_legacy
        monkeypatch.setattr(app, "_hunting_graph", lambda request: respond(request, True, graph))
        monkeypatch.setattr(app, "_hunting_legacy", lambda request: respond(request, False, legacy))

    yield install


def forbidden(request, graph: bool, real):  # noqa: ANN001, ARG001
    """A 403 although the token holds the role (a conditional-access or tenant-side refusal)."""
    if graph:
        return graph_error(403, "Forbidden", "Insufficient privileges to complete the operation.", request)
    return mde_error(
        403,
        "Forbidden",
        "The application does not have any of the required application permissions "
        "(AdvancedQuery.Read.All) to access the resource.",
    )


def no_route(status: int) -> Responder:
    """A service or proxy without hunting: 404 (no such route) or 501 (not implemented)."""

    def respond(request, graph: bool, real):  # noqa: ANN001, ARG001
        if status == 404:
            return mde_error(404, "NotFound", f"No route for {request.method} {request.target}")
        if graph:
            return graph_error(501, "NotImplemented", "The requested feature is not implemented.", request)
        return mde_error(501, "NotImplemented", "Advanced hunting is not available on this service.")

    return respond


def unresolved(only_files: bool) -> Responder:
    """A service lacking a table: every query (or only the files query) refused with KQL's semantic 400."""

    def respond(request, graph: bool, real):  # noqa: ANN001
        if only_files and FILES_TABLE.encode() not in request.body:
            return real(request)
        message = f"Failed to resolve table or column expression named '{FILES_TABLE}'"
        if graph:
            return graph_error(400, "BadRequest", message, request)
        return mde_error(400, "BadRequest", message)

    return respond


def run(box, tmp: Path, name: str, *extra: str, cache: str = "cache"):  # noqa: ANN001
    """One `enrich run` of tmp/in.csv; (exit code, stderr, rows by value, summary)."""
    out, summary = tmp / f"{name}.csv", tmp / f"{name}.json"
    cmd = run_command(tmp / "in.csv", out, tmp / f"{cache}.sqlite3", "--summary", str(summary), *extra)
    env = sandbox_env(box)
    env.update(MDE_CLIENT_ID=HUNTER, MDE_CLIENT_SECRET=SECRET, MDE_TENANT_ID=box.clients[0].tenant_id)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    rows = {r["mde_value"]: r for r in csv.DictReader(out.open(encoding="utf-8"))} if out.exists() else {}
    return done.returncode, done.stderr, rows, json.loads(summary.read_text()) if summary.exists() else None


def stats_rows(box, tmp: Path) -> dict[str, dict[str, str]]:  # noqa: ANN001
    code, err, rows, _ = run(box, tmp, "stats", "--mode", "stats", cache="stats-cache")
    assert code == 0, err
    return rows


def assert_like_stats(rows, expected, feed, *, hunted: tuple[str, ...] = ()) -> None:  # noqa: ANN001
    """Rows of the types stats answers equal the stats run's (URL notes: the host's, and why the
    exact URL was not asked); types in `hunted` were answered by hunting instead."""
    for kind, values in feed.items():
        if kind == "md5" or kind in hunted:
            continue
        for value in values:
            row, want = rows[value], expected[value]
            assert {c: row[c] for c in SAME} == {c: want[c] for c in SAME}, (kind, row, want)
            if kind == "url":
                assert row["mde_note"].startswith(want["mde_note"] + "; the exact URL was not asked"), row
                assert "advanced hunting failed at call time" in row["mde_note"], row
            else:
                assert row["mde_note"] == want["mde_note"], (row, want)


@pytest.mark.parametrize("kind", ["403"])
def test_a_403_despite_the_role_falls_back_to_stats_and_md5_rows_say_why(
    sandbox, tmp_path, feed, hunting_answers, kind
):
    expected = stats_rows(sandbox, tmp_path)
    hunting_answers(forbidden)
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto")
    after = calls(sandbox)
    assert code == 0, err  # nothing transient: MD5 rows unsupported, no row error
    assert after["hunting"] - before["hunting"] == 2  # Graph once, legacy once, then never again
    mode = summary["mode"]
    assert (mode["asked"], mode["chosen"]) == ("auto", "hunt")
    fallback = mode["fallback"]
    assert fallback["answered_by_stats"] == after["entity"] - before["entity"] > 0  # each asked once
    assert fallback["not_answered"] == len(feed["md5"]) + len(feed["url"])
    assert "hunting refused at call time" in mode["reason"]
    assert all("403 Forbidden" in why for why in mode["paths"].values()), mode["paths"]  # as called
    assert "warning: auto: hunting refused at call time (" in err
    assert f"{fallback['answered_by_stats']} lookups answered by the statistics APIs instead" in err
    assert_like_stats(rows, expected, feed)
    for md5 in feed["md5"]:
        row = rows[md5]
        assert row["mde_status"] == "unsupported", row
        assert (
            "refused the app at call time" in row["mde_error"]
            and "ThreatHunting.Read.All" in row["mde_error"]
        )


@pytest.mark.parametrize("status", [404, 501])
def test_a_hunting_route_that_is_missing_falls_back_and_md5_rows_are_errors(
    sandbox, tmp_path, feed, hunting_answers, status
):
    expected = stats_rows(sandbox, tmp_path)
    hunting_answers(no_route(status))
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto")
    after = calls(sandbox)
    assert code == 3, err  # MD5 rows `error`: a rerun asks them again
    assert after["hunting"] - before["hunting"] == 2  # no retry of a 501, each path once
    assert summary["mode"]["fallback"]["answered_by_stats"] == after["entity"] - before["entity"]
    assert f"HTTP {status}" in summary["mode"]["reason"]
    assert all(f"HTTP {status}" in why for why in summary["mode"]["paths"].values())
    assert_like_stats(rows, expected, feed)
    for md5 in feed["md5"]:
        row = rows[md5]
        assert row["mde_status"] == "error", row
        assert "only advanced hunting answers MD5 hashes" in row["mde_error"], row
        assert f"HTTP {status}" in row["mde_error"] and "a rerun asks again" in row["mde_error"], row
    assert {r["mde_status"] for r in rows.values() if r["mde_type"] != "md5"} <= {"seen", "not_seen"}


@pytest.mark.parametrize("only_files", [False, True], ids=["every-query", "files-query"])
def test_queries_not_understood_fall_back_per_family(sandbox, tmp_path, feed, hunting_answers, only_files):
    expected = stats_rows(sandbox, tmp_path)
    hunting_answers(unresolved(only_files))
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto")
    after = calls(sandbox)
    assert code == 3, err
    families = ["files"] if only_files else ["domains", "files", "ips", "urls"]
    assert summary["mode"]["fallback"]["families"] == families
    assert "Failed to resolve table or column expression" in summary["mode"]["reason"]
    hunted = ("ipv4", "domain", "url") if only_files else ()
    assert_like_stats(rows, expected, feed, hunted=hunted)
    for md5 in feed["md5"]:
        assert rows[md5]["mde_status"] == "error" and "Failed to resolve" in rows[md5]["mde_error"]
    for kind in hunted:  # the families whose queries were understood: hunted as usual
        for value in feed[kind]:
            assert rows[value]["mde_answered_by"].startswith("hunting-graph"), rows[value]
    # one refused query per family that fell back (no split, no retry, no legacy), stats for the rest
    assert summary["mode"]["fallback"]["answered_by_stats"] == after["entity"] - before["entity"]
    if not only_files:
        assert after["hunting"] - before["hunting"] == 4


def test_a_transient_503_storm_is_retried_not_a_fallback(sandbox, tmp_path):
    ips = [k for _, k in sandbox.data.seen_keys("ips") if ":" not in k][:2]
    (tmp_path / "in.csv").write_text("indicator\n" + "".join(f"{v}\n" for v in ips))
    sandbox.configure(faults={"503": 1.0}, fault_families=("hunting", "graph_hunting"))
    try:
        before = calls(sandbox)
        code, err, rows, summary = run(sandbox, tmp_path, "storm")
        after = calls(sandbox)
    finally:
        sandbox.configure(faults={}, fault_families=None)
    assert code == 3, err
    assert after["entity"] == before["entity"]  # no fallback to stats
    assert after["hunting"] - before["hunting"] > 1  # the client's retries
    assert "fallback" not in summary["mode"]
    assert all(r["mde_status"] == "error" for r in rows.values()), rows
    code, err, rows, summary = run(sandbox, tmp_path, "rerun")
    assert code == 0, err
    assert summary["lookups"]["asked"] == len(ips)  # the errors were not cached: asked again
    assert {r["mde_answered_by"] for r in rows.values()} == {"hunting-graph"}


@pytest.mark.parametrize("respond", [forbidden, no_route(501)], ids=["403", "501"])
def test_hunt_mode_fails_loudly_and_suggests_the_other_modes(
    sandbox, tmp_path, feed, hunting_answers, respond
):
    hunting_answers(respond)
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "hunt", "--mode", "hunt")
    assert code == 1, err  # fatal, as documented (a permission missing)
    assert calls(sandbox)["entity"] == before["entity"]
    assert "advanced hunting is not available" in err
    assert "--mode stats" in err and "--mode auto" in err
    assert "Traceback" not in err
    assert rows == {} and (summary["status"], summary["exit_code"]) == ("failed", 1)
    assert "--mode auto falls back" in summary["error"]


def test_what_hunting_answered_before_the_refusal_is_kept_and_nothing_is_asked_twice(
    sandbox, tmp_path, feed, hunting_answers
):
    """The first family (files, MD5 included) is hunted; then hunting answers 403: the other
    families go to stats, each lookup asked once, the hunted rows keep their hunting answers."""
    served = [0]

    def first_then_forbidden(request, graph: bool, real):  # noqa: ANN001
        served[0] += 1
        return real(request) if served[0] == 1 else forbidden(request, graph, real)

    expected = stats_rows(sandbox, tmp_path)
    hunting_answers(first_then_forbidden)
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto")
    after = calls(sandbox)
    assert code == 0, err
    assert after["hunting"] - before["hunting"] == 3  # files on Graph; then Graph and legacy refuse
    fallback = summary["mode"]["fallback"]
    assert fallback["families"] == ["domains", "ips", "urls"]
    assert fallback["not_answered"] == len(feed["url"])
    assert fallback["answered_by_stats"] == after["entity"] - before["entity"]
    for kind in ("sha1", "sha256", "md5"):
        for value in feed[kind]:
            assert rows[value]["mde_answered_by"] == "hunting-graph", rows[value]
    assert rows[feed["md5"][0]]["mde_status"] == "seen"
    assert_like_stats(rows, expected, {k: v for k, v in feed.items() if k in ("ipv4", "domain", "url")})


def test_hunt_mode_marks_a_family_whose_query_is_not_understood_error_and_hunts_the_others(
    sandbox, tmp_path, feed, hunting_answers
):
    hunting_answers(unresolved(only_files=True))
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "hunt-400", "--mode", "hunt")
    after = calls(sandbox)
    assert code == 3, err
    assert after["entity"] == before["entity"]  # hunt mode never falls back
    assert after["hunting"] - before["hunting"] == 4  # one refused files query, then ips, domains, urls
    assert "fallback" not in summary["mode"]
    for kind in ("sha1", "sha256", "md5"):
        for value in feed[kind]:
            assert rows[value]["mde_status"] == "error" and "Failed to resolve" in rows[value]["mde_error"]
    for kind in ("ipv4", "domain", "url"):
        for value in feed[kind]:
            assert rows[value]["mde_status"] in ("seen", "not_seen"), rows[value]
