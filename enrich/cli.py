"""Command line: click declarations only; the work is done in the modules they call."""

from __future__ import annotations

import click

from enrich import __version__
from enrich.answering import mode_names
from enrich.errors import EXIT_FATAL, EnrichError, exit_code
from enrich.help_examples import epilog
from enrich.request import (
    DEFAULT_LOOKBACK,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_DEVICES,
    DEFAULT_MODE,
    MAX_DEVICES,
    lookback_hours,
    max_age_seconds,
)
from enrich.sinks.registry import format_names
from enrich.units import parse_duration


def _fail(command: str, exc: EnrichError) -> None:
    """Print an expected failure in one line and exit with its code (the one place codes are mapped)."""
    click.echo(f"enrich {command}: {exc}", err=True)
    raise SystemExit(exit_code(exc)) from None


def _wait_option(command):  # noqa: ANN001, ANN202 - a click decorator
    """`--wait` (enrich/locks.py), shared by `run`, `job` and `classify`."""
    return click.option(
        "--wait",
        is_flag=True,
        help="When another run is writing the same output (or running the same job), wait for it to "
        "finish instead of exiting at once with code 75.",
    )(command)


def _bom_option(command):  # noqa: ANN001, ANN202 - a click decorator
    """`--bom` (CSV output), shared by `run` and `classify`."""
    return click.option(
        "--bom",
        is_flag=True,
        help="CSV output: start with a UTF-8 byte order mark, so that Excel reads it as UTF-8 (without "
        "one it assumes the local code page). An input's BOM is kept anyway (UTF-16 in: UTF-8 BOM out).",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=epilog("enrich"))
@click.version_option(__version__, prog_name="enrich")
def cli() -> None:
    """Enrich threat indicators (CSV, STIX) with what Microsoft Defender for Endpoint has seen of them.

    Exit codes: 0 finished with no row in error; 3 finished but some rows are `error`;
    1 fatal (authentication failed, input unreadable, output not writable); 2 usage error;
    75 another run is writing the same output (see --wait); 130, 143, 129 stopped by Ctrl-C,
    SIGTERM, SIGHUP (answers kept in the cache: rerun the same command to resume).
    """


# --- classify (owner: sources/sinks) ---------------------------------------------------------


