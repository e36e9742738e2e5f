"""A composable customer data platform: landing files to customers, traits, segments and syncs."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_RAW_DIR = PROJECT_ROOT / "seeds"
DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "warehouse" / "cdp.duckdb"
DEFAULT_SPARK_DIR = PROJECT_ROOT / "warehouse" / "spark"
