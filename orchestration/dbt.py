"""The dbt project as Dagster assets, built when first needed.

Nothing here runs at import: `dbt_project()` finds (or parses) the manifest the first time the
definitions are loaded, and `cdp_dbt_assets()` / `dbt_resource()` are built from it once per
process (functools.cache). The environment is never changed for the process: dbt is given the
pipeline's settings only for the commands it runs (cdp.pipeline.dbt_environment).
"""

import functools
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, Definitions, Failure
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from cdp import DBT_PROJECT_DIR
from cdp.pipeline import (
    Settings,
    SettingsError,
    dbt_environment,
    release_dbt_connection,
    take_in_landing,
)
from orchestration.erasure import reclaim_after_build

# Dagster parses into its own target folder: dbt_project/target is shared with the CLI, and a
# manifest parsed for another warehouse names relations in that warehouse (row counts and
# anything else reading `relation_name` would query the wrong database).
DAGSTER_TARGET_PATH = Path("target") / "dagster"


def dbt_executable() -> Path:
    """dbt of this environment (whether or not its bin/ is on PATH) through `cdp-dbt`, which
    scrubs row content from what dbt prints (what dagster-dbt puts in the event log and compute
    logs), from dbt.log and from run_results.json (cdp/dbt_logs.py)."""
    executable = Path(sys.executable).parent / "cdp-dbt"
    if not executable.exists():
        raise RuntimeError(f"{executable} is missing: reinstall the project (`make setup`)")
    return executable


def manifest_database(manifest_path: Path) -> str | None:
    """The database the manifest's relations live in (DuckDB names it after the file's stem)."""
    if not manifest_path.exists():
        return None
    nodes = json.loads(manifest_path.read_text(encoding="utf-8")).get("nodes", {})
    return next((node.get("database") for node in nodes.values() if node.get("database")), None)


class CdpDbtProjectPreparer(DagsterDbtProjectPreparer):
    """Parses with the project's `cdp-dbt` and the pipeline's settings (dbt's profile and
    sources read CDP_*), given to that one command only."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        settings = Settings.from_env(check=False)
        resource = DbtCliResource(project_dir=project, dbt_executable=str(dbt_executable()))
        with dbt_environment(settings):
            resource.cli(self._prepare_project_cli_args, target_path=project.target_path).wait()
        self._invalidate_seeds_in_partial_parse(project)


_PREPARER = CdpDbtProjectPreparer()


@functools.cache
def dbt_project() -> DbtProject:
    """The DbtProject with a manifest for the configured warehouse, prepared on first use.

    Under `dagster dev` the project is parsed on every load (as `prepare_if_dev` does);
    elsewhere the manifest in target/dagster is used as it is, unless it is missing or was
    parsed for another DuckDB file: then it is parsed once. (A CDP_* value the pipeline cannot
    use is reported by the run that needs it, not here, so the code location still loads and
    the failure reaches the run's alerts.)
    """
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target_path=DAGSTER_TARGET_PATH,
    )
    wanted = Settings.from_env(check=False).duckdb_path.stem
    if manifest_database(project.manifest_path) != wanted or _PREPARER.using_dagster_dev():
        _PREPARER.prepare(project)
    return project


# Groups for resources without a model folder of their own.
_GROUP_BY_RESOURCE_TYPE = {"seed": "reference", "snapshot": "snapshots"}


def _group_name(value: str) -> str:
    """Dagster group names allow letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


class CdpDbtTranslator(DagsterDbtTranslator):
    """Groups by the dbt folder, owners from the model's meta, descriptions as written in dbt.

    - group: `meta.dagster.group` if set, else the model's folder under models/ (staging,
      identity, customers, traits, segments, ...). (Landing sources stay external assets,
      which dagster-dbt places in the default group.)
    - owners: `meta.dagster.owners`, else `meta.segment.owner` (every segment has one), else
      `meta.owner`. Dagster wants an email or a `team:` owner, so plain names become teams.
    - description: the dbt description; the generated fallback only when dbt has none.
    """

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        meta = _meta(dbt_resource_props)
        group = (meta.get("dagster") or {}).get("group")
        if group:
            return _group_name(str(group))
        resource_type = dbt_resource_props.get("resource_type")
        if resource_type == "source":
            return _group_name(str(dbt_resource_props["source_name"]))
        if resource_type in _GROUP_BY_RESOURCE_TYPE:
            return _GROUP_BY_RESOURCE_TYPE[resource_type]
        fqn = dbt_resource_props.get("fqn") or []
        # fqn is [project, folder, ..., name]; a model at the top of models/ has no folder.
        if len(fqn) > 2:
            return _group_name(str(fqn[1]))
        schema = (dbt_resource_props.get("config") or {}).get("schema")
        return _group_name(str(schema)) if schema else None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = _meta(dbt_resource_props)
        owners = (meta.get("dagster") or {}).get("owners")
        if owners:
            return [_owner(owner) for owner in owners]
        owner = (meta.get("segment") or {}).get("owner") or meta.get("owner")
        if owner:
            return [_owner(str(owner))]
        return super().get_owners(dbt_resource_props)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = (dbt_resource_props.get("description") or "").strip()
        return description or super().get_description(dbt_resource_props)


def _meta(dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
    """dbt puts `config.meta` in both `meta` and `config.meta`; read whichever is filled."""
    return (
        dbt_resource_props.get("meta") or (dbt_resource_props.get("config") or {}).get("meta") or {}
    )


def _owner(owner: str) -> str:
    return owner if "@" in owner or owner.startswith("team:") else f"team:{owner}"


# Run tag: rebuild incremental models from scratch (`dbt build --full-refresh`).
FULL_REFRESH_TAG = "cdp/full_refresh"

# dbt unit tests check the models' logic on fixed inputs: they run in CI (`make test`), not on
# every scheduled build of the warehouse, as dbt recommends.
SCHEDULED_BUILD_ARGS = ["--exclude-resource-type", "unit_test"]

dbt_translator = CdpDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True),
)


