"""`python -m reverse_etl SYNCS.yml`: run (or dry-run) the declared syncs against a warehouse.

The warehouse is named by explicit options, each with an environment fallback: the DuckDB
file (`--duckdb-path`, else CDP_DUCKDB_PATH, else `warehouse/cdp.duckdb`), or Spark's tables
with `--target spark` (or CDP_TARGET=spark): a local session over `--spark-dir` (else
CDP_SPARK_DIR, else `warehouse/spark`), the layout of the project's dbt spark target. Exits
non-zero when any sync fails or is blocked by the mass-change guard (`--allow-mass-change`
overrides it); the other syncs still run. One sync process at a time per warehouse
(reverse_etl/lock.py): another one exits non-zero with one line saying which warehouse is busy
and by which process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from reverse_etl.config import SyncConfig, load_syncs, register_sync_secrets
from reverse_etl.destinations import build_destinations
from reverse_etl.interfaces import Warehouse
from reverse_etl.lock import WarehouseBusy, sync_lock
from reverse_etl.redaction import install_log_redaction
from reverse_etl.results import SyncRunResult
from reverse_etl.runner import ABANDONED_MESSAGE, is_failure, run_locked
from reverse_etl.state import dead_letters as list_dead_letters
from reverse_etl.warehouse import DuckDBWarehouse

DEFAULT_DUCKDB_PATH = Path("warehouse") / "cdp.duckdb"
DEFAULT_SPARK_DIR = Path("warehouse") / "spark"


def _target(
    target: str | None, duckdb_path: Path | None, spark_dir: Path | None
) -> tuple[Path, Callable[[], Warehouse]]:
    """The warehouse's path (for its lock) and how to open it, from the options and env."""
    if duckdb_path and target != "spark":
        target = "duckdb"
    target = target or os.environ.get("CDP_TARGET", "").strip() or "duckdb"
    if target == "spark":
        directory = Path(spark_dir or os.environ.get("CDP_SPARK_DIR") or DEFAULT_SPARK_DIR)
        directory = directory.resolve()

        def open_spark() -> Warehouse:
            from reverse_etl.spark_warehouse import (
                SparkWarehouse,
                local_session,
                local_session_conf,
            )

            directory.mkdir(parents=True, exist_ok=True)
            conf = local_session_conf(
                directory,
                master=os.environ.get("CDP_SPARK_MASTER", "local[2]"),
                driver_memory=os.environ.get("CDP_SPARK_DRIVER_MEMORY", "2g"),
            )
            return SparkWarehouse(local_session(conf))

        return directory, open_spark
    if target != "duckdb":
        raise click.ClickException(f"unknown target {target!r} (duckdb or spark)")
    path = Path(duckdb_path or os.environ.get("CDP_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH).resolve()
    return path, lambda: DuckDBWarehouse.connect(path)


class _Echo:
    """What this command prints about each sync (`runner.SyncReporter`)."""

    def abandoned(self, count: int) -> None:
        click.echo(ABANDONED_MESSAGE.format(count=count))

    def replaying(self, sync_name: str, released: int) -> None:
        click.echo(f"{sync_name}: replaying {released}")

    def failed(self, sync_name: str, message: str) -> None:
        click.echo(f"{sync_name}: failed: {message}", err=True)

    def planned(self, result: SyncRunResult) -> None:
        click.echo(f"{result.sync_name}: would send {json.dumps(result.planned)}")
        if result.mass_change:
            click.echo(f"{result.sync_name}: would be blocked: {result.mass_change}")
        for sample in result.sample_payloads:
            click.echo(f"  {json.dumps(sample, sort_keys=True)}")

    def blocked(self, result: SyncRunResult) -> None:
        click.echo(
            f"{result.sync_name}: blocked: {result.mass_change} (--allow-mass-change to send it)",
            err=True,
        )

    def finished(self, result: SyncRunResult) -> None:
        click.echo(
            f"{result.sync_name}: {result.added} added, {result.changed} changed,"
            f" {result.removed} removed, {result.failed} failed"
        )


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
@click.option(
    "--spark-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Spark's warehouse directory (default: CDP_SPARK_DIR, else warehouse/spark).",
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
    spark_dir: Path | None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        syncs = load_syncs(config)
        register_sync_secrets(syncs)
        unknown = set(names) - {sync.name for sync in syncs}
        if unknown:
            raise click.ClickException(f"no such sync: {', '.join(sorted(unknown))}")
        selected = [sync for sync in syncs if not names or sync.name in names]
        warehouse_path, open_warehouse = _target(target, duckdb_path, spark_dir)
        if dead_letters:
            _list_dead_letters(selected, warehouse_path, open_warehouse)
            return
        results = run_locked(
            selected,
            warehouse_path,
            open_warehouse,
            _Echo(),
            dry_run=dry_run,
            full_resync=full_resync,
            replay_dead_letters=replay_dead_letters,
            allow_mass_change=allow_mass_change,
        )
    except (ValueError, WarehouseBusy) as error:  # SyncConfigError: one line
        raise click.ClickException(str(error)) from None
    if any(is_failure(result) for result in results):
        sys.exit(1)


def _list_dead_letters(
    selected: list[SyncConfig], warehouse_path: Path, open_warehouse: Callable[[], Warehouse]
) -> None:
    # Built as for a run: a destination its configuration refuses stops the command here too.
    build_destinations(selected, warehouse_path)
    with sync_lock(warehouse_path):
        warehouse = open_warehouse()
        try:
            letters = list_dead_letters(warehouse, [sync.name for sync in selected])
        finally:
            warehouse.close()
    for letter in letters:
        click.echo(
            f"{letter.sync_name}\t{letter.record_key}\t{letter.operation}\t"
            f"{letter.attempts}\t{letter.last_seen_at:%Y-%m-%d %H:%M}\t{letter.reason}"
        )
    click.echo(f"{len(letters)} dead letters")


if __name__ == "__main__":
    main()
