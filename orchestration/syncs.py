"""One asset per sync in dbt_project/syncs.yml, downstream of the model it sends.

Built from the sync configuration, not listed by hand. Because each sync asset depends on its
segment's asset, the segment's blocking checks (size, change, identity) stop the sync in any
run where they fail, while the rest of the graph completes. Every materialization records what
was sent, so the UI plots records sent and failed over time.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    asset,
)

from cdp.activation import project_syncs, run_project_syncs
from cdp.pipeline import Settings
from orchestration.dbt import release_warehouse
from reverse_etl.config import SyncConfig


def sync_asset(sync: SyncConfig) -> AssetsDefinition:
    schema, model = sync.source.split(".")

    @asset(
        name=sync.name,
        key_prefix=["activation"],
        deps=[AssetKey([schema, model])],
        group_name="activation",
        kinds={"reverse_etl", sync.destination.type},
        tags={"schedule": sync.schedule or "manual"},
        description=(
            f"Sync of {model} to the {sync.destination.type} destination ({sync.mode}); "
            "sends the delta since the last acknowledged state."
        ),
    )
    def _sync(context: AssetExecutionContext) -> MaterializeResult:
        release_warehouse()  # dbt-duckdb may still hold the file in this process
        [result] = run_project_syncs(Settings.from_env(), [sync.name], on_line=context.log.info)
        if result.status == "failed":
            raise Failure(f"sync {sync.name} failed: {result.error}")
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
