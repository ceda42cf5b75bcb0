"""Every shell example of README.md runs, against one `enrich sandbox` process, and ends as the README says.

The examples run in order, each as one bash script, in a scratch copy of the checkout's `sample_data/`
and `jobs/` (they write there, as they would in a checkout), with the sandbox's `export` lines in the
environment (as the README tells a reader to paste them), `enrich` on the PATH, and HOME and the cache
inside the scratch folder. A block that cannot run here carries `<!-- not-run: reason -->`. The output
shown right after an example (a `text` block) must be what it prints, numbers, URLs and paths aside.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.readme_examples import (
    Example,
    commands_of,
    dangling_markers,
    script_for,
    shape,
    shell_examples,
    unmatched_excerpt_lines,
)

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = shell_examples(README)
RUNNABLE = [example for example in EXAMPLES if example.not_run is None]
BIN = Path(sys.executable).parent
_EXPORT = re.compile(r"^export (?P<name>[A-Z_]+)=(?P<value>.*)$")
# The sandbox's quota clock runs 60x: a minute lasts a second, so the client may go as fast.
_SANDBOX_RATE = "100/1s,1500/60s"


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _read_exports(proc: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The `export NAME=value` lines `enrich sandbox` prints (MDE_CA_BUNDLE, the last, ends them)."""
    found: dict[str, str] = {}
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = _EXPORT.match(line.strip())
            if match:
                found[match.group("name")] = _unquote(match.group("value"))
                if match.group("name") == "MDE_CA_BUNDLE":
                    break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout):
        raise AssertionError("enrich sandbox printed no export lines in time")
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A scratch checkout (sample_data/, jobs/) and the environment of a shell pointed at one sandbox."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "sample_data", root / "sample_data")
    shutil.copytree(ROOT / "jobs", root / "jobs")
    (root / "home").mkdir()
    # No MDE_*, ENRICH_*, CA-bundle or proxy variable of the machine running the tests.
    drop = ("MDE_", "ENRICH_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    proxies = {"HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k.upper() not in proxies}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "HOME": str(root / "home"),
            "XDG_CACHE_HOME": str(root / "home" / ".cache"),
        }
    )
    proc = subprocess.Popen(
        [str(BIN / "enrich"), "sandbox", "--time-scale", "60"],
        cwd=root,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        exports = _read_exports(proc, timeout=60)
        assert {"MDE_TENANT_ID", "MDE_CLIENT_SECRET", "MDE_API_URL", "MDE_CA_BUNDLE"} <= exports.keys()
        env.update(exports)
        env["MDE_RATE_LIMIT"] = _SANDBOX_RATE
        yield root, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_the_readme_has_runnable_examples_and_every_marker_gives_a_reason() -> None:
    assert len(RUNNABLE) >= 8, [example.line for example in EXAMPLES]
    for example in EXAMPLES:
        assert example.not_run is None or example.not_run, f"line {example.line}: not-run without a reason"
    assert not dangling_markers(README), "not-run markers that stand before no shell block"


def test_every_runnable_block_has_a_command() -> None:
    empty = [example.line for example in RUNNABLE if not example.commands]
    assert not empty, f"shell blocks without a command (mark them not-run or give them one): {empty}"


@pytest.mark.parametrize("example", RUNNABLE, ids=[f"line{e.line}" for e in RUNNABLE])
def test_example_runs(example: Example, workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    tools = {
        word for command in example.commands for word in re.findall(r"(?:^|[|;&(]\s*)(jq)\b", command.text)
    }
    for tool in sorted(tools):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the README example at line {example.line} uses it)")
    done = subprocess.run(
        ["bash", "-c", script_for(example)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, (
        f"README example at line {example.line} failed (exit {done.returncode}):\n"
        f"{done.stderr[-4000:]}\n--- stdout ---\n{done.stdout[-2000:]}"
    )
    if example.output is not None:
        unmatched = unmatched_excerpt_lines(example.output, done.stdout + "\n" + done.stderr)
        assert not unmatched, (
            f"the output shown after the README example at line {example.line} is not what it prints "
            f"(lines of another shape: {unmatched});\nit printed:\n{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
        )


# --- the extractor itself -----------------------------------------------------------------------------


def test_the_extractor_reads_languages_markers_continuations_and_exit_codes() -> None:
    text = "\n".join(
        [
            "```sh",
            "# a comment",
            "enrich run a.csv \\",
            "  -o b.csv   # exits 3",
            "```",
            "<!-- not-run: needs systemd -->",
            "",
            "```bash",
            "systemctl start x",
            "```",
            "```text",
            "enrich: not a command",
            "```",
            "1. step",
            "   ```console",
            "   $ echo '# exits 5' # exit 4",
            "   output line",
            "   ```",
        ]
    )
    first, second, third = shell_examples(text)
    assert first.commands[0].text == "enrich run a.csv -o b.csv   # exits 3"
    assert first.commands[0].expected_exit == 3 and first.not_run is None and first.line == 1
    assert second.not_run == "needs systemd" and second.commands[0].text == "systemctl start x"
    assert third.language == "console" and len(third.commands) == 1
    assert third.commands[0].expected_exit == 4  # the quoted "# exits 5" is an argument, not a comment
    assert dangling_markers(text) == []
    assert dangling_markers("<!-- not-run: x -->\n\nplain text\n") == [1]


def test_an_output_excerpt_is_matched_by_shape() -> None:
    text = "```sh\nenrich run x\n```\n\n```text\nenrich: wrote /srv/out/a-2026.csv\n...\n```\n"
    (example,) = shell_examples(text)
    assert example.output == ("enrich: wrote /srv/out/a-2026.csv", "...")
    assert unmatched_excerpt_lines(example.output, "enrich: wrote /tmp/x/out/a-2027.csv\n") == []
    assert unmatched_excerpt_lines(example.output, "enrich: written /tmp/x/out/a-2027.csv\n") == [
        "enrich: wrote /srv/out/a-2026.csv"
    ]
    assert shape("host https://127.0.0.1:4431/x failed in 0.5 s") == "host URL failed in N s"
    (without,) = shell_examples("```sh\ntrue\n```\nprose\n```text\nnot its output\n```\n")
    assert without.output is None


def test_a_script_stops_at_the_first_unexpected_exit_code(tmp_path: Path) -> None:
    example = Example(line=1, language="sh", commands=commands_of([(7, "false"), (8, "touch never")], "sh"))
    done = subprocess.run(
        ["bash", "-c", script_for(example)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 100 and "README line 7: exited 1, expected 0" in done.stderr
    assert not (tmp_path / "never").exists()
    expected = Example(
        line=1, language="sh", commands=commands_of([(3, "exit_3() { return 3; }; exit_3  # exits 3")], "sh")
    )
    ok = subprocess.run(["bash", "-c", script_for(expected)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