@cli.command("classify", epilog=epilog("classify"))
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    default="-",
    show_default=True,
    help="Output CSV file; '-' is stdout. An existing folder gets one <name>.classified.csv per input.",
)
@click.option(
    "--column",
    metavar="NAME",
    help="CSV column holding the indicators: a header name, or a number (1 = first column). "
    "Default: chosen from content.",
)
@click.option(
    "--no-neutralise",
    "no_neutralise",
    is_flag=True,
    help="Write cells exactly as read. By default a cell starting with = + - @ tab or CR "
    "(other than a plain number) gets a leading ' so spreadsheets do not run it as a formula.",
)
@click.option(
    "--mode",
    type=click.Choice(mode_names()),
    default=DEFAULT_MODE,
    show_default=True,
    help="The `enrich run --mode` whose lookups mde_lookup shows: in stats mode a lone MD5 is "
    "unsupported and a URL is asked by its host; hunt and auto (which assumes the app may hunt) "
    "also ask MD5 hashes and full URLs.",
)
@_wait_option
@_bom_option
def classify_command(
    inputs: tuple[str, ...],
    output: str,
    column: str | None,
    no_neutralise: bool,
    mode: str,
    wait: bool,
    bom: bool,
) -> None:
    """Type, normalise and validate every entry, without calling any API.

    INPUT is a CSV/TXT list, a STIX 2.x bundle or a JSON Lines file (told apart by content), a
    folder (its *.csv *.txt *.tsv *.json *.jsonl files) or '-' for stdin.

    CSV inputs: encoding (UTF-8, UTF-16, cp1252), '#' banner lines, delimiter (, ; tab |),
    header row and the indicator column are worked out from content; how each input was read
    is printed on stderr. A cell may hold several indicators (e.g. "sha1,sha256,md5").
    STIX inputs: one row per entry of each indicator pattern or observable.

    Output: every input column, unchanged and in order, then:

    \b
      mde_type            ipv4 ipv6 domain url md5 sha1 sha256 (";"-joined for several);
                          empty when not an indicator
      mde_value           normalised value (refanged, lower-cased where the type allows)
      mde_status          pending      an indicator that `enrich run` can look up
                          unsupported  a real indicator MDE cannot be asked about
                                       (e-mail, IP range, wildcard domain; in stats
                                       mode an MD5 without its file's SHA-1 or SHA-256)
                          invalid      not an indicator (mde_error says why)
      mde_org_prevalence, mde_org_first_seen, mde_org_last_seen
                          empty (filled by `enrich run`)
      mde_error           why a row is invalid or unsupported
      mde_note            remarks (was defanged, port dropped, private address...)
      mde_lookup          the question `enrich run` asks MDE (e.g. domains/evil.example;
                          a URL is looked up by its host, and by hunting also as a whole)
      mde_global_*, mde_top_file_names, mde_file_*, mde_events, mde_devices, mde_answered_by
                          empty (filled by `enrich run`)

    One output row per input row, in order. Several inputs into one file: a first column
    source_file, then the union of the inputs' columns. The output file is replaced only when
    complete. A summary (indicators per type and status) is printed on stderr.

    Exit codes: 0 done; 1 an input cannot be read or the output cannot be written; 2 usage error
    (e.g. OUT is an input); 75 another run is writing OUT (see --wait); 130, 143, 129 stopped by
    Ctrl-C, SIGTERM, SIGHUP (nothing written at OUT).
    """
    from enrich import signals
    from enrich.classify_job import classify_files

    try:
        with signals.stopping():
            classify_files(
                list(inputs), output, column, not no_neutralise, None, wait=wait, bom=bom, mode=mode
            )
    except EnrichError as exc:
        _quiet_broken_pipe()
        _fail("classify", exc)
    except KeyboardInterrupt as stop:
        click.echo(f"enrich classify: {signals.stopped_by(stop)}; no output written", err=True)
        raise SystemExit(signals.exit_code(stop)) from None


def _quiet_broken_pipe() -> None:
    """After stdout's reader went away, point stdout at /dev/null so exiting does not fail again."""
    import os
    import sys

    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass


# --- sandbox (owner: sandbox) ----------------------------------------------------------------


