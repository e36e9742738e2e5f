"""The `cdp` command line: generate sample data, run the pipeline, inspect results."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def main() -> None:
    """Composable customer data platform."""
    from reverse_etl.redaction import install_log_redaction

    install_log_redaction()


@main.command()
@click.option("--people", type=click.IntRange(min=1), required=True, help="Number of real people.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Landing directory to write (<source>/<table>/*.csv|parquet).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--truth",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the ground truth (default: <out>/_truth).",
)
@click.option(
    "--drop",
    type=click.IntRange(min=1),
    default=None,
    help="Write later drop number K (new files) instead of the initial load.",
)
def generate(
    people: int, seed: int, out: Path, fmt: str, truth: Path | None, drop: int | None
) -> None:
    """Write every landing table with realistic mess, plus the ground truth."""
    from sample_data.generator import generate_drop, generate_landing

    truth_dir = truth if truth is not None else out / "_truth"
    if drop is None:
        summary = generate_landing(people=people, seed=seed, out=out, fmt=fmt, truth_dir=truth_dir)
    else:
        summary = generate_drop(
            people=people, seed=seed, out=out, fmt=fmt, truth_dir=truth_dir, drop=drop
        )
    for table, rows in summary.items():
        click.echo(f"{table:<28} {rows:>12,} rows")


def _settings(raw_dir: Path | None, duckdb_path: Path | None, fmt: str | None):
    from dataclasses import replace

    from cdp.pipeline import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    if raw_dir is not None:
        settings = replace(settings, raw_dir=raw_dir.resolve())
    if duckdb_path is not None:
        settings = replace(settings, duckdb_path=duckdb_path.resolve())
    if fmt is not None:
        settings = replace(settings, landing_format=fmt)
    return settings


warehouse_options = [
    click.option(
        "--raw-dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="Landing directory (env CDP_RAW_DIR; default: the sample in seeds/).",
    ),
    click.option(
        "--duckdb-path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Warehouse file (env CDP_DUCKDB_PATH; default: warehouse/cdp.duckdb).",
    ),
    click.option(
        "--format",
        "fmt",
        type=click.Choice(["csv", "parquet"]),
        default=None,
        help="Landing file format (env CDP_LANDING_FORMAT; default: csv).",
    ),
]


ALLOW_MASS_CHANGE_HELP = (
    "Send a run the mass-change guard refuses (it would remove or change more than the"
    " configured share of what a destination holds); recorded in the run log."
)


def _exit_on_unsent(results) -> None:
    """Exit 1 when a sync failed or was blocked, naming the blocked ones on one line."""
    blocked = [result.sync_name for result in results if result.status == "blocked"]
    if blocked:
        click.echo(
            f"blocked by the mass-change guard: {', '.join(blocked)} (see reverse_etl.sync_runs;"
            " rerun with --allow-mass-change if the change is intended)",
            err=True,
        )
    if blocked or any(result.status == "failed" for result in results):
        raise SystemExit(1)


def with_warehouse_options(function):
    for option in reversed(warehouse_options):
        function = option(function)
    return function


@main.command()
@with_warehouse_options
@click.option("--full-refresh", is_flag=True, help="Take every landed file in afresh.")
def intake(raw_dir: Path | None, duckdb_path: Path | None, fmt: str | None, full_refresh: bool):
    """Take the new landing files in (cdp run and cdp dbt do this first; see cdp/intake.py)."""
    from cdp.pipeline import take_in_landing

    settings = _settings(raw_dir, duckdb_path, fmt)
    take_in_landing(settings, ["build", *(["--full-refresh"] if full_refresh else [])], click.echo)


@main.command()
@with_warehouse_options
@click.option("--select", "selector", default=None, help="dbt selector (default: everything).")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@click.option("--no-sync", is_flag=True, help="Build only; do not run the syncs afterwards.")
@click.option("--allow-mass-change", is_flag=True, help=ALLOW_MASS_CHANGE_HELP)
def run(
    raw_dir: Path | None,
    duckdb_path: Path | None,
    fmt: str | None,
    selector: str | None,
    full_refresh: bool,
    no_sync: bool,
    allow_mass_change: bool,
) -> None:
    """Build the whole pipeline (dbt build: models and their tests) and print a summary."""
    from cdp.pipeline import build, missing_landing_tables, summarize

    settings = _settings(raw_dir, duckdb_path, fmt)
    missing = missing_landing_tables(settings)
    if missing:
        raise click.ClickException(
            f"no landing files (CSV, TSV or Parquet) for landing table(s) "
            f"{', '.join(missing)} under {settings.raw_dir}; each table needs at least one file "
            "(a header-only CSV is enough)"
        )
    click.echo(f"landing   {settings.raw_dir} ({settings.landing_format})")
    warehouse = settings.spark_dir if settings.target == "spark" else settings.duckdb_path
    click.echo(f"warehouse {warehouse}" + (" (spark)" if settings.target == "spark" else ""))
    outcome = build(settings, click.echo, selector=selector, full_refresh=full_refresh)
    counts = ", ".join(f"{count} {status}" for status, count in sorted(outcome.statuses.items()))
    click.echo(f"\ndbt build finished in {outcome.seconds:.1f}s: {counts or 'nothing ran'}")
    if outcome.success or warehouse.exists():
        try:
            click.echo("")
            for line in summarize(settings):
                click.echo(line)
        except Exception as error:  # the summary must never hide the build's own result
            click.echo(f"(no summary: {error})")
    if not outcome.success:
        for failure in outcome.failures:
            click.echo(f"failed: {failure}", err=True)
        raise SystemExit(1)
    results = []
    if not no_sync and not selector:
        from cdp.activation import run_project_syncs
        from reverse_etl.lock import WarehouseBusy

        click.echo("\nsyncs (dbt_project/syncs.yml)")
        try:
            results = run_project_syncs(
                settings, allow_mass_change=allow_mass_change, on_line=click.echo
            )
        except (ValueError, WarehouseBusy) as error:
            raise click.ClickException(str(error)) from None
    if settings.target != "spark":
        _reclaim(settings.duckdb_path, force=False)
    _exit_on_unsent(results)


def _reclaim(duckdb_path: Path, *, force: bool, verbose: bool = False) -> None:
    import duckdb

    from cdp.erasure import reclaim_erased_data

    try:
        outcome = reclaim_erased_data(duckdb_path, force=force)
    except duckdb.IOException as error:  # another process holds the file: retried next run
        click.echo(
            f"\nerasure: the warehouse file was not rewritten ({type(error).__name__}: in use?);"
            " erased people's old row versions stay in its freed blocks until the next"
            " `cdp run` or `cdp reclaim-erased`",
            err=True,
        )
        return
    if outcome.reclaimed:
        click.echo(
            f"\nerasure: warehouse file rewritten without freed blocks ({outcome.erased_records:,}"
            f" erased records; {outcome.bytes_before:,} -> {outcome.bytes_after:,} bytes,"
            f" {outcome.seconds:.1f}s)"
        )
    elif verbose:
        click.echo(f"erasure: nothing rewritten ({outcome.reason})")


@main.command("reclaim-erased")
@click.option("--duckdb-path", type=click.Path(path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Rewrite the file even without new erasures.")
def reclaim_erased(duckdb_path: Path | None, force: bool) -> None:
    """Rewrite the DuckDB file so no freed block keeps an erased person's old rows.

    `cdp run` and Dagster's dbt step do this by themselves after a build that applied new
    erasures; run it after building with `cdp dbt build`, or with --force after any manual
    deletion.
    """
    _reclaim(_settings(None, duckdb_path, None).duckdb_path, force=force, verbose=True)


@main.command()
@with_warehouse_options
def predict(raw_dir: Path | None, duckdb_path: Path | None, fmt: str | None) -> None:
    """Spark target: train and score churn, CLV and clusters through the Spark session.

    Reads the feature tables the dbt build made, writes predictive.customer_churn,
    customer_clv and customer_clusters; run it before customer_traits (`cdp run` does).
    """
    from cdp.pipeline import predict as run_predict

    settings = _settings(raw_dir, duckdb_path, fmt)
    if settings.target != "spark":
        raise click.ClickException(
            "cdp predict is for CDP_TARGET=spark; on DuckDB the dbt build runs the models"
        )
    for table, rows in run_predict(settings).items():
        click.echo(f"predictive.{table:<24} {rows:>10,} rows")


@main.command()
@with_warehouse_options
@click.argument("names", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Show the delta and sample payloads; send nothing.")
@click.option("--full-resync", is_flag=True, help="Ignore the saved state and send everything.")
@click.option("--dead-letters", is_flag=True, help="List the dead letters; send nothing.")
@click.option(
    "--replay-dead-letters", is_flag=True, help="Release the dead letters, then run the syncs."
)
@click.option("--allow-mass-change", is_flag=True, help=ALLOW_MASS_CHANGE_HELP)
def sync(
    raw_dir: Path | None,
    duckdb_path: Path | None,
    fmt: str | None,
    names: tuple[str, ...],
    dry_run: bool,
    full_resync: bool,
    dead_letters: bool,
    replay_dead_letters: bool,
    allow_mass_change: bool,
) -> None:
    """Run the syncs in dbt_project/syncs.yml (all, or the NAMES given)."""
    from cdp.activation import project_dead_letters, run_project_syncs
    from reverse_etl.lock import WarehouseBusy

    settings = _settings(raw_dir, duckdb_path, fmt)
    try:
        if dead_letters:
            letters = project_dead_letters(settings, names)
            for letter in letters:
                click.echo(
                    f"{letter.sync_name}\t{letter.record_key}\t{letter.operation}\t"
                    f"{letter.attempts} attempts\tlast {letter.last_seen_at:%Y-%m-%d %H:%M}\t"
                    f"{letter.reason}"
                )
            click.echo(f"{len(letters)} dead letters")
            return
        results = run_project_syncs(
            settings,
            names,
            dry_run=dry_run,
            full_resync=full_resync,
            replay_dead_letters=replay_dead_letters,
            allow_mass_change=allow_mass_change,
            on_line=click.echo,
        )
    except (ValueError, WarehouseBusy) as error:
        raise click.ClickException(str(error)) from None
    _exit_on_unsent(results)


@main.command("sync-exposures")
@click.option("--check", is_flag=True, help="Fail if the generated file is not current.")
def sync_exposures(check: bool) -> None:
    """Write the dbt exposures generated from dbt_project/syncs.yml."""
    from cdp.activation import EXPOSURES_PATH, project_syncs, render_exposures

    rendered = render_exposures(project_syncs())
    current = EXPOSURES_PATH.read_text() if EXPOSURES_PATH.exists() else None
    if check:
        if current != rendered:
            raise click.ClickException(f"{EXPOSURES_PATH} is stale: run `cdp sync-exposures`")
        click.echo(f"{EXPOSURES_PATH} is up to date")
        return
    EXPOSURES_PATH.parent.mkdir(parents=True, exist_ok=True)
    EXPOSURES_PATH.write_text(rendered)
    click.echo(f"wrote {EXPOSURES_PATH}")


@main.command("landing-contract")
@click.option("--check", is_flag=True, help="Fail if the generated files are not current.")
def landing_contract(check: bool) -> None:
    """Write the dbt side of the landing contract (cdp/landing.py): macro and sources."""
    from cdp import DBT_PROJECT_DIR
    from cdp.landing import stale_dbt_contract_files, write_dbt_contract

    if check:
        stale = stale_dbt_contract_files(DBT_PROJECT_DIR)
        if stale:
            names = ", ".join(str(path) for path in stale)
            raise click.ClickException(f"{names} stale: run `cdp landing-contract`")
        click.echo("the dbt landing contract is up to date")
        return
    for path in write_dbt_contract(DBT_PROJECT_DIR):
        click.echo(f"wrote {path}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run any dbt command against the configured landing files and warehouse."""
    from cdp.pipeline import run_dbt

    outcome = run_dbt(list(dbt_args), _settings(None, None, None), on_line=click.echo)
    raise SystemExit(0 if outcome.success else 1)


