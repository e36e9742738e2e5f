"""Customer segments from k-means, with readable names and ids that survive re-runs.

Callers are dbt Python models passing one row per customer (up to about a million) with numeric
aggregates such as days_since_last_order, orders_count or lifetime_revenue. `fit_clusters`
chooses k by silhouette, names each cluster after what sets it apart, and, given the previous
run's centroids, keeps the previous id and name of every cluster that is still recognisably the
same, so downstream audiences and history tables do not churn with each rebuild.

Everything is deterministic: the fitting sample is chosen by hashing ids, not by row position,
so the same customers give the same clusters, ids and names on every run and in any row order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from cdp.predictive.frames import feature_columns

KMEANS = "kmeans"
SINGLE_CLUSTER = "single_cluster"
SINGLE_CLUSTER_NAME = "all customers"

MIN_ROWS = 50
"""Below this many customers a segmentation says nothing; everyone gets one cluster."""

PREDICT_BATCH_ROWS = 200_000
"""Rows converted, transformed and assigned at a time, to bound temporary copies."""

SILHOUETTE_MEMORY_MB = 64
"""Working memory for the silhouette's pairwise distances."""

NAME_MIN_DEVIATION = 0.5
"""A feature names a cluster only if its centroid is at least this many standard deviations
(on the log scale) from the overall mean."""

NAME_TERMS = 2
"""How many of the most deviating features a name lists before disambiguation adds more."""

TYPICAL_NAME = "typical customers"
"""Name of a cluster no feature sets apart."""

_VOCABULARY: tuple[tuple[str, str, str], ...] = (
    # (pattern on the column name, word when above the mean, word when below); first match wins.
    (r"days_since_last|recency", "lapsed", "recent"),
    (r"days_since_first|tenure", "long-standing", "new"),
    (r"avg_order_value|aov|basket", "big baskets", "small baskets"),
    (r"revenue|spend|monetary|value", "high revenue", "low value"),
    (r"orders?_count|frequency|purchases", "frequent", "infrequent"),
    (r"email|open|click", "email-engaged", "email-quiet"),
    (r"session|visit|pageview", "active on site", "quiet on site"),
    (r"ticket|complaint", "many tickets", "few tickets"),
)

_FREQUENCY_PATTERN = r"orders?_count|frequency|purchases"


@dataclass(frozen=True)
class ClusterResult:
    """Segments for every input row and what they look like.

    `assignments` has one row per input row, in input order and with the input's index:
    id_column, cluster_id, cluster_name. `centroids` has one row per cluster: cluster_id,
    cluster_name, each feature in original units, size (rows assigned); pass it back as
    `previous_centroids` on the next run to keep ids and names. `silhouette_by_k` holds the
    score of every k tried (empty for the single-cluster fallback). `method` is "kmeans" or
    "single_cluster".
    """

    assignments: pd.DataFrame
    centroids: pd.DataFrame
    k: int
    silhouette_by_k: dict[int, float]
    method: str

    def metrics(self) -> dict[str, Any]:
        """Plain-JSON summary for run metadata."""
        return {
            "method": self.method,
            "k": int(self.k),
            "silhouette_by_k": {str(k): float(v) for k, v in self.silhouette_by_k.items()},
            "rows": len(self.assignments),
            "cluster_sizes": {
                str(name): int(size)
                for name, size in zip(
                    self.centroids["cluster_name"], self.centroids["size"], strict=True
                )
            },
        }


