"""One asset per sync in dbt_project/syncs.yml, downstream of the model it sends.

Built from the sync configuration, not listed by hand. Because each sync asset depends on its
segment's asset, the segment's blocking checks (size, change, identity) stop the sync in any
run where they fail, while the rest of the graph completes. Every materialization records what
was sent, so the UI plots records sent and failed over time.

Each asset is tagged with its sync's `schedule` (hourly, nightly, or manual when unset);
`sync_selection` turns that tag into the asset selection the jobs are built from. The
`sync_failure_rate` check on every sync asset lives in orchestration/checks.py.

The engine's mass-change guard applies here as everywhere: a run it refuses fails the sync's
step. To let an intended mass change through, launch the run with the tag
`cdp/allow_mass_change: true` (ALLOW_MASS_CHANGE_TAG); the segment checks read it too.
"""

import functools

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Definitions,
    Failure,
    MaterializeResult,
    asset,
)

from cdp.activation import batch_syncs, project_syncs, run_project_syncs
from orchestration.dbt import checked_settings, release_warehouse
from reverse_etl.config import SyncConfig, SyncConfigError
from reverse_etl.lock import WarehouseBusy
from reverse_etl.redaction import describe_error, redact

KEY_PREFIX = "activation"
# Sync assets of one run may start together; each waits this long for the warehouse's sync
# lock (one sync at a time per warehouse) before it fails.
SYNC_LOCK_WAIT_SECONDS = 1800
SCHEDULE_TAG = "schedule"
ALLOW_MASS_CHANGE_TAG = "cdp/allow_mass_change"


def allows_mass_change(tags: dict[str, str]) -> bool:
    """Whether a run's tags explicitly override the mass-change guard."""
    return str(tags.get(ALLOW_MASS_CHANGE_TAG, "")).strip().lower() in ("true", "1", "yes")


def sync_asset(sync: SyncConfig) -> AssetsDefinition:
    schema, model = sync.source.split(".")

    @asset(
        name=sync.name,
        key_prefix=[KEY_PREFIX],
        deps=[AssetKey([schema, model])],
        group_name="activation",
        kinds={"reverse_etl", sync.destination.type},
        tags={SCHEDULE_TAG: sync.schedule or "manual"},
        description=(
            f"Sync of {model} to the {sync.destination.type} destination ({sync.mode}); "
            "sends the delta since the last acknowledged state."
        ),
    )
    def _sync(context: AssetExecutionContext) -> MaterializeResult:
        release_warehouse()  # dbt-duckdb may still hold the file in this process
        try:
            [result] = run_project_syncs(
                checked_settings(),
                [sync.name],
                allow_mass_change=allows_mass_change(context.run.tags),
                on_line=context.log.info,
                wait_seconds=SYNC_LOCK_WAIT_SECONDS,
            )
        except (SyncConfigError, WarehouseBusy) as error:
            raise Failure(description=redact(str(error))) from None
        except Exception as error:
            # Dagster stores an exception's message and its chained causes in the event log and
            # prints them to the compute logs: only the redacted text goes there.
            raise Failure(description=f"sync {sync.name} failed: {describe_error(error)}") from None
        if result.status == "failed":
            raise Failure(
                description=f"sync {sync.name} failed: {redact(result.error or 'no error')}"
            ) from None
        if result.status == "blocked":
            raise Failure(
                description=redact(
                    f"sync {sync.name} blocked: {result.error} (launch with the run tag"
                    f" {ALLOW_MASS_CHANGE_TAG}: true to send it)"
                )
            ) from None
        return MaterializeResult(
            metadata={
                "added": result.added,
                "changed": result.changed,
                "removed": result.removed,
                "failed": result.failed,
                "skipped_consent": result.skipped_consent,
                "skipped_holdout": result.skipped_holdout,
                "requests": result.requests,
                "run_id": result.run_id,
                **({"mass_change": result.mass_change} if result.mass_change else {}),
            }
        )

    return _sync


@functools.cache
def sync_assets() -> tuple[AssetsDefinition, ...]:
    """One asset per batch sync of dbt_project/syncs.yml, read when first needed (the
    `schedule: realtime` ones are sent by `cdp stream`)."""
    return tuple(sync_asset(sync) for sync in batch_syncs(project_syncs()))


def sync_selection(schedule: str | None = None) -> AssetSelection:
    """The sync assets (with their checks), only those tagged `schedule: <schedule>` if given."""
    selection = AssetSelection.assets(*sync_assets())
    if schedule is not None:
        selection = selection & AssetSelection.tag(SCHEDULE_TAG, schedule)
    return selection


def defs() -> Definitions:
    """The syncs area: one asset per sync (their checks are in the checks area)."""
    return Definitions(assets=list(sync_assets()))
