"""The project's syncs: load them from dbt_project/syncs.yml, run them, keep the exposures current.

The engine (reverse_etl/) works on any warehouse table; this module binds it to this project:
where the sync file is, which warehouse the syncs read (the file destination writes under
CDP_ACTIVATION_DIR, by default next to that warehouse: see reverse_etl/destinations/file.py),
one sync at a time per warehouse (reverse_etl/lock.py), and how each sync appears in dbt docs
as an exposure downstream of the model it sends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from cdp import DBT_PROJECT_DIR
from cdp.pipeline import Settings
from reverse_etl.config import SyncConfig, SyncConfigError, load_syncs, register_sync_secrets
from reverse_etl.destinations.file import activation_root
from reverse_etl.interfaces import Warehouse
from reverse_etl.results import DeadLetter, SyncRunResult
from reverse_etl.runner import ABANDONED_MESSAGE, run_locked
from reverse_etl.state import dead_letters
from reverse_etl.warehouse import DuckDBWarehouse

SYNCS_PATH = DBT_PROJECT_DIR / "syncs.yml"
EXPOSURES_PATH = DBT_PROJECT_DIR / "models" / "activation" / "_activation__exposures.yml"


def open_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the pipeline builds: DuckDB's file, or Spark's tables (CDP_TARGET=spark).

    On Spark the session is the one dbt-spark runs in this process, or a new one configured
    from the same dbt profile (`cdp.spark.spark_session`), so syncs read the tables of the
    same warehouse directory and metastore.
    """
    if settings.target == "spark":
        from cdp.spark import spark_session
        from reverse_etl.spark_warehouse import SparkWarehouse

        settings.spark_dir.mkdir(parents=True, exist_ok=True)
        return SparkWarehouse(spark_session(settings.as_env()))
    return DuckDBWarehouse.connect(settings.duckdb_path)


def activation_dir(settings: Settings) -> Path:
    """Where the file destination writes for this warehouse (CDP_ACTIVATION_DIR, or next to it)."""
    return activation_root(settings.warehouse_path)


# The purposes core.customers carries a `consent_<purpose>` column for.
CONSENT_PURPOSES = ("email_marketing", "sms_marketing", "ads_personalization", "data_sale_sharing")
CONSENT_RELATION = "core.customers"


def project_syncs(path: Path = SYNCS_PATH) -> list[SyncConfig]:
    """The declared syncs, bound to this project.

    Each sync's consent purpose must be one core.customers records, and consent is read from
    there for that purpose (unless the sync names another consent relation), so a sync never
    relies on the consent its segment was built for. File destinations' directories are
    folders inside the activation root (activation_dir()). The secrets the syncs name are
    registered for redaction, so every message of this process hides them.
    """
    syncs = load_syncs(path)
    register_sync_secrets(syncs)
    for sync in syncs:
        if sync.consent_purpose not in CONSENT_PURPOSES:
            raise SyncConfigError(
                f"{path}: sync '{sync.name}': field 'consent_purpose': "
                f"{sync.consent_purpose!r} is not one of {', '.join(CONSENT_PURPOSES)}"
            )
        if "consent_relation" not in sync.model_fields_set:
            sync.consent_relation = CONSENT_RELATION
    return syncs


# Syncs `cdp stream` sends as the real-time memberships change (cdp/stream/syncs.py), with
# their own state; a batch run never sends them too.
REALTIME_SCHEDULE = "realtime"


def batch_syncs(syncs: Sequence[SyncConfig]) -> list[SyncConfig]:
    """The syncs a batch run sends: all but the `schedule: realtime` ones."""
    return [sync for sync in syncs if sync.schedule != REALTIME_SCHEDULE]


def _select(syncs: list[SyncConfig], names: Sequence[str]) -> list[SyncConfig]:
    unknown = set(names) - {sync.name for sync in syncs}
    if unknown:
        raise ValueError(
            f"no such sync: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sync.name for sync in syncs)})"
        )
    realtime = sorted(set(names) - {sync.name for sync in batch_syncs(syncs)})
    if realtime:
        raise ValueError(
            f"{', '.join(realtime)}: schedule realtime, sent by `cdp stream` from its own"
            " state; a batch run does not send it"
        )
    return [sync for sync in batch_syncs(syncs) if not names or sync.name in names]


def project_dead_letters(settings: Settings, names: Sequence[str] = ()) -> list[DeadLetter]:
    """The dead letters of the selected syncs (all by default)."""
    selected = [sync.name for sync in _select(project_syncs(), names)]
    warehouse = open_warehouse(settings)
    try:
        return dead_letters(warehouse, selected)
    finally:
        warehouse.close()


