"""The Spark session of the `spark` dbt target, for the steps that run beside dbt.

dbt-spark's `method: session` runs Spark inside this Python process, configured by the
`server_side_parameters` of the spark output in dbt_project/profiles.yml. The predictive step
and the run summary use the same session: in the process that ran dbt it is the one dbt
started; in a new process it is started from the same profile settings, so both see one
warehouse directory and one metastore. (The embedded Derby metastore admits one process at a
time: run one Spark build or `cdp predict` at a time per CDP_SPARK_DIR.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from cdp import DBT_PROJECT_DIR


def server_side_parameters(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The spark output's server_side_parameters, rendered like dbt renders profiles.yml."""
    import jinja2
    import yaml

    env = os.environ if environ is None else environ

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(f"environment variable {name} is not set")
        return default

    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    parameters = profile["cdp"]["outputs"]["spark"].get("server_side_parameters", {})
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return {
        key: environment.from_string(str(value)).render(env_var=env_var)
        for key, value in parameters.items()
    }


def spark_session(environ: Mapping[str, str] | None = None) -> Any:
    """The running Spark session, or a new one configured like the dbt profile's."""
    from pyspark.sql import SparkSession

    # Python workers (UDFs, the event log source of cdp.stream.spark_evaluator) run this
    # interpreter, with the project installed, not whatever python3 is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in server_side_parameters(environ).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_available() -> bool:
    """Whether the spark extra (dbt-spark and pyspark) is installed."""
    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True
