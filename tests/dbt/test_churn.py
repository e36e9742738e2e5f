"""Churn risk: learned from synthetic history with a known signal, and the recency fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cdp.predictive.churn import (
    GRADIENT_BOOSTING,
    RECENCY_HEURISTIC,
    ChurnModel,
    score_churn,
    train_churn_model,
    validation_mask,
)

CUSTOMERS = 5_000
LABEL = "purchased_in_window"


@pytest.fixture(scope="module", autouse=True)
def single_threaded() -> Iterator[None]:
    """Run these small fits on one thread.

    They gain nothing from threads, and OpenMP's waiting threads make them many times slower
    whenever another process or pytest worker competes for the same cores.
    """
    with threadpool_limits(limits=1):
        yield


def customer_frame(n: int, seed: int) -> pd.DataFrame:
    """Customers whose chance of buying in the window falls with recency and rises with orders.

    The noise keeps the best achievable AUC near 0.8, so the checks below test learning, not
    a trivially separable label.
    """
    rng = np.random.default_rng(seed)
    orders = 1 + rng.poisson(3, n)
    tenure = rng.uniform(60, 1_000, n)
    recency = np.minimum(tenure, rng.exponential(150, n))
    revenue = orders * rng.lognormal(4, 0.5, n)
    logit = 2.5 + 0.8 * np.log(orders) - 1.8 * np.log1p(recency / 30) + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i:06d}" for i in range(n)],
            "orders_count": orders,
            "days_since_first_order": tenure,
            "days_since_last_order": recency,
            "lifetime_revenue": revenue,
            "avg_order_value": revenue / orders,
            "email_opens_30d": rng.poisson(2, n),
            "sessions_30d": rng.poisson(1, n),
            "tickets_90d": rng.poisson(0.2, n),
            LABEL: rng.random(n) < 1 / (1 + np.exp(-logit)),
        }
    )


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return customer_frame(CUSTOMERS, seed=1)


@pytest.fixture(scope="module")
def model(training: pd.DataFrame) -> ChurnModel:
    return train_churn_model(training)


def test_the_model_learns_recency_and_frequency_well_above_chance(model: ChurnModel) -> None:
    assert model.method == GRADIENT_BOOSTING
    assert model.auc is not None and model.auc > 0.75


def test_shuffled_labels_score_near_chance_and_below_the_real_model(
    training: pd.DataFrame, model: ChurnModel
) -> None:
    shuffled = training.assign(
        **{LABEL: np.random.default_rng(2).permutation(training[LABEL].to_numpy())}
    )
    baseline = train_churn_model(shuffled)
    assert baseline.auc is not None and abs(baseline.auc - 0.5) < 0.06
    assert model.auc is not None and model.auc > baseline.auc + 0.2


def test_metrics_report_the_split_the_positive_rate_and_the_features(
    training: pd.DataFrame, model: ChurnModel
) -> None:
    metrics = json.loads(json.dumps(model.metrics()))
    assert metrics["n_train"] + metrics["n_validation"] == CUSTOMERS
    assert 0.2 < metrics["n_validation"] / CUSTOMERS < 0.3
    assert metrics["positive_rate"] == pytest.approx(training[LABEL].mean())
    assert metrics["features"] == [c for c in training.columns if c not in ("customer_id", LABEL)]


def test_the_hold_out_is_the_same_customers_whatever_the_row_order(
    training: pd.DataFrame,
) -> None:
    shuffled = training.sample(frac=1.0, random_state=3)
    before = set(training["customer_id"][validation_mask(training["customer_id"], 0.25)])
    after = set(shuffled["customer_id"][validation_mask(shuffled["customer_id"], 0.25)])
    assert before == after


def test_reordered_rows_give_the_same_model(training: pd.DataFrame, model: ChurnModel) -> None:
    reordered = train_churn_model(training.sample(frac=1.0, random_state=4))
    assert reordered.metrics() == model.metrics()
    pd.testing.assert_series_equal(score_churn(reordered, training), score_churn(model, training))


def test_existing_customers_keep_their_side_of_the_split_when_new_ones_arrive(
    training: pd.DataFrame,
) -> None:
    grown = pd.concat([training, customer_frame(1_000, seed=9)], ignore_index=True)
    before = validation_mask(training["customer_id"], 0.25)
    after = validation_mask(grown["customer_id"], 0.25)[: len(training)]
    np.testing.assert_array_equal(before, after)


def test_scores_are_probabilities_indexed_like_the_input(model: ChurnModel) -> None:
    scoring = customer_frame(2_000, seed=5).drop(columns=LABEL)
    scoring.index = pd.RangeIndex(1_000, 3_000)
    risk = score_churn(model, scoring)
    assert risk.index.equals(scoring.index)
    assert risk.between(0.0, 1.0).all()


def test_long_inactive_customers_score_higher_than_recent_ones(model: ChurnModel) -> None:
    scoring = customer_frame(2_000, seed=5).drop(columns=LABEL)
    risk = score_churn(model, scoring)
    recency = scoring["days_since_last_order"]
    assert risk[recency > 300].mean() > risk[recency < 30].mean() + 0.3


def test_missing_feature_values_are_tolerated_in_training_and_scoring() -> None:
    frame = customer_frame(2_000, seed=6)
    rng = np.random.default_rng(6)
    for column in ("days_since_last_order", "lifetime_revenue", "email_opens_30d"):
        frame[column] = frame[column].astype("Float64").mask(rng.random(len(frame)) < 0.1)
    model = train_churn_model(frame)
    risk = score_churn(model, frame.drop(columns=LABEL))
    assert model.method == GRADIENT_BOOSTING
    assert risk.notna().all() and risk.between(0.0, 1.0).all()


def test_scoring_without_a_model_feature_names_the_missing_column(model: ChurnModel) -> None:
    scoring = customer_frame(10, seed=5).drop(columns=[LABEL, "sessions_30d"])
    with pytest.raises(ValueError, match="sessions_30d"):
        score_churn(model, scoring)


def test_too_few_customers_fall_back_to_the_recency_heuristic() -> None:
    tiny = customer_frame(100, seed=7)
    model = train_churn_model(tiny)
    assert model.method == RECENCY_HEURISTIC
    assert model.auc is None and model.metrics()["auc"] is None
    assert "fewer than 200" in model.reason
    assert score_churn(model, tiny).between(0.0, 1.0).all()


def test_a_single_class_falls_back_to_the_recency_heuristic() -> None:
    nobody_returned = customer_frame(1_000, seed=7).assign(**{LABEL: False})
    model = train_churn_model(nobody_returned)
    assert model.method == RECENCY_HEURISTIC
    assert model.positive_rate == 0.0


def test_a_rare_class_falls_back_to_the_recency_heuristic() -> None:
    frame = customer_frame(1_000, seed=7)
    frame[LABEL] = np.arange(len(frame)) < 10
    assert train_churn_model(frame).method == RECENCY_HEURISTIC


def test_the_heuristic_rises_with_inactivity_relative_to_the_usual_gap() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "orders_count": [5, 5, 5, 1, 1],
            "days_since_first_order": [400, 500, 800, 10, 200],
            "days_since_last_order": [0, 100, 400, 10, 200],
            LABEL: [True, False, False, True, False],
        }
    )
    model = train_churn_model(customers)
    risk = score_churn(model, customers.drop(columns=LABEL))
    # a, b and c buy every 100 days: risk 0 now, 1 - e^-1 after one gap, 1 - e^-4 after four.
    assert risk.iloc[:3].tolist() == pytest.approx([0.0, 1 - np.exp(-1), 1 - np.exp(-4)])
    # One-time buyers are measured against the repeat customers' median gap (100 days).
    assert risk.iloc[3:].tolist() == pytest.approx([1 - np.exp(-0.1), 1 - np.exp(-2)])


def test_the_heuristic_treats_unknown_recency_as_lapsed() -> None:
    customers = customer_frame(50, seed=8)
    customers["days_since_last_order"] = customers["days_since_last_order"].astype("Float64")
    customers.loc[0, "days_since_last_order"] = pd.NA
    model = train_churn_model(customers)
    risk = score_churn(model, customers)
    assert model.method == RECENCY_HEURISTIC
    assert risk.iloc[0] == 1.0
    assert risk.between(0.0, 1.0).all()


def test_the_heuristic_needs_days_since_last_order() -> None:
    frame = customer_frame(50, seed=8).drop(columns="days_since_last_order")
    with pytest.raises(ValueError, match="days_since_last_order"):
        train_churn_model(frame)
