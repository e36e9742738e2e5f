"""Predicted customer lifetime value over the next 12 months.

A dbt Python model: dbt-duckdb runs it in the same process as the rest of the build, so the
prediction is part of `dbt build`, shows in dbt docs lineage and is tested like any model. It
reads one summary row per customer (computed in SQL, not transactions), fits BG/NBD for
purchase frequency and Gamma-Gamma for spend by maximum likelihood, and writes the predictions
back. See cdp/predictive/clv.py for the models and the documented fallback.
"""

import numpy as np
import pandas as pd

WEEKS_PER_YEAR = 52.1775
# A small L2 penalty on the BG/NBD parameters (as lifetimes' penalizer_coef). When few customers
# have dropped out, the dropout parameters a and b are barely identified and an unpenalized fit
# runs off to extreme values whose predictions overflow; 0.001 keeps the fit well-conditioned
# while barely moving it on data where dropout is visible.
PENALIZER = 0.001


def model(dbt, session):
    from cdp.predictive import load_models

    fit_and_predict = load_models()["clv"].fit_and_predict
    dbt.config(materialized="table")
    summary = dbt.ref("int_predictive__purchase_summary").df()
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
