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


ENRICH_PACKAGE = Path(__file__).resolve().parents[1] / "enrich"
# `os.environ.get("X")`, `os.environ["X"]`, `os.getenv("X")` in the package's source.
_ENV_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def variables_the_code_reads() -> set[str]:
    """Every environment variable the package reads: by name in its source, its settings and proxy
    tables, and click's `envvar=` options."""
    from enrich.mde.proxies import NO_PROXY_VARIABLES, PROXY_VARIABLES
    from enrich.mde.settings import ENV_VARS

    names = set(ENV_VARS.values()) | set(PROXY_VARIABLES) | set(NO_PROXY_VARIABLES)
    for path in ENRICH_PACKAGE.rglob("*.py"):
        names.update(_ENV_READ.findall(path.read_text(encoding="utf-8")))
    for _, command in walk(cli):
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                names.add(envvar)
            elif envvar:
                names.update(envvar)
    return names


def test_every_environment_variable_the_code_reads_is_in_the_readme():
    names = variables_the_code_reads()
    assert {"MDE_TENANT_ID", "MDE_CLOUD", "ENRICH_LOG_FORMAT", "HTTPS_PROXY", "XDG_CACHE_HOME"} <= names
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert not missing, f"README lacks these environment variables: {missing}"


def test_every_status_is_in_the_readme_statuses_table():
    from enrich.model import Status

    table = README[README.index("### Statuses") :].split("\n## ", 1)[0]
    missing = [status.value for status in Status if f"| `{status.value}` |" not in table]
    assert not missing, f"README's Statuses table lacks: {missing}"


def test_every_job_file_key_is_in_the_readme():
    from enrich.jobfile import KEYS
    from enrich.tenants import JOB_KEYS, TABLE_KEYS

    missing = [key for key in (*KEYS, *TABLE_KEYS, *JOB_KEYS) if f"`{key}`" not in README]
    assert not missing, f"README lacks these job file keys: {missing}"
