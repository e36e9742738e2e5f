"""Value clusters: k-means over each purchasing customer's behaviour, k chosen by silhouette.

A dbt Python model (see customer_clv.py for why). Features are the churn scoring features as
of as_of (order recency, frequency, value; email, web and support activity). Each cluster is
named from its centroid ("high revenue, frequent", ...). Names and ids stay stable across runs:
the previous run's centroids are read back from this model's own table and matched to the new
ones (cdp/predictive/clustering.py), so a segment or a sync keyed on a cluster keeps meaning
the same people. Every row carries its cluster's centroid, which is how the next run finds them.
"""

import pandas as pd

FEATURES = [
    "orders_count",
    "lifetime_revenue",
    "avg_order_value",
    "days_since_last_order",
    "email_opens_90d",
    "page_views_30d",
    "tickets_90d",
]


def previous_centroids(dbt, session) -> pd.DataFrame | None:
    """The centroids the last run stored, or None on a first run."""
    columns = ", ".join(f"centroid_{name} as {name}" for name in FEATURES)
    try:
        return session.sql(
            f"select distinct cluster_id, cluster_name, {columns} from {dbt.this}"
        ).df()
    except Exception:  # no previous table: a first run or a changed feature list
        return None


def model(dbt, session):
    from cdp.predictive import load_models

    clustering = load_models()["clustering"]
    dbt.config(materialized="table")
    features = dbt.ref("int_predictive__churn_scoring").df()[["customer_id", *FEATURES]]
    result = clustering.fit_clusters(features, previous_centroids=previous_centroids(dbt, session))
    centroids = result.centroids.rename(columns={name: f"centroid_{name}" for name in FEATURES})
    assigned = result.assignments.merge(
        centroids.drop(columns=["cluster_name", "size"]), on="cluster_id", how="left"
    )
    assigned["cluster_k"] = result.k
    assigned["cluster_method"] = result.method
    assigned["cluster_silhouette"] = result.silhouette_by_k.get(result.k)
    return assigned