@dataclass(frozen=True)
class _FeatureSpace:
    """Maps features between original units and the space k-means works in.

    Missing values become the column median. Every column then goes through a signed log1p,
    sign(x)·log(1 + |x|), and is standardised. The log is applied to every column, not only to
    columns that look skewed, so the space does not change with the data and centroids from
    earlier runs can be mapped into it: customer aggregates (revenue, order counts, days) are
    heavy-tailed, and on the raw scale k-means would spend its clusters on the few largest
    spenders. On small-valued columns such as rates the log is nearly the identity.
    """

    medians: np.ndarray
    scaler: StandardScaler

    @classmethod
    def fit(cls, sample: np.ndarray) -> _FeatureSpace:
        medians = _column_medians(sample)
        scaler = StandardScaler().fit(_signed_log1p(_impute(sample.astype(np.float64), medians)))
        return cls(medians=medians, scaler=scaler)

    def scaled(self, raw: np.ndarray) -> np.ndarray:
        """Original units → k-means space, in float64.

        float64 keeps centroids exact when mapped back to original units; inputs are only ever
        the fitting sample or one batch, so the wider type costs little memory.
        """
        transformed = _signed_log1p(_impute(raw.astype(np.float64), self.medians))
        return self.scaler.transform(transformed)

    def scaled_columns(self, raw: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Like `scaled`, for a subset of the feature columns given by position."""
        transformed = _signed_log1p(_impute(raw, self.medians[columns]))
        return (transformed - self.scaler.mean_[columns]) / self.scaler.scale_[columns]

    def original(self, scaled: np.ndarray) -> np.ndarray:
        """k-means space → original units (the exact inverse of `scaled` for imputed rows)."""
        return _signed_expm1(self.scaler.inverse_transform(scaled))


def fit_clusters(
    features: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    k_range: range = range(3, 9),
    seed: int = 0,
    sample_size: int = 50_000,
    previous_centroids: pd.DataFrame | None = None,
    silhouette_sample_size: int = 10_000,
    match_threshold: float = 0.5,
) -> ClusterResult:
    """Cluster customers with k-means, choosing k in `k_range` by silhouette score.

    Features are every numeric or boolean column other than `id_column`, mapped as described in
    `_FeatureSpace`. Scaling, the choice of k and the fit use at most `sample_size` rows, chosen
    by a seeded hash of the id so the sample is the same whatever the row order; for each k,
    KMeans(n_init=10, random_state=seed) is fitted and scored with silhouette on at most
    `silhouette_sample_size` of those rows (silhouette is quadratic in rows). Ties go to the
    smaller k. Every row is then assigned to its nearest centroid, a batch at a time.

    Centroids are reported in original units as the inverse transform of the k-means centre:
    the cluster's typical customer on the log scale, less pulled by outliers than a plain mean.

    With `previous_centroids` (cluster_id, cluster_name, one column per feature in original
    units; extra columns such as size are ignored), new and previous clusters are paired by the
    Hungarian algorithm on distance in the current scaled space, measured as root-mean-square
    difference per shared feature, in standard deviations. A pair closer than `match_threshold`
    keeps the previous cluster_id and cluster_name; other clusters get new names and new ids
    counting up from the largest previous id, so a retired id is never reused.

    With fewer than 50 rows, or fewer distinct rows in the sample than min(k_range), every row
    gets one cluster named "all customers" (method "single_cluster").
    """
    _check_arguments(features, id_column, k_range, sample_size)
    names = feature_columns(features, exclude=(id_column,))
    if not names:
        raise ValueError("the frame has no numeric feature columns to cluster on")
    positions = _sample_positions(features[id_column], sample_size, seed)
    sample = _matrix(features, names, positions)
    distinct = _distinct_rows(sample)
    if len(features) < MIN_ROWS or distinct < min(k_range):
        return _single_cluster(features, id_column, names, sample, previous_centroids)

    space = _FeatureSpace.fit(sample)
    scaled_sample = space.scaled(sample)
    candidates = [k for k in k_range if k <= distinct]
    model, silhouettes = _choose_kmeans(scaled_sample, candidates, seed, silhouette_sample_size)
    labels = _assign(model, space, features, names)
    sizes = np.bincount(labels, minlength=model.n_clusters)
    centers = model.cluster_centers_.astype(np.float64)
    ids, cluster_names = _identify(
        centers, space, names, sizes, previous_centroids, match_threshold
    )
    return ClusterResult(
        assignments=_assignments(features, id_column, labels, ids, cluster_names),
        centroids=_centroid_table(ids, cluster_names, names, space.original(centers), sizes),
        k=model.n_clusters,
        silhouette_by_k=silhouettes,
        method=KMEANS,
    )


def _check_arguments(
    features: pd.DataFrame, id_column: str, k_range: range, sample_size: int
) -> None:
    if id_column not in features:
        raise ValueError(f"missing id column {id_column!r}")
    if len(k_range) == 0 or min(k_range) < 2:
        raise ValueError(f"k_range must be non-empty with every k >= 2, got {k_range}")
    if sample_size < max(k_range):
        raise ValueError(f"sample_size {sample_size} is smaller than the largest k")


def _sample_positions(ids: pd.Series, size: int, seed: int) -> np.ndarray:
    """Positions of the `size` rows with the smallest seeded id hash, in hash order.

    Hash order rather than row order is what makes the fit independent of how rows arrive.
    """
    if ids.isna().any():
        raise ValueError(f"{ids.name!r} has null ids; every row needs an id")
    key = hashlib.blake2b(str(seed).encode(), digest_size=8).hexdigest()
    hashes = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key).to_numpy()
    if len(hashes) > size:
        chosen = np.argpartition(hashes, size)[:size]
        return chosen[np.argsort(hashes[chosen], kind="stable")]
    return np.argsort(hashes, kind="stable")


def _matrix(frame: pd.DataFrame, names: tuple[str, ...], rows: np.ndarray | slice) -> np.ndarray:
    """The chosen rows of the feature columns as float32, NaN for missing values.

    Built a column at a time so only feature columns, never the whole frame, are copied.
    """
    columns = [frame[name].to_numpy(dtype=np.float32, na_value=np.nan)[rows] for name in names]
    return np.column_stack(columns)


def _column_medians(sample: np.ndarray) -> np.ndarray:
    """Per-column median ignoring NaN; 0 for a column with no values at all."""
    present = ~np.isnan(sample)
    medians = np.zeros(sample.shape[1], dtype=np.float64)
    for j in range(sample.shape[1]):
        if present[:, j].any():
            medians[j] = np.median(sample[present[:, j], j])
    return medians


def _impute(raw: np.ndarray, medians: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(raw), medians.astype(raw.dtype), raw)


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _signed_expm1(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.expm1(np.abs(values))


def _distinct_rows(sample: np.ndarray) -> int:
    """Distinct rows after imputation (NaN compares unequal, so impute first)."""
    if len(sample) == 0:
        return 0
    return len(np.unique(_impute(sample, _column_medians(sample)), axis=0))


def _choose_kmeans(
    scaled: np.ndarray, candidates: list[int], seed: int, silhouette_sample_size: int
) -> tuple[KMeans, dict[int, float]]:
    """The k-means model with the best silhouette (smallest k on ties) and every k's score."""
    models: dict[int, KMeans] = {}
    silhouettes: dict[int, float] = {}
    for k in candidates:
        models[k] = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(scaled)
        silhouettes[k] = _silhouette(scaled, models[k].labels_, seed, silhouette_sample_size)
    best = max(candidates, key=lambda k: (silhouettes[k], -k))
    return models[best], silhouettes


def _silhouette(scaled: np.ndarray, labels: np.ndarray, seed: int, sample_size: int) -> float:
    """Silhouette on a seeded subsample, computing distances in chunks of SILHOUETTE_MEMORY_MB.

    scikit-learn's default chunk is 1 GB, which would more than double the peak memory of a
    million-row run for no gain in speed.
    """
    if len(np.unique(labels)) < 2:
        return -1.0
    size = sample_size if len(scaled) > sample_size else None
    with config_context(working_memory=SILHOUETTE_MEMORY_MB):
        return float(silhouette_score(scaled, labels, sample_size=size, random_state=seed))


def _assign(
    model: KMeans, space: _FeatureSpace, frame: pd.DataFrame, names: tuple[str, ...]
) -> np.ndarray:
    """Nearest-centroid label of every row, converting a bounded batch at a time."""
    labels = np.empty(len(frame), dtype=np.int32)
    for start in range(0, len(frame), PREDICT_BATCH_ROWS):
        rows = slice(start, start + PREDICT_BATCH_ROWS)
        labels[rows] = model.predict(space.scaled(_matrix(frame, names, rows)))
    return labels


def _identify(
    centers: np.ndarray,
    space: _FeatureSpace,
    names: tuple[str, ...],
    sizes: np.ndarray,
    previous: pd.DataFrame | None,
    threshold: float,
) -> tuple[np.ndarray, list[str]]:
    """cluster_id and cluster_name per k-means cluster: inherited where matched, else new."""
    ids: list[int | None] = [None] * len(centers)
    labels: list[str | None] = [None] * len(centers)
    next_id = 0
    if previous is not None and len(previous):
        for new, old_id, old_name in _match_previous(centers, space, names, previous, threshold):
            ids[new], labels[new] = old_id, old_name
        next_id = int(previous["cluster_id"].max()) + 1
    order = _size_order(sizes, centers)
    return (
        np.array(_fill_ids(ids, order, next_id), dtype=np.int64),
        _fill_names(labels, order, centers, space.original(centers), names),
    )


def _fill_ids(ids: list[int | None], order: list[int], next_id: int) -> list[int]:
    """Give clusters without an id consecutive ids from `next_id`, in `order`."""
    filled = list(ids)
    for cluster in order:
        if filled[cluster] is None:
            filled[cluster] = next_id
            next_id += 1
    return [int(i) for i in filled if i is not None]


def _fill_names(
    labels: list[str | None],
    order: list[int],
    centers: np.ndarray,
    original: np.ndarray,
    names: tuple[str, ...],
) -> list[str]:
    """Name clusters without a name from their centroids, in `order`, avoiding taken names."""
    filled = list(labels)
    taken = {label for label in labels if label is not None}
    for cluster in order:
        if filled[cluster] is None:
            name = _unique_name(_describe(centers[cluster], original[cluster], names), taken)
            filled[cluster] = name
            taken.add(name)
    return [str(label) for label in filled]


def _match_previous(
    centers: np.ndarray,
    space: _FeatureSpace,
    names: tuple[str, ...],
    previous: pd.DataFrame,
    threshold: float,
) -> list[tuple[int, int, str]]:
    """(new cluster, previous id, previous name) for every pair the Hungarian algorithm keeps.

    Pairs farther apart than `threshold` are dropped: such a cluster is a different segment
    that happens to be the nearest leftover, and inheriting its name would mislabel it.
    """
    _require_previous_columns(previous)
    # A single "all customers" cluster sits at the overall centre; a real segment near the
    # centre must not inherit that name.
    previous = previous[previous["cluster_name"] != SINGLE_CLUSTER_NAME]
    shared = np.array([j for j, name in enumerate(names) if name in previous], dtype=np.int64)
    if shared.size == 0:
        raise ValueError("previous_centroids shares no feature column with this run")
    old_raw = previous[[names[j] for j in shared]].to_numpy(dtype=np.float64, na_value=np.nan)
    old = space.scaled_columns(old_raw, shared)
    new = centers[:, shared]
    distance = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).mean(axis=2))
    rows, cols = linear_sum_assignment(distance)
    old_ids = previous["cluster_id"].to_numpy()
    old_names = previous["cluster_name"].to_numpy()
    return [
        (int(r), int(old_ids[c]), str(old_names[c]))
        for r, c in zip(rows, cols, strict=True)
        if distance[r, c] <= threshold
    ]


