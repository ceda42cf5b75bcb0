"""Shell completion (click's, for bash, zsh and fish) and the examples ending every `--help`."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.help_examples import EXAMPLES

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
ENRICH = [sys.executable, "-c", "import sys; from enrich.cli import cli; sys.exit(cli(prog_name='enrich'))"]


def _complete(shell: str, words: str, cword: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDE_")}
    env.update({"_ENRICH_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword})
    done = subprocess.run(ENRICH, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _enrich_completion enrich"),
        ("zsh", "#compdef enrich"),
        ("fish", "complete"),
    ],
)
def test_each_shell_gets_a_script(shell, marker):
    env = dict(os.environ, _ENRICH_COMPLETE=f"{shell}_source")
    done = subprocess.run(ENRICH, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_ENRICH_COMPLETE" in done.stdout


def test_bash_protocol_completes_commands_and_choices():
    assert _complete("bash", "enrich ru", "1").split() == ["plain,run"]
    assert _complete("bash", "enrich run --mode ", "3").split() == ["plain,stats", "plain,hunt", "plain,auto"]
    assert "plain,clear" in _complete("bash", "enrich cache c", "2").split()
    assert _complete("bash", "enrich sandbox --cl", "2").split() == ["plain,--cloud"]


def test_zsh_and_fish_protocols_complete_run():
    assert _complete("zsh", "enrich ru", "1").splitlines()[:2] == ["plain", "run"]
    assert _complete("fish", "enrich ru", "ru").startswith("plain,run\t")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_completes_in_bash(tmp_path):
    """The bash script as a user sources it: completing `enrich ru<TAB>` offers `run`."""
    shim = tmp_path / "enrich"
    shim.write_text(f'#!/bin/sh\nexec {shlex.join(ENRICH)} "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    script = (
        'eval "$(_ENRICH_COMPLETE=bash_source enrich)"\n'
        "COMP_WORDS=(enrich ru); COMP_CWORD=1; _enrich_completion enrich ru enrich\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["run"]


# --- the examples of every --help -------------------------------------------------------------


def _commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {prefix or "enrich": group}
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        found[path] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, path))
    return found


def _help_examples(path: str) -> list[str]:
    args = [*path.split(), "--help"] if path != "enrich" else ["--help"]
    shown = CliRunner().invoke(cli, args, prog_name="enrich", terminal_width=200).output
    _, _, tail = shown.partition("\n  Examples:\n")
    return [line.strip() for line in tail.splitlines() if line.startswith("    enrich ")]


def test_every_command_ends_its_help_with_examples():
    commands = _commands()
    assert set(commands) == set(EXAMPLES)
    for path in commands:
        shown = _help_examples(path)
        assert 2 <= len(shown) <= 3 and shown == list(EXAMPLES[path]), path


def _parse(line: str) -> click.Command:
    """The command `line` names, after click has parsed every argument of every level."""
    words = shlex.split(line)
    assert words[0] == "enrich"
    command: click.Command = cli
    args, name = words[1:], "enrich"
    while True:
        ctx = command.make_context(name, list(args))
        if not isinstance(command, click.Group):
            return command
        rest = (
            [*ctx._protected_args, *ctx.args]
            if hasattr(ctx, "_protected_args")
            else [*ctx.protected_args, *ctx.args]
        )
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None, line
        command = sub


def test_every_example_parses():
    for path, lines in EXAMPLES.items():
        for line in lines:
            command = _parse(line)
            assert not isinstance(command, click.Group), line  # a whole command, not a group's help
            assert path in ("enrich", "cache") or (line + " ").startswith(f"enrich {path} "), line


def _runnable(words: list[str], cwd: Path) -> bool:
    """Examples that run here: against the sandbox, or on files that exist (classify, report)."""
    if "--sandbox" in words:
        return True
    if words[1] in ("classify", "report"):
        inputs = [
            w
            for w in words[2:]
            if not w.startswith("-")
            and "." in w
            and words[words.index(w) - 1] not in ("-o", "--column", "--mode")
        ]
        return all((cwd / w).exists() for w in inputs)
    return False


def test_examples_run(tmp_path, clean_mde_env):
    """Every example that can run here does, as a user types it (a real process, no terminal)."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("*.service", "*.timer"))
    (tmp_path / "out").mkdir()
    order = ["run", "job", "check", "classify", "report", "enrich"]
    lines = sorted(
        {line for lines in EXAMPLES.values() for line in lines},
        key=lambda line: order.index(shlex.split(line)[1]) if shlex.split(line)[1] in order else 9,
    )
    ran = []
    for line in lines:
        words = shlex.split(line)
        if not _runnable(words, tmp_path):
            continue
        done = subprocess.run(
            ENRICH + words[1:],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
        ran.append(line)
    assert "enrich run --sandbox sample_data/plain_list.txt -o enriched.csv" in ran
    assert "enrich report enriched.csv -o report.html" in ran
    assert "enrich job --sandbox jobs/incident-export.toml" in ran
    assert len(ran) >= 8, ran
