"""One asset per sync in dbt_project/syncs.yml, downstream of the model it sends.

Built from the sync configuration, not listed by hand. Because each sync asset depends on its
segment's asset, the segment's blocking checks (size, change, identity) stop the sync in any
run where they fail, while the rest of the graph completes. Every materialization records what
was sent, so the UI plots records sent and failed over time.

Each asset is tagged with its sync's `schedule` (hourly, nightly, or manual when unset);
`sync_selection` turns that tag into the asset selection the jobs are built from. The
`sync_failure_rate` check on every sync asset lives in orchestration/checks.py.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Failure,
    MaterializeResult,
    asset,
)

from cdp.activation import project_syncs, run_project_syncs
from cdp.pipeline import Settings
from orchestration.dbt import release_warehouse
from reverse_etl.config import SyncConfig
from reverse_etl.redaction import describe_error, redact

KEY_PREFIX = "activation"
SCHEDULE_TAG = "schedule"


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
            [result] = run_project_syncs(Settings.from_env(), [sync.name], on_line=context.log.info)
        except Exception as error:
            # Dagster stores an exception's message and its chained causes in the event log and
            # prints them to the compute logs: only the redacted text goes there.
            raise Failure(description=f"sync {sync.name} failed: {describe_error(error)}") from None
        if result.status == "failed":
            raise Failure(
                description=f"sync {sync.name} failed: {redact(result.error or 'no error')}"
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
            }
        )

    return _sync


sync_assets = [sync_asset(sync) for sync in project_syncs()]


def sync_selection(schedule: str | None = None) -> AssetSelection:
    """The sync assets (with their checks), only those tagged `schedule: <schedule>` if given."""
    selection = AssetSelection.assets(*sync_assets)
    if schedule is not None:
        selection = selection & AssetSelection.tag(SCHEDULE_TAG, schedule)
    return selection