def _require_previous_columns(previous: pd.DataFrame) -> None:
    missing = [c for c in ("cluster_id", "cluster_name") if c not in previous]
    if missing:
        raise ValueError(f"previous_centroids is missing columns: {', '.join(missing)}")
    if previous["cluster_id"].duplicated().any():
        raise ValueError("previous_centroids has duplicate cluster_id values")


def _size_order(sizes: np.ndarray, centers: np.ndarray) -> list[int]:
    """Clusters largest first; exact ties broken by centroid coordinates, so it is repeatable."""
    keys = [*centers.T[::-1], -sizes]
    return [int(i) for i in np.lexsort(keys)]


def _describe(center: np.ndarray, original: np.ndarray, names: tuple[str, ...]) -> list[str]:
    """Words for the features that set a cluster apart, most deviating first, no repeats.

    `center` is in scaled space, where the overall mean is 0 and one unit is one standard
    deviation, so its magnitude is how far the cluster stands from the average customer.
    """
    order = sorted(range(len(names)), key=lambda j: (-abs(center[j]), j))
    terms: list[str] = []
    for j in order:
        if abs(center[j]) < NAME_MIN_DEVIATION:
            break
        term = _term(names[j], bool(center[j] > 0), float(original[j]))
        if term not in terms:
            terms.append(term)
    return terms


