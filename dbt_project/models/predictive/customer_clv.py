"""Predicted customer lifetime value over the next 12 months.

A dbt Python model: dbt-duckdb runs it in the same process as the rest of the build, so the
prediction is part of `dbt build`, shows in dbt docs lineage and is tested like any model. It
reads one summary row per customer (computed in SQL, not transactions), fits BG/NBD for
purchase frequency and Gamma-Gamma for spend by maximum likelihood, and writes the predictions
back. See cdp/predictive/clv.py for the models and the documented fallback, and
cdp/predictive/tables.py for the table (shared with `cdp predict` on Spark).
"""


def model(dbt, session):
    from cdp.predictive.tables import clv_table

    dbt.config(materialized="table")
    return clv_table(dbt.ref("int_predictive__purchase_summary").df())
