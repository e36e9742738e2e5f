"""The dbt project as Dagster assets. The DbtProject is built once, here."""

import os
import sys
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from cdp import DBT_PROJECT_DIR
from cdp.pipeline import Settings

# dbt's profile and sources read these; default them to the embedded DuckDB and the sample.
for _key, _value in Settings.from_env().as_env().items():
    os.environ.setdefault(_key, _value)

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
if not dbt_project.manifest_path.exists():
    dbt_project.preparer.prepare(dbt_project)
else:
    dbt_project.prepare_if_dev()


@dbt_assets(manifest=dbt_project.manifest_path)
def cdp_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """Every dbt model, seed and snapshot; dbt tests run as asset checks."""
    yield from dbt.cli(["build"], context=context).stream()


# The dbt executable of this environment, whether or not its bin/ is on PATH.
dbt_resource = DbtCliResource(
    project_dir=dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt")
)
