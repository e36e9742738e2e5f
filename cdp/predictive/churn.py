"""Churn risk learned from the customers' own purchase history.

The warehouse builds a training frame as of a cutoff T-N: one row per customer who had bought
before the cutoff, numeric features computed as of the cutoff, and a boolean label saying whether
the customer bought again in the N days after it. A model fitted on that frame is applied to the
same features computed as of today, and churn_risk = 1 - P(purchase in the next N days).

Callers are dbt Python models, so every function takes and returns pandas objects, works on up
to about a million rows without per-row Python, and is deterministic: the same input gives the
same model, the same metrics and the same scores on every run, whatever the row order.

When there is too little history to learn from, `train_churn_model` does not fail: it returns a
model whose method is "recency_heuristic" (see `recency_risk`), so the churn trait always exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from cdp.predictive.frames import feature_columns

GRADIENT_BOOSTING = "gradient_boosting"
RECENCY_HEURISTIC = "recency_heuristic"

RECENCY_COLUMN = "days_since_last_order"
ORDERS_COLUMN = "orders_count"
TENURE_COLUMN = "days_since_first_order"

MIN_GAP_DAYS = 30.0
"""Floor on the typical inter-purchase gap, so a customer who bought twice in one week is not
called lapsed after a fortnight."""

SCORING_BATCH_ROWS = 200_000
"""Rows converted and scored at a time: bounds the float64 copy the estimator makes internally."""


@dataclass(frozen=True)
class ChurnModel:
    """A fitted churn model and how it was obtained; score it with `score_churn`.

    `method` is "gradient_boosting" (then `estimator` is set and `auc` is the hold-out ROC AUC,
    or None if the hold-out happened to hold a single class) or "recency_heuristic" (then
    `estimator` and `auc` are None and `reason` says why nothing was learned). `n_train` and
    `n_validation` count the rows used to fit and to evaluate; `positive_rate` is the share of
    training-frame rows that did purchase in the window. `default_gap_days` is the median
    inter-purchase gap of repeat customers at training time, used by the heuristic for
    customers whose own gap is unknown.
    """

    method: str
    features: tuple[str, ...]
    estimator: HistGradientBoostingClassifier | None
    auc: float | None
    n_train: int
    n_validation: int
    positive_rate: float | None
    default_gap_days: float
    reason: str

    def metrics(self) -> dict[str, Any]:
        """Plain-JSON summary of the model for run metadata (no numpy scalars, no estimator)."""
        return {
            "method": self.method,
            "auc": None if self.auc is None else float(self.auc),
            "n_train": int(self.n_train),
            "n_validation": int(self.n_validation),
            "positive_rate": None if self.positive_rate is None else float(self.positive_rate),
            "features": list(self.features),
            "default_gap_days": float(self.default_gap_days),
            "reason": self.reason,
        }


def train_churn_model(
    training: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    label_column: str = "purchased_in_window",
    validation_share: float = 0.25,
    seed: int = 0,
    min_customers: int = 200,
    min_per_class: int = 20,
) -> ChurnModel:
    """Fit a churn model on the training frame and measure it on a hold-out of customers.

    Features are every numeric or boolean column other than `id_column` and `label_column`;
    missing values are allowed. The hold-out is chosen by hashing each id with `seed`
    (`validation_mask`), so a customer stays on the same side of the split on every run and the
    split does not depend on row order. Rows are also put in hash order before fitting, which
    makes the fitted model itself independent of the order the warehouse returns them in.

    The estimator is a HistGradientBoostingClassifier rather than an impute → scale →
    LogisticRegression pipeline because churn depends on interactions a linear model cannot
    express without hand-made features (days since the last order only means something relative
    to how often the customer buys), because it bins features into quantiles (invariant to
    scale and skew, so heavy-tailed revenue needs no scaler or log) and because it sends missing
    values down a learned branch instead of needing an imputer. It is trained without class
    weights so that 1 - P(purchase) stays close to a calibrated probability, which callers can
    threshold or average. `random_state=seed` makes its internal early-stopping split
    deterministic.

    The estimator is the one fitted on the training share; it is not refitted on all rows, so
    the reported AUC describes exactly the model that scores.

    Falls back to the recency heuristic when there are fewer than `min_customers` rows, fewer
    than `min_per_class` rows of either label (including a single class), or when the training
    share ends up with a single class; the heuristic needs a `days_since_last_order` column.
    """
    _check_share(validation_share)
    labels = _labels(training, label_column)
    features = feature_columns(training, exclude=(id_column, label_column))
    if not features:
        raise ValueError("the training frame has no numeric feature columns")
    positive_rate = float(labels.mean()) if len(labels) else None
    default_gap = _default_gap_days(training)
    train_rows, validation_rows = _split_rows(training[id_column], validation_share, seed)

    reason = _too_little_history(labels, min_customers, min_per_class)
    if reason is None and np.unique(labels[train_rows]).size < 2:
        reason = "the training share holds a single class"
    if reason is not None:
        return _heuristic_model(training, default_gap, positive_rate, reason)

    estimator = _fit_estimator(training, features, labels, train_rows, seed)
    auc = _holdout_auc(estimator, training, features, labels, validation_rows)
    return ChurnModel(
        method=GRADIENT_BOOSTING,
        features=features,
        estimator=estimator,
        auc=auc,
        n_train=len(train_rows),
        n_validation=len(validation_rows),
        positive_rate=positive_rate,
        default_gap_days=default_gap,
        reason=f"learned from {len(train_rows)} customers",
    )


def score_churn(model: ChurnModel, features: pd.DataFrame) -> pd.Series:
    """churn_risk in [0, 1] for every row of `features`, indexed like it.

    `features` must hold the model's feature columns, computed as of the scoring date the same
    way the training frame computed them as of the cutoff; other columns are ignored.
    """
    _require_columns(features, model.features)
    if model.estimator is None:
        risk = recency_risk(features, default_gap_days=model.default_gap_days)
    else:
        risk = 1.0 - _purchase_probability(model.estimator, features, model.features)
    return pd.Series(np.clip(risk, 0.0, 1.0), index=features.index, name="churn_risk")


def recency_risk(features: pd.DataFrame, *, default_gap_days: float = MIN_GAP_DAYS) -> np.ndarray:
    """The fallback: 1 - exp(-days_since_last_order / max(typical gap, 30)), clipped to [0, 1].

    The typical gap is the customer's own mean days between orders,
    (days_since_first_order - days_since_last_order) / (orders_count - 1), when those columns
    exist and the customer ordered at least twice; otherwise `default_gap_days`. The risk is
    0 right after a purchase, about 0.63 after one typical gap and 0.95 after three, and rises
    monotonically with inactivity. A missing days_since_last_order means no known purchase and
    scores 1.0.
    """
    recency = np.clip(_float_column(features, RECENCY_COLUMN), 0.0, None)
    gap = _own_gap_days(features)
    gap = np.maximum(np.where(np.isnan(gap), default_gap_days, gap), MIN_GAP_DAYS)
    risk = -np.expm1(-recency / gap)
    return np.clip(np.where(np.isnan(recency), 1.0, risk), 0.0, 1.0)


def validation_mask(ids: pd.Series, share: float, seed: int = 0) -> np.ndarray:
    """True for ids in the hold-out: those whose seeded hash falls in the lowest `share`.

    Depends only on each id's value and `seed`, so it is stable across runs and row orders and a
    new customer never moves an existing one across the split.
    """
    _check_share(share)
    return _hash_fraction(_id_hashes(ids, seed)) < share


def _split_rows(ids: pd.Series, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and hold-out rows, each listed in hash order.

    Hash order rather than frame order is what makes the fitted model independent of the order
    the warehouse returns rows in.
    """
    hashes = _id_hashes(ids, seed)
    order = np.argsort(hashes, kind="stable")
    in_validation = _hash_fraction(hashes[order]) < share
    return order[~in_validation], order[in_validation]


