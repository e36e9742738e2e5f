"""`python -m reverse_etl SYNCS.yml`: run (or dry-run) the declared syncs against the warehouse.

The warehouse is the one the pipeline builds: the DuckDB file (`CDP_DUCKDB_PATH`, or
`--duckdb-path`), or Spark's tables when CDP_TARGET=spark (or `--target spark`; the session is
configured like dbt's spark target, under CDP_SPARK_DIR). Exits non-zero when any sync
fails; the other syncs still run.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from reverse_etl.config import SyncConfigError, load_syncs, register_sync_secrets
from reverse_etl.destinations import build_destination
from reverse_etl.engine import recorded_error, run_sync
from reverse_etl.redaction import install_log_redaction
from reverse_etl.state import clear_dead_letters
from reverse_etl.state import dead_letters as list_dead_letters
from reverse_etl.warehouse import DuckDBWarehouse, open_warehouse


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sync", "names", multiple=True, help="Run only these syncs (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the delta; call nothing, write nothing.")
@click.option("--full-resync", is_flag=True, help="Ignore the saved state and send everything.")
@click.option("--dead-letters", is_flag=True, help="List the dead letters; send nothing.")
@click.option("--replay-dead-letters", is_flag=True, help="Release dead letters, then run.")
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
    duckdb_path: Path | None,
    target: str | None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        syncs = load_syncs(config)
    except SyncConfigError as error:
        raise click.ClickException(str(error)) from None
    register_sync_secrets(syncs)
    unknown = set(names) - {sync.name for sync in syncs}
    if unknown:
        raise click.ClickException(f"no such sync: {', '.join(sorted(unknown))}")
    selected = [sync for sync in syncs if not names or sync.name in names]
    if duckdb_path and target != "spark":
        warehouse = DuckDBWarehouse.connect(duckdb_path)
    else:
        from dataclasses import replace

        from cdp.pipeline import Settings

        settings = Settings.from_env()
        warehouse = open_warehouse(replace(settings, target=target or settings.target))
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
            return
        for sync in selected:
            if replay_dead_letters and not dry_run:
                click.echo(f"{sync.name}: replaying {clear_dead_letters(warehouse, sync.name)}")
            try:
                result = run_sync(
                    sync,
                    warehouse,
                    build_destination(sync),
                    dry_run=dry_run,
                    full_resync=full_resync,
                )
            except Exception as error:  # recorded (redacted) by the engine; keep going
                failures += 1
                click.echo(f"{sync.name}: failed: {recorded_error(error)}", err=True)
                continue
            if dry_run:
                click.echo(f"{sync.name}: would send {json.dumps(result.planned)}")
                for sample in result.sample_payloads:
                    click.echo(f"  {json.dumps(sample, sort_keys=True)}")
            else:
                click.echo(
                    f"{sync.name}: {result.added} added, {result.changed} changed,"
                    f" {result.removed} removed, {result.failed} failed"
                )
    finally:
        warehouse.close()
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