def _term(name: str, above: bool, original: float) -> str:
    """One word for a feature standing above or below the mean; "one-time" for ~1 order."""
    lowered = name.lower()
    if not above and re.search(_FREQUENCY_PATTERN, lowered) and original < 1.5:
        return "one-time"
    for pattern, high, low in _VOCABULARY:
        if re.search(pattern, lowered):
            return high if above else low
    readable = name.replace("_", " ")
    return f"high {readable}" if above else f"low {readable}"


def _unique_name(terms: list[str], taken: set[str]) -> str:
    """The shortest name from `terms` (at least NAME_TERMS) not in `taken`, else numbered."""
    if not terms:
        terms = [TYPICAL_NAME]
    for count in range(min(NAME_TERMS, len(terms)), len(terms) + 1):
        name = ", ".join(terms[:count])
        if name not in taken:
            return name
    base = ", ".join(terms)
    suffix = 2
    while f"{base} ({suffix})" in taken:
        suffix += 1
    return f"{base} ({suffix})"


def _assignments(
    frame: pd.DataFrame,
    id_column: str,
    labels: np.ndarray,
    ids: np.ndarray,
    names: list[str],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            id_column: frame[id_column].to_numpy(),
            "cluster_id": ids[labels],
            "cluster_name": np.asarray(names, dtype=object)[labels],
        },
        index=frame.index,
    )


