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

# dagster-dbt runs `dbt` from PATH (e.g. to parse the project under `dagster dev`); make that
# the dbt of this environment even when the virtual environment is not activated.
_BIN_DIR = str(Path(sys.executable).parent)
if _BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_BIN_DIR, os.environ.get("PATH", "")])

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
dbt_resource = DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(_BIN_DIR) / "dbt"))