@main.group()
def segment() -> None:
    """Segments as code: their rules in plain words, and a preview before sending."""


@segment.command("docs")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if the rule docs are stale (for CI).",
)
def segment_docs(check: bool) -> None:
    """Render every segment's rule in plain words as dbt docs blocks (_segments__rules.md).

    Each segment's description shows its block through {{ doc("seg_<name>__rule") }}, so the
    words people read in dbt docs always come from the same YAML the SQL is compiled from.
    """
    from cdp import DBT_PROJECT_DIR
    from cdp.segments import (
        RULE_DOCS_FILE,
        doc_reference,
        load_segment_definitions,
        missing_doc_references,
        render_rule_docs,
    )

    try:
        rendered = render_rule_docs(load_segment_definitions(DBT_PROJECT_DIR))
    except ValueError as error:
        raise click.ClickException(f"cannot describe a segment rule: {error}") from error
    path = DBT_PROJECT_DIR / RULE_DOCS_FILE
    unreferenced = missing_doc_references(DBT_PROJECT_DIR)
    for name in unreferenced:
        click.echo(
            f"{name}: its description does not reference {doc_reference(name)}, "
            "so dbt docs will not show its rule",
            err=True,
        )
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != rendered:
            click.echo(f"{path} is stale: run `cdp segment docs` and commit the result", err=True)
            raise SystemExit(1)
        if unreferenced:
            raise SystemExit(1)
        click.echo(f"{path} is up to date")
        return
    if current == rendered:
        click.echo(f"{path} is up to date")
    else:
        path.write_text(rendered, encoding="utf-8")
        click.echo(f"wrote {path}")


