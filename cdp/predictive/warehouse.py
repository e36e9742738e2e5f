"""Predictive models when the warehouse is Spark: read features, train and score, write back.

dbt-spark runs dbt Python models only on Databricks, so on the spark target the three Python
models are disabled and this step makes the same tables, with the same code
(cdp/predictive/tables.py), through the Spark session: it reads the per-customer feature tables
that SQL built (int_predictive__churn_training, int_predictive__churn_scoring,
int_predictive__purchase_summary) into pandas, trains and scores, and writes customer_churn,
customer_clv and customer_clusters to the `predictive` schema, where customer_traits reads them
(the `predictive` source). It runs between the two halves of the build (see
cdp.pipeline.build).

The frames are one row per purchasing customer with a handful of numbers, already aggregated in
the warehouse, so they fit in the driver's memory well past millions of customers; the raw
orders and events never leave Spark.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SCHEMA = "predictive"


def _read(spark: Any, table: str) -> pd.DataFrame:
    """A table as pandas, typed like DuckDB's .df(): decimals become floats (Spark hands them
    over as Python Decimal objects, which the models would not see as numbers)."""
    frame = spark.table(f"{SCHEMA}.{table}")
    decimals = [
        field.name for field in frame.schema.fields if field.dataType.typeName() == "decimal"
    ]
    result = frame.toPandas()
    for name in decimals:
        result[name] = pd.to_numeric(result[name], errors="coerce").astype("float64")
    return result


def _table_exists(spark: Any, table: str) -> bool:
    return bool(spark.catalog.tableExists(f"{SCHEMA}.{table}"))


def _spark_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(series.dtype):
        return "double"
    return "string"


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """Plain Python values (None for missing), in column order."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series.dtype):
            values = [None if pd.isna(v) else bool(v) for v in series]
        elif pd.api.types.is_integer_dtype(series.dtype):
            values = [None if pd.isna(v) else int(v) for v in series]
        elif pd.api.types.is_float_dtype(series.dtype):
            values = [None if pd.isna(v) else float(v) for v in series]
        else:
            values = [
                None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                for v in series
            ]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


def write_table(spark: Any, frame: pd.DataFrame, table: str) -> int:
    """Replace `predictive.<table>` with `frame`; column types follow the frame's dtypes."""
    schema = ", ".join(f"`{name}` {_spark_type(frame[name])}" for name in frame.columns)
    data = spark.createDataFrame(_rows(frame), schema=schema)
    spark.sql(f"create schema if not exists {SCHEMA}")
    data.write.mode("overwrite").format("parquet").saveAsTable(f"{SCHEMA}.{table}")
    return len(frame)


def run_predictive_models(spark: Any) -> dict[str, int]:
    """Train, score and write the three predictive tables; rows written per table."""
    from cdp.predictive.tables import (
        churn_table,
        clusters_table,
        clv_table,
        previous_centroids_query,
    )

    training = _read(spark, "int_predictive__churn_training")
    scoring = _read(spark, "int_predictive__churn_scoring")
    summary = _read(spark, "int_predictive__purchase_summary")
    previous = None
    if _table_exists(spark, "customer_clusters"):
        previous = spark.sql(previous_centroids_query(f"{SCHEMA}.customer_clusters")).toPandas()
    tables = {
        "customer_churn": churn_table(training, scoring),
        "customer_clv": clv_table(summary),
        "customer_clusters": clusters_table(scoring, previous),
    }
    return {name: write_table(spark, frame, name) for name, frame in tables.items()}
