"""Value clusters: k-means over each purchasing customer's behaviour, k chosen by silhouette.

A dbt Python model (see customer_clv.py for why). Features are the churn scoring features as
of as_of (order recency, frequency, value; email, web and support activity). Each cluster is
named from its centroid ("high revenue, frequent", ...). Names and ids stay stable across runs:
the previous run's centroids are read back from this model's own table and matched to the new
ones (cdp/predictive/clustering.py), so a segment or a sync keyed on a cluster keeps meaning
the same people. Every row carries its cluster's centroid, which is how the next run finds them.
The table is built by cdp/predictive/tables.py, which `cdp predict` also uses on Spark.
"""

import pandas as pd


def previous_centroids(dbt, session) -> pd.DataFrame | None:
    """The centroids the last run stored, or None on a first run."""
    from cdp.predictive.tables import previous_centroids_query

    try:
        return session.sql(previous_centroids_query(str(dbt.this))).df()
    except Exception:  # no previous table: a first run or a changed feature list
        return None


def model(dbt, session):
    from cdp.predictive.tables import clusters_table

    dbt.config(materialized="table")
    scoring = dbt.ref("int_predictive__churn_scoring").df()
    return clusters_table(scoring, previous_centroids(dbt, session))