@segment.command("preview")
@click.argument("name")
@with_warehouse_options
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Evaluate the rules as of this UTC time (YYYY-MM-DD[ HH:MM:SS]); default: the as_of"
    " of the last build (CDP_AS_OF is not used: the traits were computed at the build's).",
)
def segment_preview(
    name: str, raw_dir: Path | None, duckdb_path: Path | None, fmt: str | None, as_of: str | None
) -> None:
    """Show who segment NAME's rules (champions or seg_champions) select, before sending.

    Size, holdout, consent, overlap with the other segments, who entered or left since the
    recorded history, and a few members (ids and traits only). The rules in the YAML as it
    is now are compiled and run on a read-only connection: no table changes, so the next
    sync sends what it would have sent anyway.
    """
    from cdp import DBT_PROJECT_DIR
    from cdp.segments import (
        SEGMENT_PREFIX,
        check_as_of,
        compile_segment,
        format_preview,
        last_build_as_of,
        load_segment_definitions,
        preview_segment,
    )

    definitions = load_segment_definitions(DBT_PROJECT_DIR)
    model_name = name if name.startswith(SEGMENT_PREFIX) else SEGMENT_PREFIX + name
    if model_name not in definitions:
        known = ", ".join(definition.short_name for definition in definitions.values())
        raise click.UsageError(f"unknown segment '{name}'; known segments: {known}")
    settings = _settings(raw_dir, duckdb_path, fmt)
    if not settings.duckdb_path.exists():
        raise click.ClickException(
            f"no warehouse at {settings.duckdb_path}: build it first with `cdp run`"
        )
    if as_of is not None:
        try:
            as_of, source = check_as_of(as_of), "given with --as-of"
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--as-of") from None
    else:
        built = last_build_as_of(settings.duckdb_path)
        if built is None:
            raise click.ClickException(
                f"no built segments or traits in {settings.duckdb_path} to take the as_of from:"
                " build first with `cdp run`, or pass --as-of"
            )
        as_of, source = built[0], f"the last build's, from {built[1]}"
    compiled = compile_segment(model_name, settings, as_of, project_dir=DBT_PROJECT_DIR)
    if not compiled.success:
        click.echo(f"dbt could not compile {model_name}:", err=True)
        click.echo(compiled.error or "(dbt gave no reason)", err=True)
        raise SystemExit(1)
    definition = definitions[model_name]
    preview = preview_segment(settings.duckdb_path, definition, list(definitions), compiled.sql)
    preview.as_of, preview.as_of_source = as_of, source
    for line in format_preview(definition, preview):
        click.echo(line)


