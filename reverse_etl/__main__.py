"""`python -m reverse_etl SYNCS.yml`: run (or dry-run) the declared syncs against the warehouse.

The warehouse is the one the pipeline builds: the DuckDB file (`CDP_DUCKDB_PATH`, or
`--duckdb-path`), or Spark's tables when CDP_TARGET=spark (or `--target spark`; the session is
configured like dbt's spark target, under CDP_SPARK_DIR). Exits non-zero when any sync
fails or is blocked by the mass-change guard (`--allow-mass-change` overrides it); the other
syncs still run. One sync process at a time per warehouse (reverse_etl/lock.py): another one
exits non-zero with one line saying which warehouse is busy and by which process.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reverse_etl.config import SyncConfig, load_syncs, register_sync_secrets
from reverse_etl.destinations import Destination, build_destinations, usable
from reverse_etl.engine import recorded_error, run_sync
from reverse_etl.guard import BLOCKED
from reverse_etl.lock import WarehouseBusy, sync_lock
from reverse_etl.redaction import install_log_redaction
from reverse_etl.state import clear_dead_letters, mark_abandoned_runs
from reverse_etl.state import dead_letters as list_dead_letters
from reverse_etl.warehouse import DuckDBWarehouse, open_warehouse

if TYPE_CHECKING:
    from cdp.pipeline import Settings


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sync", "names", multiple=True, help="Run only these syncs (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the delta; call nothing, write nothing.")
@click.option("--full-resync", is_flag=True, help="Ignore the saved state and send everything.")
@click.option("--dead-letters", is_flag=True, help="List the dead letters; send nothing.")
@click.option("--replay-dead-letters", is_flag=True, help="Release dead letters, then run.")
@click.option(
    "--allow-mass-change",
    is_flag=True,
    help="Send a run the mass-change guard refuses; recorded in the run log.",
)
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--target",
    type=click.Choice(["duckdb", "spark"]),
    default=None,
    help="The warehouse (default: CDP_TARGET, else duckdb).",
)
def main(
    config: Path,
    names: tuple[str, ...],
    dry_run: bool,
    full_resync: bool,
    dead_letters: bool,
    replay_dead_letters: bool,
    allow_mass_change: bool,
    duckdb_path: Path | None,
    target: str | None,
) -> None:
    from cdp.pipeline import Settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        settings = Settings.from_env()
        syncs = load_syncs(config)
        register_sync_secrets(syncs)
        unknown = set(names) - {sync.name for sync in syncs}
        if unknown:
            raise click.ClickException(f"no such sync: {', '.join(sorted(unknown))}")
        selected = [sync for sync in syncs if not names or sync.name in names]
        settings = replace(settings, target=target or settings.target)
        if duckdb_path and target != "spark":
            settings = replace(settings, target="duckdb", duckdb_path=duckdb_path.resolve())
        # Built first: a destination refused by its configuration stops the run before any sync.
        destinations = build_destinations(selected, settings.warehouse_path)
        with sync_lock(settings.warehouse_path):
            failures = _run(
                settings,
                selected,
                destinations,
                dry_run=dry_run,
                full_resync=full_resync,
                dead_letters=dead_letters,
                replay_dead_letters=replay_dead_letters,
                allow_mass_change=allow_mass_change,
            )
    except (ValueError, WarehouseBusy) as error:  # SyncConfigError, SettingsError: one line
        raise click.ClickException(str(error)) from None
    if failures:
        sys.exit(1)


def _run(
    settings: Settings,
    selected: list[SyncConfig],
    destinations: dict[str, Destination | Exception],
    *,
    dry_run: bool,
    full_resync: bool,
    dead_letters: bool,
    replay_dead_letters: bool,
    allow_mass_change: bool,
) -> int:
    if settings.target == "duckdb":
        warehouse = DuckDBWarehouse.connect(settings.duckdb_path)
    else:
        warehouse = open_warehouse(settings)
    failures = 0
    try:
        if dead_letters:
            letters = list_dead_letters(warehouse, [sync.name for sync in selected])
            for letter in letters:
                click.echo(
                    f"{letter.sync_name}\t{letter.record_key}\t{letter.operation}\t"
                    f"{letter.attempts}\t{letter.last_seen_at:%Y-%m-%d %H:%M}\t{letter.reason}"
                )
            click.echo(f"{len(letters)} dead letters")
            return 0
        if not dry_run:
            abandoned = mark_abandoned_runs(warehouse, datetime.now(UTC).replace(tzinfo=None))
            if abandoned:
                click.echo(
                    f"marked {abandoned} run(s) left running by a stopped process as abandoned"
                )
        for sync in selected:
            if replay_dead_letters and not dry_run:
                click.echo(f"{sync.name}: replaying {clear_dead_letters(warehouse, sync.name)}")
            try:
                result = run_sync(
                    sync,
                    warehouse,
                    usable(destinations[sync.name]),
                    dry_run=dry_run,
                    full_resync=full_resync,
                    allow_mass_change=allow_mass_change,
                )
            except Exception as error:  # recorded (redacted) by the engine; keep going
                failures += 1
                click.echo(f"{sync.name}: failed: {recorded_error(error)}", err=True)
                continue
            if result.status == BLOCKED:
                failures += 1
                click.echo(
                    f"{sync.name}: blocked: {result.mass_change} (--allow-mass-change to send it)",
                    err=True,
                )
                continue
            if dry_run:
                click.echo(f"{sync.name}: would send {json.dumps(result.planned)}")
                if result.mass_change:
                    click.echo(f"{sync.name}: would be blocked: {result.mass_change}")
                for sample in result.sample_payloads:
                    click.echo(f"  {json.dumps(sample, sort_keys=True)}")
            else:
                click.echo(
                    f"{sync.name}: {result.added} added, {result.changed} changed,"
                    f" {result.removed} removed, {result.failed} failed"
                )
    finally:
        warehouse.close()
    return failures


if __name__ == "__main__":
    main()
