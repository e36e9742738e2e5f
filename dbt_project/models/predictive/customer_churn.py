"""Churn risk: the probability that a customer does not purchase in the next churn window.

A dbt Python model (see customer_clv.py for why). The model is trained on the customers' own
history with a time split: features as of as_of - churn_window_days, labelled by whether the
customer purchased in the window after it (int_predictive__churn_training); it then scores
features as of as_of (int_predictive__churn_scoring). The hold-out AUC and the method are kept
on every row, so the run's metadata (and anyone querying the table) can see how good the model
was. With too little history the documented recency heuristic is used instead
(cdp/predictive/churn.py). The table is built by cdp/predictive/tables.py, which `cdp predict`
also uses on Spark.
"""


def model(dbt, session):
    from cdp.predictive.tables import churn_table

    dbt.config(materialized="table")
    training = dbt.ref("int_predictive__churn_training").df()
    scoring = dbt.ref("int_predictive__churn_scoring").df()
    return churn_table(training, scoring)
