"""The predictive result tables, built from the per-customer frames the warehouse computed.

One function per table, shared by the two ways the tables are made: the dbt Python models on
DuckDB (dbt_project/models/predictive/*.py) and `cdp predict` on Spark (warehouse.py), so both
engines train and score with exactly the same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp.predictive import load_models

WEEKS_PER_YEAR = 52.1775
# A small L2 penalty on the BG/NBD parameters (as lifetimes' penalizer_coef). When few customers
# have dropped out, the dropout parameters a and b are barely identified and an unpenalized fit
# runs off to extreme values whose predictions overflow; 0.001 keeps the fit well-conditioned
# while barely moving it on data where dropout is visible.
PENALIZER = 0.001

CLUSTER_FEATURES = [
    "orders_count",
    "lifetime_revenue",
    "avg_order_value",
    "days_since_last_order",
    "email_opens_90d",
    "page_views_30d",
    "tickets_90d",
]


def by_customer(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in customer_id order: a warehouse returns rows in no particular order, and the
    fits below (subsampling, k-means starts) should not depend on it, so every engine and
    every run trains on the same sequence."""
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def churn_table(training: pd.DataFrame, scoring: pd.DataFrame) -> pd.DataFrame:
    """customer_churn: churn risk for every scored customer, with the model's metrics."""
    churn = load_models()["churn"]
    training, scoring = by_customer(training), by_customer(scoring)
    churn_model = churn.train_churn_model(training)
    metrics = churn_model.metrics()
    return pd.DataFrame(
        {
            "customer_id": scoring["customer_id"],
            "churn_risk": churn.score_churn(churn_model, scoring).to_numpy(),
            "churn_method": metrics["method"],
            "churn_model_auc": metrics["auc"],
            "churn_model_training_rows": metrics["n_train"],
            "churn_model_validation_rows": metrics["n_validation"],
        }
    )


def clv_table(summary: pd.DataFrame) -> pd.DataFrame:
    """customer_clv: 12-month expected purchases and value from one summary row per customer."""
    fit_and_predict = load_models()["clv"].fit_and_predict
    summary = by_customer(summary)
    frequency = summary["frequency"].to_numpy(dtype=np.float64)
    monetary = summary["monetary_value"].astype("float64").fillna(0.0).to_numpy()
    result = fit_and_predict(
        frequency,
        np.where(frequency > 0, summary["recency_weeks"].to_numpy(dtype=np.float64), 0.0),
        summary["age_weeks"].to_numpy(dtype=np.float64),
        monetary,
        horizon=WEEKS_PER_YEAR,
        penalizer=PENALIZER,
    )
    parameters = {}
    if result.bgnbd is not None and result.gamma_gamma is not None:
        parameters = {
            "r": result.bgnbd.r,
            "alpha": result.bgnbd.alpha,
            "a": result.bgnbd.a,
            "b": result.bgnbd.b,
            "p": result.gamma_gamma.p,
            "q": result.gamma_gamma.q,
            "v": result.gamma_gamma.v,
        }
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "expected_purchases_12m": result.expected_purchases,
            "predicted_clv": result.expected_value,
            "clv_method": result.method,
            "clv_fallback_reason": result.fallback_reason,
            "clv_parameters": str(parameters) if parameters else None,
        }
    )


def clusters_table(scoring: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """customer_clusters: each purchasing customer's value cluster, with its centroid.

    `previous` holds the last run's (cluster_id, cluster_name, <feature>...) centroids, or None
    on a first run; matching to them keeps ids and names stable across runs.
    """
    clustering = load_models()["clustering"]
    features = by_customer(scoring)[["customer_id", *CLUSTER_FEATURES]]
    result = clustering.fit_clusters(features, previous_centroids=previous)
    centroids = result.centroids.rename(
        columns={name: f"centroid_{name}" for name in CLUSTER_FEATURES}
    )
    assigned = result.assignments.merge(
        centroids.drop(columns=["cluster_name", "size"]), on="cluster_id", how="left"
    )
    assigned["cluster_k"] = result.k
    assigned["cluster_method"] = result.method
    assigned["cluster_silhouette"] = result.silhouette_by_k.get(result.k)
    return assigned


def previous_centroids_query(relation: str) -> str:
    """SQL for the centroids a previous run stored in `relation` (customer_clusters)."""
    columns = ", ".join(f"centroid_{name} as {name}" for name in CLUSTER_FEATURES)
    return f"select distinct cluster_id, cluster_name, {columns} from {relation}"