@cli.command("sandbox", epilog=epilog("sandbox"))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1; 0 picks a free one (printed in MDE_API_URL).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed of the synthetic data, the app credentials and the fault dice.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Speed of the quota clock: 60 makes a one-minute window last one second.",
)
@click.option(
    "--rate-limit",
    metavar="SPEC",
    default="100/min,1500/hour",
    show_default=True,
    help="Quota of each entity API family (files, ips, domains, alerts, machines) per tenant and app, "
    "written as for `enrich run --rate-limit` (e.g. 100/1s,1500/60s). A window of up to a minute sets "
    "the per-minute quota (10/s = 600/min), a longer one the per-hour quota; an unset one keeps its default.",
)
@click.option(
    "--hunting-rate-limit",
    metavar="SPEC",
    default="45/min,1500/hour",
    show_default=True,
    help="Call quota of legacy advanced hunting (/api/advancedqueries/run) per tenant, written as "
    "--rate-limit.",
)
@click.option(
    "--graph-hunting-rate-limit",
    metavar="SPEC",
    default="",
    help="Call quota of Graph runHuntingQuery per tenant, written as --rate-limit "
    "(default: the per-minute quota of --hunting-rate-limit, no hourly cap).",
)
@click.option(
    "--hunting-max-rows",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows a hunting answer keeps; longer results are cut to this many.",
)
@click.option(
    "--hunting-max-result-bytes",
    metavar="SIZE",
    default="50MB",
    show_default=True,
    help="Largest hunting result (rows as JSON), e.g. 50MB, 64KB, 2000; larger is a 400 with MDE's message.",
)
@click.option(
    "--hunting-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds of modelled run time after which a hunting query gets 504 (default: 200 legacy, "
    "180 Graph; modelled CPU: 1 s per million rows read plus 1 s per 100 MB returned).",
)
@click.option(
    "--hunting-cpu-quota",
    type=click.FloatRange(min=0, min_open=True),
    default=150.0,
    show_default=True,
    help="Modelled CPU seconds a tenant's hunting queries may use per 15-minute cycle (scaled by "
    "--time-scale); then 429 with Retry-After until the cycle ends.",
)
@click.option(
    "--cloud",
    type=click.Choice(["global", "gcc", "gcc-high", "dod"]),
    default="global",
    show_default=True,
    help="Serve this cloud's token audiences and name its hosts: gcc (api-gcc.securitycenter.microsoft.us), "
    "gcc-high and dod (api-gov.securitycenter.microsoft.us, login.microsoftonline.us, Graph "
    "graph.microsoft.us or dod-graph.microsoft.us).",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(min=1),
    default=3599,
    show_default=True,
    help="Seconds a token lives (expires_in). Under 300 makes MSAL fetch a new token on every call.",
)
@click.option(
    "--fault",
    "faults",
    metavar="KIND=RATE",
    multiple=True,
    help="Inject a fault into that share of API calls; repeatable. KIND: 500, 503, reset "
    "(connection closed without answer), malformed (truncated JSON), slow (answer after "
    "--slow-seconds), preempted (hunting's 400 for a preempted query), token_429, token_500, "
    "token_503, token_slow (token endpoint).",
)
@click.option(
    "--fault-family",
    "fault_families",
    metavar="FAMILY",
    multiple=True,
    type=click.Choice(["files", "ips", "domains", "alerts", "machines", "hunting", "graph_hunting"]),
    help="Inject API faults only into these families; repeatable (default: every family). "
    "hunting is /api/advancedqueries/run, graph_hunting Graph runHuntingQuery.",
)
@click.option(
    "--slow-seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Delay of a 'slow' fault.",
)
@click.option(
    "--latency",
    metavar="MIN,MAX",
    default="0,0",
    show_default=True,
    help="Uniform random delay in seconds added to every API answer.",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve your own indicators instead of generated ones: JSON or CSV with columns "
    "indicator, prevalence, first_seen, last_seen, devices, events (see the README).",
)
@click.option(
    "--lookback-policy",
    type=click.Choice(["reject", "clamp"]),
    default="reject",
    show_default=True,
    help="What lookBackHours outside 1..720 gets: 400 InvalidInput, or clamped into range.",
)
@click.option(
    "--md5",
    "md5_policy",
    type=click.Choice(["reject", "accept"]),
    default="reject",
    show_default=True,
    help="What GET /api/files/{md5} gets: 400 InvalidHashValue, or looked up like SHA-1.",
)
@click.option(
    "--tenants",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Serve this many tenants (one app each, the same data, quotas counted per tenant): prints "
    "a '# tenant N:' line with each one's tenant id, client id and secret (the exports are tenant 1's).",
)
@click.option(
    "--secrets-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write one secrets.json per tenant there (tenant-1.json, tenant-2.json, ...; mode 600), "
    "for job files whose [[tenant]] tables name them.",
)
def sandbox_command(
    port: int,
    seed: int,
    time_scale: float,
    rate_limit: str,
    hunting_rate_limit: str,
    graph_hunting_rate_limit: str,
    hunting_max_rows: int,
    hunting_max_result_bytes: str,
    hunting_timeout: float | None,
    hunting_cpu_quota: float,
    cloud: str,
    token_lifetime: int,
    faults: tuple[str, ...],
    fault_families: tuple[str, ...],
    slow_seconds: float,
    latency: str,
    data_file: str | None,
    lookback_policy: str,
    md5_policy: str,
    tenants: int,
    secrets_dir: str | None,
) -> None:
    """Serve the MDE emulator (login, entity APIs, advanced hunting) in the foreground.

    Prints `export MDE_...=...` lines (tenant, client id and secret, API/login/Graph URLs and the
    CA file to trust); paste them into another shell and `enrich run` talks to the sandbox.
    Everything is on one HTTPS port on 127.0.0.1. Ctrl-C stops it (exit code 0).
    GET /_sandbox/stats shows requests per endpoint and status.
    """
    from enrich.sandbox import SandboxConfig
    from enrich.sandbox.serve import (
        parse_faults,
        parse_graph_quota,
        parse_latency,
        parse_quota,
        parse_size,
        serve,
    )
    from enrich.sandbox.userdata import DataFileError

    try:
        config = SandboxConfig(
            port=port,
            seed=seed,
            time_scale=time_scale,
            entity_limits=parse_quota(rate_limit, (100, 1500)),
            hunting_limits=parse_quota(hunting_rate_limit, (45, 1500)),
            graph_hunting_limits=parse_graph_quota(graph_hunting_rate_limit),
            hunting_max_rows=hunting_max_rows,
            hunting_max_result_bytes=parse_size(hunting_max_result_bytes),
            hunting_timeout=hunting_timeout,
            hunting_cpu_quota=hunting_cpu_quota,
            cloud=cloud,
            token_lifetime=token_lifetime,
            latency=parse_latency(latency),
            faults=parse_faults(faults),
            fault_families=tuple(fault_families) or None,
            slow_seconds=slow_seconds,
            data_file=data_file,
            lookback_policy=lookback_policy,
            md5_policy=md5_policy,
            tenants=tenants,
        )
        config.validate()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        say = lambda line: click.echo(line, err=True)  # noqa: E731 - one line
        if secrets_dir:
            code = serve(config, click.echo, say, secrets_dir=secrets_dir)
        else:
            code = serve(config, click.echo, say)
    except DataFileError as exc:
        click.echo(f"enrich sandbox: {exc}", err=True)
        raise SystemExit(EXIT_FATAL) from None
    except OSError as exc:
        click.echo(f"enrich sandbox: cannot serve on port {port}: {exc}", err=True)
        raise SystemExit(EXIT_FATAL) from None
    raise SystemExit(code)