def run_project_syncs(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    replay_dead_letters: bool = False,
    allow_mass_change: bool = False,
    on_line: Callable[[str], None] = print,
    wait_seconds: float = 0,
) -> list[SyncRunResult]:
    """Run the selected syncs (all by default) against the pipeline's warehouse.

    `replay_dead_letters` releases each sync's dead letters first, so those records are tried
    again. A failing sync is reported and the others still run; the caller decides the exit
    code from the results (status "failed", or "blocked" by the mass-change guard, which
    `allow_mass_change` overrides).

    The syncs run under the warehouse's sync lock: another process holding it for longer than
    `wait_seconds` raises `WarehouseBusy` (one line). Holding it, runs a stopped process left
    `running` are marked `abandoned` first. A file destination whose directory is refused
    raises SyncConfigError before any sync runs.
    """
    selected = _select(project_syncs(), names)
    return run_locked(
        selected,
        settings.warehouse_path,
        lambda: open_warehouse(settings),
        _Lines(on_line),
        wait_seconds=wait_seconds,
        dry_run=dry_run,
        full_resync=full_resync,
        replay_dead_letters=replay_dead_letters,
        allow_mass_change=allow_mass_change,
    )


class _Lines:
    """How `cdp sync` and `cdp run` report each sync (`reverse_etl.runner.SyncReporter`)."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line

    def abandoned(self, count: int) -> None:
        self.on_line(f"  {ABANDONED_MESSAGE.format(count=count)} (reverse_etl.sync_runs)")

    def replaying(self, sync_name: str, released: int) -> None:
        self.on_line(f"  {sync_name:<40} replaying {released} dead letters")

    def failed(self, sync_name: str, message: str) -> None:
        self.on_line(f"  {sync_name:<40} failed: {message}")

    def planned(self, result: SyncRunResult) -> None:
        planned = ", ".join(f"{count} {operation}" for operation, count in result.planned.items())
        self.on_line(f"  {result.sync_name:<40} would send: {planned}")
        if result.mass_change:
            self.on_line(f"  {result.sync_name:<40} would be blocked: {result.mass_change}")
        for sample in result.sample_payloads[:3]:
            self.on_line(f"      {sample}")

    def blocked(self, result: SyncRunResult) -> None:
        self.on_line(
            f"  {result.sync_name:<40} blocked: {result.mass_change}; nothing sent but"
            f" {result.removed} erasures/consent withdrawals (--allow-mass-change to send it)"
        )

    def finished(self, result: SyncRunResult) -> None:
        self.on_line(
            f"  {result.sync_name:<40} added {result.added}, changed {result.changed}, "
            f"removed {result.removed}, failed {result.failed}, "
            f"skipped: {result.skipped_consent} without consent, "
            f"{result.skipped_holdout} holdout ({result.requests} requests)"
        )


# The option naming what a destination's records land in, per destination type.
_OBJECT_OPTIONS = ("list_id", "audience_id", "user_list_id", "url")


def destination_object(sync: SyncConfig) -> str:
    """What the sync writes to at the destination: a list, an audience, a URL, a folder."""
    options = sync.destination.options
    for option in _OBJECT_OPTIONS:
        if options.get(option):
            return f"{option}: {options[option]}"
    if sync.destination.type == "file":
        return f"folder: {sync.name}/"  # under CDP_ACTIVATION_DIR; no machine path
    return sync.destination.type


def render_exposures(syncs: Sequence[SyncConfig]) -> str:
    """dbt exposures, one per sync, downstream of the model it sends."""
    exposures = []
    for sync in syncs:
        model = sync.source.split(".")[-1]
        exposures.append(
            {
                "name": sync.name,
                "label": f"{model} → {sync.destination.type}",
                "type": "application",
                "maturity": "medium",
                "description": (
                    f"Sync of {model} to the {sync.destination.type} destination "
                    f"({sync.mode}; fields: {', '.join(sync.fields)}; consent purpose: "
                    f"{sync.consent_purpose}; schedule: {sync.schedule or 'manual'}). "
                    "Generated from dbt_project/syncs.yml by `cdp sync-exposures`."
                ),
                "owner": {"name": "activation"},
                "depends_on": [f"ref('{model}')"],
                "meta": {
                    "destination": sync.destination.type,
                    "destination_object": destination_object(sync),
                    "mode": sync.mode,
                    "identifiers": sync.identifiers,
                    "fields": sync.fields,
                    "consent_purpose": sync.consent_purpose,
                    "batch_size": sync.batch_size,
                    "schedule": sync.schedule or "manual",
                    "secrets_from_env": sync.secret_env,
                },
            }
        )
    header = "# Generated from dbt_project/syncs.yml by `cdp sync-exposures`; do not edit.\n"
    return header + yaml.safe_dump(
        {"exposures": exposures}, sort_keys=False, width=100, allow_unicode=True
    )