@functools.cache
def cdp_dbt_assets() -> AssetsDefinition:
    """Every dbt model, seed and snapshot as one multi-asset, from dbt_project()'s manifest."""

    @dbt_assets(
        name="cdp_dbt_assets",
        manifest=dbt_project().manifest_path,
        dagster_dbt_translator=dbt_translator,
    )
    def _cdp_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
        """Every dbt model, seed and snapshot; dbt data tests run as asset checks.

        Row counts are read after each model is built, so the UI plots table sizes over time.
        A run tagged `cdp/full_refresh` (the nightly job) rebuilds the incremental models from
        scratch; the hourly job updates them with what landed since. After the build, a
        DuckDB file that took in new erasures is rewritten (orchestration/erasure.py) before
        any check or sync opens it.
        """
        checked_settings()
        args = ["build", *SCHEDULED_BUILD_ARGS]
        if context.run.tags.get(FULL_REFRESH_TAG) == "true":
            args.append("--full-refresh")
        # The landing intake first (cdp/intake.py): dbt's sources read what it took in, from
        # the folder dbt_environment() names.
        settings = Settings.from_env()
        take_in_landing(settings, args, context.log.info)
        try:
            with dbt_environment(settings):
                yield from dbt.cli(args, context=context).stream().fetch_row_counts()
        finally:
            release_warehouse()
        reclaim_after_build(settings, context.log)

    return _cdp_dbt_assets


def checked_settings() -> Settings:
    """The pipeline's settings; a CDP_* variable with an unusable value fails the step with one
    line naming it (instead of every model failing on it)."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise Failure(description=str(error)) from None


def release_warehouse() -> None:
    """Close the DuckDB connection dbt-duckdb opened in this process to count rows.

    dbt-duckdb keeps one connection per process for its lifetime; left open, it holds the
    warehouse file and the checks that run next in the same process (or the next run) cannot
    open it. There is no public API for this, so it closes the adapter's environment itself.
    """
    release_dbt_connection()


@functools.cache
def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=str(dbt_executable()))


def defs() -> Definitions:
    """The dbt area: the dbt assets (with dbt's tests as checks) and the `dbt` resource."""
    return Definitions(assets=[cdp_dbt_assets()], resources={"dbt": dbt_resource()})