@main.command()
@with_warehouse_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8088, show_default=True)
@click.option(
    "--stream-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Event log, rejects and checkpoints (default: stream/ beside the DuckDB warehouse).",
)
@click.option(
    "--flush-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long accepted events may wait before they are written to the landing folders.",
)
@click.option(
    "--status",
    is_flag=True,
    help="Print the stream's health from its files (lag, ingest, rejects, last evaluation) and"
    " exit: 0 when healthy, 1 when not.",
)
@click.option(
    "--replay",
    "replay_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Also send the events of this landing drop (e.g. `cdp generate --drop 1 --out DIR`)"
    " through the HTTP API, as if they happened now.",
)
@click.option(
    "--replay-speed",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How much faster than real time the drop is replayed (0: as fast as possible).",
)
def stream(
    raw_dir: Path | None,
    duckdb_path: Path | None,
    fmt: str | None,
    host: str,
    port: int,
    stream_dir: Path | None,
    flush_seconds: float,
    status: bool,
    replay_dir: Path | None,
    replay_speed: float,
) -> None:
    """Collect events (Segment's HTTP Tracking API) and run the real-time workers.

    Clients send to http://HOST:PORT/v1/... with the write key (env CDP_WRITE_KEY) as the
    HTTP Basic user name; accepted events reach the landing folders every few seconds.
    Stops cleanly on SIGTERM or Ctrl-C.
    """
    import logging
    import os

    from cdp.stream.paths import stream_dir_for
    from cdp.stream.service import HostRefused, StreamService

    settings = _settings(raw_dir, duckdb_path, fmt)
    write_key = os.environ.get("CDP_WRITE_KEY") or None
    directory = stream_dir_for(settings.duckdb_path, stream_dir)
    if status:
        _stream_status(directory)
        return
    if replay_dir is not None:
        _check_replay(replay_dir, settings.duckdb_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        service = StreamService(
            settings,
            directory,
            host=host,
            port=port,
            write_key=write_key,
            flush_seconds=flush_seconds,
        )
    except HostRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(
        f"collector http://{host}:{port}/v1/ (write key {'required' if write_key else 'not set'})"
    )
    click.echo(f"stream    {directory}")
    click.echo(f"landing   {settings.raw_dir} ({settings.landing_format})")
    if replay_dir is not None:
        _start_replay(f"http://{host}:{port}", write_key, replay_dir, replay_speed)
    service.run()
    click.echo("stopped")


def _stream_status(directory: Path) -> None:
    from cdp.stream.health import HealthBounds, health_problems, read_health, status_lines

    health = read_health(directory)
    problems = health_problems(health, HealthBounds())
    for line in status_lines(health, problems):
        click.echo(line)
    if problems:
        raise SystemExit(1)


def _check_replay(replay_dir: Path, duckdb_path: Path) -> None:
    """Mistakes with --replay are usage errors (exit 2), found before anything starts."""
    from cdp.stream.replay import TABLES, drop_files

    if not drop_files(replay_dir):
        tables = " or ".join(f"{table}/" for table in TABLES.values())
        raise click.UsageError(
            f"{replay_dir} holds no event files ({tables}): generate a drop with"
            f" `cdp generate --drop 1 --out {replay_dir}`",
            ctx=click.get_current_context(),
        )
    if not duckdb_path.exists():
        raise click.UsageError(
            f"no warehouse at {duckdb_path}: build it first with `cdp run` (the replay is"
            " evaluated against the last build)",
            ctx=click.get_current_context(),
        )


def _start_replay(url: str, write_key: str | None, replay_dir: Path, speed: float) -> None:
    """Replay on a thread once the collector answers; the stream keeps serving afterwards."""
    import threading
    import time

    import requests

    from cdp.stream.replay import Replayer, ReplayError

    def run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        try:
            Replayer(url, write_key=write_key, speed=speed, echo=click.echo).replay(replay_dir)
        except ReplayError as error:
            click.echo(f"replay stopped: {error}", err=True)
        else:
            click.echo("replay finished; still collecting (Ctrl-C to stop)")

    threading.Thread(target=run, name="stream-replay", daemon=True).start()


if __name__ == "__main__":
    main()
