"""The README documents every command and option the CLI has."""

import re
from pathlib import Path

import click

from enrich.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def walk(group: click.Group, prefix: str = "enrich"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from walk(command, f"{prefix} {name}")


def test_every_command_and_option_is_in_the_readme():
    missing = []
    for name, command in walk(cli):
        if not isinstance(command, click.Group) and f"`{name}" not in README:
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts + param.secondary_opts:
                    if (
                        opt.startswith("--")
                        and opt != "--help"
                        and not re.search(re.escape(opt) + r"\b", README)
                    ):
                        missing.append(f"{name} {opt}")
    assert not missing, f"README lacks: {missing}"


def test_readme_names_the_contract():
    for word in ("make demo", "make test", "MDE_TENANT_ID", "MDE_CA_BUNDLE", "mde_org_prevalence", "| 3 |"):
        assert word in README


def test_every_output_column_is_documented():
    from enrich.model import MDE_COLUMNS

    missing = [name for name in MDE_COLUMNS if f"`{name}`" not in README]
    assert not missing, f"README's output table lacks: {missing}"