def _hash_fraction(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes onto [0, 1)."""
    return hashes / np.float64(2**64)


def _id_hashes(ids: pd.Series, seed: int) -> np.ndarray:
    """uint64 hash of each id's text, keyed by the seed; ids must not be null."""
    if ids.isna().any():
        raise ValueError(f"{ids.name!r} has null ids; every row needs an id to be split stably")
    key = hashlib.blake2b(str(seed).encode(), digest_size=8).hexdigest()
    return pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key).to_numpy()


def _labels(training: pd.DataFrame, label_column: str) -> np.ndarray:
    """The label as a bool array; nulls are refused rather than guessed."""
    _require_columns(training, (label_column,))
    label = training[label_column]
    if label.isna().any():
        raise ValueError(f"{label_column!r} has null values; label every training row")
    return label.to_numpy(dtype=bool)


def _too_little_history(labels: np.ndarray, min_customers: int, min_per_class: int) -> str | None:
    """Why the frame is too small to learn from, or None when it is big enough."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if len(labels) < min_customers:
        return f"{len(labels)} customers, fewer than {min_customers}"
    if min(positives, negatives) < min_per_class:
        return (
            f"{positives} purchased and {negatives} did not; "
            f"each label needs at least {min_per_class}"
        )
    return None


def _heuristic_model(
    training: pd.DataFrame, default_gap: float, positive_rate: float | None, reason: str
) -> ChurnModel:
    """A model that scores with `recency_risk`; refuses frames it could not score."""
    _require_columns(training, (RECENCY_COLUMN,))
    used = tuple(c for c in (RECENCY_COLUMN, ORDERS_COLUMN, TENURE_COLUMN) if c in training)
    return ChurnModel(
        method=RECENCY_HEURISTIC,
        features=used,
        estimator=None,
        auc=None,
        n_train=len(training),
        n_validation=0,
        positive_rate=positive_rate,
        default_gap_days=default_gap,
        reason=reason,
    )


def _fit_estimator(
    training: pd.DataFrame,
    features: tuple[str, ...],
    labels: np.ndarray,
    rows: np.ndarray,
    seed: int,
) -> HistGradientBoostingClassifier:
    """Gradient boosting with early stopping on an internal, seeded 10% split."""
    estimator = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )
    return estimator.fit(_matrix(training, features, rows), labels[rows])


def _holdout_auc(
    estimator: HistGradientBoostingClassifier,
    training: pd.DataFrame,
    features: tuple[str, ...],
    labels: np.ndarray,
    rows: np.ndarray,
) -> float | None:
    """ROC AUC of P(purchase) on the hold-out; None when it has fewer than two classes."""
    if np.unique(labels[rows]).size < 2:
        return None
    probability = estimator.predict_proba(_matrix(training, features, rows))[:, 1]
    return float(roc_auc_score(labels[rows], probability))


def _purchase_probability(
    estimator: HistGradientBoostingClassifier, frame: pd.DataFrame, features: tuple[str, ...]
) -> np.ndarray:
    """P(purchase in window) per row, converting and scoring a bounded block at a time."""
    probability = np.empty(len(frame), dtype=np.float64)
    for start in range(0, len(frame), SCORING_BATCH_ROWS):
        rows = slice(start, start + SCORING_BATCH_ROWS)
        probability[rows] = estimator.predict_proba(_matrix(frame, features, rows))[:, 1]
    return probability


def _matrix(frame: pd.DataFrame, features: tuple[str, ...], rows: np.ndarray | slice) -> np.ndarray:
    """The chosen rows and features as float32, with NaN for any kind of missing value.

    Built a column at a time so that only the feature columns, never the whole frame, are copied.
    """
    first = frame[features[0]].to_numpy(dtype=np.float32, na_value=np.nan)[rows]
    out = np.empty((len(first), len(features)), dtype=np.float32)
    out[:, 0] = first
    for j, name in enumerate(features[1:], start=1):
        out[:, j] = frame[name].to_numpy(dtype=np.float32, na_value=np.nan)[rows]
    return out


def _float_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for missing values; NaN everywhere if it is absent."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _own_gap_days(frame: pd.DataFrame) -> np.ndarray:
    """Each customer's mean days between orders; NaN unless they ordered at least twice."""
    orders = _float_column(frame, ORDERS_COLUMN)
    span = _float_column(frame, TENURE_COLUMN) - _float_column(frame, RECENCY_COLUMN)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = span / (orders - 1.0)
    return np.where((orders >= 2) & (span >= 0), gap, np.nan)


def _default_gap_days(frame: pd.DataFrame) -> float:
    """Median gap of repeat customers, used for one-time buyers; MIN_GAP_DAYS if none."""
    gaps = _own_gap_days(frame)
    gaps = gaps[~np.isnan(gaps)]
    return float(np.median(gaps)) if gaps.size else MIN_GAP_DAYS


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Raise naming every missing column, so a renamed warehouse column is obvious."""
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")


def _check_share(share: float) -> None:
    if not 0.0 < share < 1.0:
        raise ValueError(f"validation share must be between 0 and 1, got {share}")
