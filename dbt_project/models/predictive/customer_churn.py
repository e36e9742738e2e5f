"""Churn risk: the probability that a customer does not purchase in the next churn window.

A dbt Python model (see customer_clv.py for why). The model is trained on the customers' own
history with a time split: features as of as_of - churn_window_days, labelled by whether the
customer purchased in the window after it (int_predictive__churn_training); it then scores
features as of as_of (int_predictive__churn_scoring). The hold-out AUC and the method are kept
on every row, so the run's metadata (and anyone querying the table) can see how good the model
was. With too little history the documented recency heuristic is used instead
(cdp/predictive/churn.py).
"""

import pandas as pd


def model(dbt, session):
    from cdp.predictive import load_models

    churn = load_models()["churn"]
    dbt.config(materialized="table")
    training = dbt.ref("int_predictive__churn_training").df()
    scoring = dbt.ref("int_predictive__churn_scoring").df()
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
