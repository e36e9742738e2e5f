"""k-means segments: the right k, readable unique names, and ids that survive re-runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cdp.predictive.clustering import (
    KMEANS,
    SINGLE_CLUSTER,
    SINGLE_CLUSTER_NAME,
    ClusterResult,
    fit_clusters,
)

PER_GROUP = 400


@pytest.fixture(scope="module", autouse=True)
def single_threaded() -> Iterator[None]:
    """Run these small fits on one thread.

    They gain nothing from threads, and OpenMP's waiting threads make them many times slower
    whenever another process or pytest worker competes for the same cores.
    """
    with threadpool_limits(limits=1):
        yield


GROUPS: dict[str, dict[str, float]] = {
    "champions": {
        "days_since_last_order": 10,
        "orders_count": 25,
        "lifetime_revenue": 3_000,
        "email_opens_30d": 8,
    },
    "newcomers": {
        "days_since_last_order": 12,
        "orders_count": 1,
        "lifetime_revenue": 40,
        "email_opens_30d": 3,
    },
    "gone_after_one_order": {
        "days_since_last_order": 500,
        "orders_count": 1,
        "lifetime_revenue": 35,
        "email_opens_30d": 0,
    },
    "lapsed_regulars": {
        "days_since_last_order": 300,
        "orders_count": 10,
        "lifetime_revenue": 800,
        "email_opens_30d": 1,
    },
}

WHALES = {
    "days_since_last_order": 60,
    "orders_count": 4,
    "lifetime_revenue": 20_000,
    "email_opens_30d": 20,
}


def blobs(groups: dict[str, dict[str, float]], seed: int, spread: float = 0.15) -> pd.DataFrame:
    """PER_GROUP customers around each group's profile, with multiplicative noise.

    A `group` column holds the truth; drop it before clustering.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for group, profile in groups.items():
        columns = {f: v * rng.lognormal(0.0, spread, PER_GROUP) for f, v in profile.items()}
        columns["orders_count"] = np.maximum(1, np.round(columns["orders_count"]))
        frame = pd.DataFrame(columns)
        frame.insert(0, "customer_id", [f"{group}-{i}" for i in range(PER_GROUP)])
        frames.append(frame.assign(group=group))
    return pd.concat(frames, ignore_index=True)


def cluster(frame: pd.DataFrame, **kwargs: Any) -> ClusterResult:
    """fit_clusters on the frame without its truth column."""
    return fit_clusters(frame.drop(columns="group"), **kwargs)


def cluster_of_each_group(frame: pd.DataFrame, result: ClusterResult) -> pd.DataFrame:
    """The single (cluster_id, cluster_name) of each true group; fails if a group is split."""
    joined = frame[["customer_id", "group"]].merge(result.assignments, on="customer_id")
    per_group = joined.groupby("group")[["cluster_id", "cluster_name"]].nunique()
    assert (per_group == 1).all().all(), f"a group was split across clusters:\n{per_group}"
    return joined.groupby("group")[["cluster_id", "cluster_name"]].first()


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return blobs(GROUPS, seed=1)


@pytest.fixture(scope="module")
def first_run(customers: pd.DataFrame) -> ClusterResult:
    return cluster(customers)