def _centroid_table(
    ids: np.ndarray,
    cluster_names: list[str],
    names: tuple[str, ...],
    original: np.ndarray,
    sizes: np.ndarray,
) -> pd.DataFrame:
    table = pd.DataFrame(original, columns=list(names))
    table.insert(0, "cluster_id", ids)
    table.insert(1, "cluster_name", cluster_names)
    table["size"] = sizes.astype(np.int64)
    return table.sort_values("cluster_id", ignore_index=True)


def _single_cluster(
    frame: pd.DataFrame,
    id_column: str,
    names: tuple[str, ...],
    sample: np.ndarray,
    previous: pd.DataFrame | None,
) -> ClusterResult:
    """Everyone in one cluster, its centroid the log-scale mean of the sample.

    Its id is the previous "all customers" id if there was one, else 0 on a first run, else a
    new id above the previous ones, so it never takes over the id of a real segment.
    """
    cluster_id = _single_cluster_id(previous)
    if len(sample):
        imputed = _impute(sample, _column_medians(sample)).astype(np.float64)
        center = _signed_expm1(_signed_log1p(imputed).mean(axis=0))
    else:
        center = np.full(len(names), np.nan)
    labels = np.zeros(len(frame), dtype=np.int64)
    ids = np.array([cluster_id], dtype=np.int64)
    return ClusterResult(
        assignments=_assignments(frame, id_column, labels, ids, [SINGLE_CLUSTER_NAME]),
        centroids=_centroid_table(
            ids, [SINGLE_CLUSTER_NAME], names, center[None, :], np.array([len(frame)])
        ),
        k=1,
        silhouette_by_k={},
        method=SINGLE_CLUSTER,
    )


def _single_cluster_id(previous: pd.DataFrame | None) -> int:
    if previous is None or len(previous) == 0:
        return 0
    _require_previous_columns(previous)
    same = previous.loc[previous["cluster_name"] == SINGLE_CLUSTER_NAME, "cluster_id"]
    return int(same.iloc[0]) if len(same) else int(previous["cluster_id"].max()) + 1