# --- run / check / cache / job (owner: engine) -----------------------------------------------


def _converted(convert):
    """A click callback applying `convert` (ValueError -> a usage error naming the option)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def _rate_limit(text: str) -> str:
    from enrich.mde.settings import rate_limit_spec

    return rate_limit_spec(text)


def _check_run_options(
    ctx: click.Context, to: str | None, output: str, cache: str | None, no_cache: bool
) -> None:
    """Options that contradict each other or the output format: usage errors (exit 2) before any work."""
    from click.core import ParameterSource

    from enrich.sinks.registry import output_format

    if no_cache and cache is not None:
        raise click.UsageError("--no-cache and --cache contradict each other; give one of them", ctx)
    fmt = output_format(to, output)
    if fmt != "stix":
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("org_name", "negative_sightings", "stix_output")
            if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} to STIX output, "
                f"and this run writes {fmt.upper() if fmt in ('csv', 'xlsx') else fmt}; "
                "add --to stix (or an OUT ending in .json) or drop them",
                ctx,
            )


def _log_options(command):  # noqa: ANN001, ANN202 - a click decorator
    """`-v/--verbose` and `-q/--quiet` (enrich/logs.py), shared by `run` and `job`."""
    command = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Only errors and the final summary lines on stderr: no plan line, progress or warnings.",
    )(command)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        help="Also log every HTTP request to MDE and to the login host (method, path, status, time; "
        "never a header or token) and 401/429 notices; -vv adds retry details.",
    )(command)


def _log_format_option(command):  # noqa: ANN001, ANN202 - a click decorator
    """`--log-format text|json` (enrich/logs.py), shared by `run` and `job`."""
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"], case_sensitive=False),
        envvar="ENRICH_LOG_FORMAT",
        default=None,
        help="stderr as text lines (the default) or JSON Lines for a SIEM: one object per line with "
        "time (UTC), level, run_id, tenant, event (start, progress, quota_wait, retry, finish, ...) "
        "and its figures; no progress bar. Env ENRICH_LOG_FORMAT.",
    )(command)


def _cloud_options(command):  # noqa: ANN001, ANN202 - a click decorator
    """`--cloud` and `--region` (enrich/mde/clouds.py)."""
    from enrich.mde.clouds import CLOUD_NAMES, region_names

    command = click.option(
        "--region",
        type=click.Choice(region_names(), case_sensitive=False),
        default=None,
        help="Call the global cloud's regional API host, e.g. eu: https://eu.api.security.microsoft.com "
        "(env MDE_REGION). MDE_API_URL, when set, wins.",
    )(command)
    return click.option(
        "--cloud",
        type=click.Choice(CLOUD_NAMES, case_sensitive=False),
        default=None,
        help="The Microsoft cloud of the tenant (env MDE_CLOUD; default global): it sets the login, "
        "API and Graph hosts and the token scopes. MDE_LOGIN_URL, MDE_API_URL, MDE_GRAPH_URL, when "
        "set, change the hosts only.",
    )(command)


def _check_verbosity(ctx: click.Context, verbose: int, quiet: bool) -> None:
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet contradict each other; give one of them", ctx)


@cli.command("run", epilog=epilog("run"))
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    default="-",
    show_default=True,
    help="Output file; '-' is stdout. An existing folder gets one <name>.enriched.csv (or .json, "
    ".xlsx) per input. The file is replaced only when complete.",
)
@click.option(
    "--to",
    type=click.Choice(format_names()),
    default=None,
    help="Output format. Default: stix when OUT ends in .json or .jsonl, xlsx when it ends in .xlsx, "
    "else csv.",
)
@click.option(
    "--column",
    metavar="NAME",
    help="CSV column holding the indicators: a header name or a number (1 = first). Default: by content.",
)
@click.option(
    "--mode",
    type=click.Choice(mode_names()),
    default=DEFAULT_MODE,
    show_default=True,
    help="How MDE is asked: stats = the entity statistics APIs (files, ips, domains; one call per "
    "lookup); hunt = advanced hunting (thousands of values per call; also MD5 and full URLs, with "
    "events and device names); auto = hunt when the app may hunt (ThreatHunting.Read.All or "
    "AdvancedQuery.Read.All), else stats. The summary says what auto chose and why.",
)
@click.option(
    "--max-devices",
    type=click.IntRange(0, MAX_DEVICES),
    default=DEFAULT_MAX_DEVICES,
    show_default=True,
    help="Hunting: device names kept per value in mde_devices (0: none).",
)
@click.option(
    "--lookback",
    metavar="DURATION",
    default=DEFAULT_LOOKBACK,
    show_default=True,
    callback=_converted(lookback_hours),
    help="How far back MDE counts sightings: 1h to 30d (a bare number is days).",
)
@click.option(
    "--rate-limit",
    metavar="SPEC",
    envvar="MDE_RATE_LIMIT",
    default=None,
    callback=_converted(_rate_limit),
    help="Calls allowed per API family, e.g. '100/min,1500/hour' (the default, MDE's documented "
    "quota; env MDE_RATE_LIMIT). Lower it when other tools share the app's quota. Parts after ';' "
    "name a family (files, ips, domains, hunting): '100/min,1500/hour;hunting=45/min;domains=50/min'.",
)
@click.option(
    "--file-info",
    is_flag=True,
    help="For hashes, also ask /api/files/{hash}: signer, issuer, publisher, product, determination.",
)
@click.option(
    "--cache",
    "cache",
    metavar="PATH",
    default=None,
    help="Answer cache (SQLite); default ~/.cache/enrich/cache.sqlite3. It is also the resume "
    "checkpoint: a rerun asks MDE nothing it already answered.",
)
@click.option(
    "--max-age",
    metavar="DURATION",
    default=DEFAULT_MAX_AGE,
    show_default=True,
    callback=_converted(max_age_seconds),
    help="Cached answers older than this are asked again (a bare number is hours).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache (no resume).")
@click.option(
    "--summary",
    metavar="FILE",
    default=None,
    help="Also write the run summary as JSON to FILE, whole or not at all; also when the run stops on a "
    'fatal error ("status": "failed", "error", "exit_code").',
)
@click.option(
    "--secrets",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="secrets.json with mde_tenant_id, mde_client_id, mde_client_secret (env MDE_* wins).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Requests in flight at once, over all API families (default 8).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds to wait for one answer (default 30).",
)
@click.option(
    "--no-neutralise",
    "no_neutralise",
    is_flag=True,
    help="Write CSV cells exactly as read (default: a leading ' stops spreadsheets running formulas).",
)
@click.option(
    "--org-name",
    default="Our organisation",
    show_default=True,
    help="STIX output: name of the identity where sightings were made.",
)
@click.option(
    "--negative-sightings",
    is_flag=True,
    help="STIX output: also write count-0 sightings for not_seen, invalid, unsupported and error rows.",
)
@click.option(
    "--stix-output",
    type=click.Choice(["merged", "separate"]),
    default="merged",
    show_default=True,
    help="STIX output: the input objects followed by ours (merged), or only ours (separate).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Run against an in-process MDE sandbox (no credentials; time-scaled quotas). For demos and rehearsals.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds between progress lines (UTC-stamped) when stderr is not a terminal; they come also "
    "while every call waits on quota. Repeated warnings are counted at most this often.",
)
@click.option(
    "--report",
    metavar="FILE.html",
    default=None,
    help="Also write an HTML report of the run (one self-contained file: counts, charts, a sortable "
    "table of what was seen), after the outputs. See also `enrich report`.",
)
@_wait_option
@_log_options
@_log_format_option
@_cloud_options
@_bom_option
def run_command(
    inputs: tuple[str, ...],
    output: str,
    to: str | None,
    column: str | None,
    mode: str,
    max_devices: int,
    lookback: int,
    rate_limit: str | None,
    file_info: bool,
    cache: str | None,
    max_age: float,
    no_cache: bool,
    summary: str | None,
    secrets: str | None,
    concurrency: int | None,
    timeout: float | None,
    no_neutralise: bool,
    org_name: str,
    negative_sightings: bool,
    stix_output: str,
    sandbox: bool,
    progress_interval: float,
    verbose: int,
    quiet: bool,
    wait: bool,
    bom: bool,
    report: str | None,
    log_format: str | None,
    cloud: str | None,
    region: str | None,
) -> None:
    """Enrich INPUT... with what MDE has seen of each indicator.

    INPUT is a CSV/TXT list, a STIX 2.x bundle or JSON Lines file (told apart by content), a
    folder, or '-' for stdin. Every distinct lookup is asked once (URLs are looked up by host,
    and by hunting also as a whole; a cell with one file's SHA-1, SHA-256 and MD5 asks once);
    answers come from the cache when fresh, else from MDE within its quota, and are stored as
    they arrive. --mode auto (the default) hunts when the app may, else uses the statistics
    APIs; the summary says which and why.

    CSV output: every input column, then mde_type, mde_value, mde_status (seen, not_seen,
    invalid, unsupported, error), mde_org_prevalence, mde_org_first_seen, mde_org_last_seen,
    mde_error, mde_note, the rest of MDE's answer (mde_lookup, mde_global_*, mde_file_*), then
    mde_events and mde_devices (hunting) and mde_answered_by (stats, hunting-graph,
    hunting-legacy or cache). STIX output: the input objects, then sightings of what MDE saw.

    OUT may be a symlink (its target is replaced, the link kept) or a device or FIFO such as
    /dev/stdout (written in place); OUT (or --summary) being one of the inputs is a usage error.
    While it runs, the run holds a lock on each output (.OUT.lock next to it): a second run on
    the same output exits at once with code 75, or waits with --wait. SIGTERM and SIGHUP stop it
    as Ctrl-C does: answers kept in the cache, nothing written at OUT.

    Exit codes: 0 done, no row in error; 3 done, some rows are `error` (rerun to retry them);
    1 fatal (credentials, permission, input or output); 2 usage error; 75 another run is
    writing OUT (see --wait); 143 stopped by SIGTERM, 129 by SIGHUP, 130 interrupted (rerun
    the same command to resume).
    """
    from enrich.runner import RunRequest, run

    _check_run_options(click.get_current_context(), to, output, cache, no_cache)
    _check_verbosity(click.get_current_context(), verbose, quiet)
    request = RunRequest(
        inputs=list(inputs),
        output=output,
        to=to,
        column=column,
        mode=mode,
        max_devices=max_devices,
        lookback_hours=lookback,
        rate_limit=rate_limit,
        file_info=file_info,
        cache=cache,
        no_cache=no_cache,
        max_age_seconds=max_age,
        summary=summary,
        secrets=secrets,
        concurrency=concurrency,
        timeout=timeout,
        neutralise=not no_neutralise,
        org_name=org_name,
        negative_sightings=negative_sightings,
        stix_output=stix_output,
        sandbox=sandbox,
        progress_interval=progress_interval,
        verbose=verbose,
        quiet=quiet,
        wait=wait,
        bom=bom,
        report=report,
        log_format=(log_format or "text").lower(),
        cloud=cloud.lower() if cloud else None,
        region=region.lower() if region else None,
    )
    raise SystemExit(run(request))


@cli.command("report", epilog=epilog("report"))
@click.argument("outputs", nargs=-1, required=True, metavar="OUTPUT...")
@click.option(
    "-o",
    "--output",
    metavar="FILE.html",
    required=True,
    help="The report to write (replaced only when complete).",
)
def report_command(outputs: tuple[str, ...], output: str) -> None:
    """Make an HTML report from earlier outputs of `enrich run` (CSV, xlsx, STIX bundles or JSON Lines).

    OUTPUT is a file or a folder (`run -o FOLDER`): its *.csv *.xlsx *.json *.jsonl files, less
    *.summary.json.

    One self-contained page that needs no network: the counts at a glance, status by indicator
    type, the distribution of organisation prevalence, a first-to-last-seen timeline, a table of
    every seen indicator that sorts and filters, the inputs and settings. `enrich run --report
    FILE.html` writes the same page for a run.

    Exit codes: 0 written; 1 an output cannot be read or the report cannot be written; 2 usage
    error (e.g. FILE.html is one of the outputs).
    """
    from enrich.report import make_report

    try:
        size = make_report(list(outputs), output)
    except EnrichError as exc:
        _fail("report", exc)
    click.echo(f"enrich report: wrote {output} ({size:,} bytes)", err=True)


@cli.command("job", epilog=epilog("job"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--sandbox", is_flag=True, help="Run the job against an in-process MDE sandbox.")
@_wait_option
@_log_options
@_log_format_option
def job_command(
    file: str, sandbox: bool, verbose: int, quiet: bool, wait: bool, log_format: str | None
) -> None:
    """Run a job file (TOML): inputs, output pattern with date, mode, limits.

    Keys: inputs (list of files, folders or globs), output, summary and report (may hold
    {date:%Y-%m-%d}), to, column, mode, max_devices, lookback, rate_limit, file_info, cache, no_cache,
    max_age, secrets, concurrency, timeout, neutralise, org_name, negative_sightings,
    stix_output, progress_interval, verbose (a number), quiet, bom: the `run` options of the same
    names; -v or -q on the command line wins over the file's verbose and quiet.
    Relative paths are relative to the job file. See jobs/ for examples. Exit codes as `run`;
    the job file is locked while it runs: a second run of it exits with code 75 (wait: key
    `wait = true`, or --wait).

    Many tenants: [[tenant]] tables (name; secrets, or tenant_id_env, client_id_env,
    client_secret_env; any key above for that tenant) run side by side, tenant_concurrency
    (default 4) at a time, {tenant} in paths; summary is then the job's (every tenant and the
    totals), tenant_summary each tenant's; the exit code is the worst tenant's. See jobs/README.md.
    """
    import dataclasses

    from enrich.jobfile import load_job
    from enrich.runner import run

    _check_verbosity(click.get_current_context(), verbose, quiet)
    try:
        job = load_job(file, sandbox=sandbox)
    except EnrichError as exc:
        if (log_format or "").lower() == "json":  # a JSON log stays JSON, even before the run
            from enrich.logs import failure_line

            click.echo(failure_line(str(exc), exit_code(exc)), err=True)
            raise SystemExit(exit_code(exc)) from None
        _fail("job", exc)
    request = job.request
    if verbose or quiet:
        request = dataclasses.replace(request, verbose=verbose, quiet=quiet)
    if wait:
        request = dataclasses.replace(request, wait=True)
    if log_format:  # --log-format or ENRICH_LOG_FORMAT wins over the file's log_format
        request = dataclasses.replace(request, log_format=log_format.lower())
    if job.tenants:  # [[tenant]] tables: every tenant's run, concurrently (enrich.tenants)
        from enrich.tenants import run_tenants

        raise SystemExit(run_tenants(job, request, job_file=file))
    raise SystemExit(run(request, job_file=file))


@cli.command("check", epilog=epilog("check"))
@click.option(
    "--secrets",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="secrets.json with mde_tenant_id, mde_client_id, mde_client_secret.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Check against an in-process sandbox (shows what a good check looks like).",
)
@click.option(
    "--mode",
    "mode",
    type=click.Choice(["stats", "hunt", "auto"]),
    default="auto",
    show_default=True,
    help="The `enrich run --mode` whose needs decide the exit code; every mode's line is shown.",
)
@_cloud_options
def check_command(
    secrets: str | None, sandbox: bool, mode: str, cloud: str | None, region: str | None
) -> None:
    """Preflight: credentials, token, roles, one cheap call per API family, the hunting paths, and
    what each --mode can answer.

    Says in plain words what is missing (a variable, a wrong secret, a permission without admin
    consent), per mode: stats (File.Read.All, Ip.Read.All, URL.Read.All), hunt (ThreatHunting.Read.All
    on Microsoft Graph, or AdvancedQuery.Read.All on the legacy endpoint), auto (hunting when a
    path is usable, else stats). Spends no quota where the token's roles already tell; runs no
    hunting query. Exit code 0 when what --mode needs works, 1 otherwise.
    """
    from enrich.checking import check

    raise SystemExit(
        check(
            secrets,
            sandbox,
            mode=mode,
            cloud=cloud.lower() if cloud else None,
            region=region and region.lower(),
        )
    )


@cli.group("cache", epilog=epilog("cache"))
def cache_group() -> None:
    """Inspect or empty the answer cache."""


@cache_group.command("stats", epilog=epilog("cache stats"))
@click.option(
    "--cache",
    "path",
    metavar="PATH",
    default=None,
    help="Cache file (default ~/.cache/enrich/cache.sqlite3).",
)
def cache_stats(path: str | None) -> None:
    """Entries per API family and status, oldest and newest answer, file size.

    Exit code 1 when the cache is missing (nothing is created) or cannot be read.
    """
    from enrich.checking import cache_stats as show

    raise SystemExit(show(path))


@cache_group.command("clear", epilog=epilog("cache clear"))
@click.option(
    "--cache",
    "path",
    metavar="PATH",
    default=None,
    help="Cache file (default ~/.cache/enrich/cache.sqlite3).",
)
@click.option(
    "--older-than",
    metavar="DURATION",
    default=None,
    callback=_converted(lambda text: parse_duration(text, "d")),
    help="Only delete answers older than this (e.g. 30d); default: everything.",
)
def cache_clear(path: str | None, older_than: float | None) -> None:
    """Delete cached answers (all, or those older than --older-than).

    Creates nothing (a missing cache: nothing to clear). A damaged cache, which cannot be emptied,
    is deleted with its -wal/-shm files, unless --older-than is given or it is not the default
    cache and does not start like an SQLite file (exit code 1 then).
    """
    from enrich.checking import cache_clear as clear

    raise SystemExit(clear(path, older_than))


def main() -> None:
    """Console-script entry point."""
    cli()