def test_four_well_separated_groups_give_four_clusters(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    assert first_run.method == KMEANS
    assert first_run.k == 4
    assert set(first_run.silhouette_by_k) == set(range(3, 9))
    assert max(first_run.silhouette_by_k, key=first_run.silhouette_by_k.__getitem__) == 4
    assert cluster_of_each_group(customers, first_run)["cluster_id"].nunique() == 4


def test_names_are_unique_non_empty_and_describe_the_groups(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    names = first_run.centroids["cluster_name"]
    assert names.is_unique and (names.str.len() > 0).all()
    by_group = cluster_of_each_group(customers, first_run)["cluster_name"]
    assert "frequent" in by_group["champions"] or "high revenue" in by_group["champions"]
    assert "recent" in by_group["newcomers"] or "one-time" in by_group["newcomers"]
    assert "lapsed" in by_group["gone_after_one_order"]


def test_centroids_are_in_original_units_with_sizes(first_run: ClusterResult) -> None:
    centroids = first_run.centroids
    assert list(centroids.columns) == [
        "cluster_id",
        "cluster_name",
        *GROUPS["champions"],
        "size",
    ]
    assert centroids["size"].sum() == len(GROUPS) * PER_GROUP
    assert centroids["lifetime_revenue"].max() == pytest.approx(3_000, rel=0.1)
    assert centroids["days_since_last_order"].max() == pytest.approx(500, rel=0.1)


def test_every_row_is_assigned_in_input_order(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    assignments = first_run.assignments
    assert list(assignments.columns) == ["customer_id", "cluster_id", "cluster_name"]
    assert assignments.index.equals(customers.index)
    assert assignments["customer_id"].tolist() == customers["customer_id"].tolist()
    assert set(assignments["cluster_id"]) == set(first_run.centroids["cluster_id"])


def test_the_same_input_gives_identical_ids_and_names(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    again = cluster(customers)
    pd.testing.assert_frame_equal(again.assignments, first_run.assignments)
    pd.testing.assert_frame_equal(again.centroids, first_run.centroids)


def test_shuffled_rows_give_each_customer_the_same_cluster(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    shuffled = cluster(customers.sample(frac=1.0, random_state=5))
    merged = first_run.assignments.merge(shuffled.assignments, on="customer_id")
    assert len(merged) == len(customers)
    assert (merged["cluster_id_x"] == merged["cluster_id_y"]).all()
    assert (merged["cluster_name_x"] == merged["cluster_name_y"]).all()


def test_a_rerun_on_perturbed_data_keeps_each_groups_id_and_name(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    perturbed = blobs(GROUPS, seed=2, spread=0.2)
    rerun = cluster(perturbed, previous_centroids=first_run.centroids)
    pd.testing.assert_frame_equal(
        cluster_of_each_group(perturbed, rerun), cluster_of_each_group(customers, first_run)
    )


def test_a_new_group_gets_a_new_id_and_the_old_groups_keep_theirs(
    customers: pd.DataFrame, first_run: ClusterResult
) -> None:
    grown = blobs({**GROUPS, "whales": WHALES}, seed=3)
    rerun = cluster(grown, previous_centroids=first_run.centroids)
    before = cluster_of_each_group(customers, first_run)
    after = cluster_of_each_group(grown, rerun)
    assert rerun.k == 5
    pd.testing.assert_frame_equal(after.drop(index="whales"), before)
    assert after.loc["whales", "cluster_id"] == first_run.centroids["cluster_id"].max() + 1
    assert after.loc["whales", "cluster_name"] not in set(before["cluster_name"])


def test_fitting_on_a_sample_still_assigns_every_row(customers: pd.DataFrame) -> None:
    sampled = cluster(customers, sample_size=600)
    assert sampled.k == 4
    assert sampled.assignments["cluster_id"].notna().all()
    assert sampled.centroids["size"].sum() == len(customers)
    assert cluster_of_each_group(customers, sampled)["cluster_id"].nunique() == 4


def test_missing_values_are_imputed(customers: pd.DataFrame) -> None:
    holey = customers.copy()
    holey["email_opens_30d"] = holey["email_opens_30d"].mask(holey.index % 10 == 0)
    result = cluster(holey)
    assert result.method == KMEANS
    assert result.assignments["cluster_id"].notna().all()


def test_metrics_are_plain_json(first_run: ClusterResult) -> None:
    metrics = json.loads(json.dumps(first_run.metrics()))
    assert metrics["k"] == 4
    assert sum(metrics["cluster_sizes"].values()) == len(GROUPS) * PER_GROUP


def test_tiny_data_falls_back_to_one_cluster_of_all_customers() -> None:
    tiny = blobs(GROUPS, seed=4).groupby("group").head(5)
    result = cluster(tiny)
    assert result.method == SINGLE_CLUSTER and result.k == 1
    assert result.silhouette_by_k == {}
    assert (result.assignments["cluster_name"] == SINGLE_CLUSTER_NAME).all()
    assert result.centroids["size"].tolist() == [len(tiny)]


def test_too_few_distinct_rows_fall_back_to_one_cluster() -> None:
    two_kinds = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(200)],
            "orders_count": [1, 5] * 100,
            "lifetime_revenue": [20.0, 400.0] * 100,
        }
    )
    result = fit_clusters(two_kinds)
    assert result.method == SINGLE_CLUSTER
    assert result.assignments["cluster_id"].nunique() == 1


def test_the_fallback_does_not_take_over_a_previous_segments_id(
    first_run: ClusterResult,
) -> None:
    tiny = blobs(GROUPS, seed=4).head(10)
    result = cluster(tiny, previous_centroids=first_run.centroids)
    assert result.centroids["cluster_id"].tolist() == [first_run.centroids["cluster_id"].max() + 1]
