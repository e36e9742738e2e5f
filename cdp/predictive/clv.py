"""Customer lifetime value from per-customer purchase summaries: BG/NBD x Gamma-Gamma.

Two probabilistic models, each fitted by maximum likelihood:

- BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way") says how many
  purchases a customer will make: while alive, a customer buys at a Poisson rate (gamma
  distributed across customers, parameters r and alpha), and after each repeat purchase drops
  out for good with a probability that is beta distributed across customers (a and b).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves"; Colombo &
  Jiang 1999) says what a customer's purchases will be worth: transaction values are gamma
  distributed around a customer's mean, and those means are gamma distributed across
  customers (p, q and v, the scale the papers call gamma).

Inputs are one row per customer, not transactions, as plain arrays in the papers' conventions:

- `frequency`: the number of repeat purchases, that is, all purchases less the first.
- `recency`: the customer's age at their last repeat purchase, measured from the first
  purchase (0 when frequency is 0). It is not the time since the last purchase.
- `age`: the time from the first purchase to the end of the observation period (the papers' T).
- `monetary_value`: the average value of the repeat purchases (the first purchase is left out);
  it is ignored for customers with frequency 0.

Recency, age and every `horizon` share one time unit (CDNOW uses weeks); the fitted alpha is in
that unit, so parameters fitted in weeks must not be used with ages in days. The Gamma-Gamma
model assumes spend does not depend on how often a customer buys; check that the two are
roughly uncorrelated among repeat buyers before trusting the value predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]
Method = Literal["bgnbd_gamma_gamma", "historical_rate"]

# The optimizer works on log-parameters; this keeps every parameter within e^-20..e^20 so
# exploratory steps cannot overflow, while leaving room for any sensible time or currency unit.
_LOG_BOUND = 20.0
MIN_REPEAT_BUYERS = 20
# How many periods of the population's rate the historical-rate fallback adds to each customer.
FALLBACK_PRIOR_PERIODS = 4.0


class FitError(RuntimeError):
    """A maximum-likelihood fit did not converge, or its result cannot be used."""


@dataclass(frozen=True)
class BgNbdParameters:
    """A fitted BG/NBD model; `log_likelihood` is the total over `n_customers`, unpenalized."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int


@dataclass(frozen=True)
class GammaGammaParameters:
    """A fitted Gamma-Gamma model over `n_customers` repeat buyers (v is the papers' gamma)."""

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int

    @property
    def population_mean(self) -> float:
        """The mean transaction value across customers, p*v/(q-1); infinite when q <= 1."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("inf")


class ClvPrediction(NamedTuple):
    """Per-customer predictions over a horizon: purchase counts and their (discounted) value."""

    expected_purchases: FloatArray
    expected_value: FloatArray


@dataclass(frozen=True, eq=False)
class ClvResult:
    """Predictions and how they were made.

    The parameters are set only when `method` is "bgnbd_gamma_gamma"; otherwise
    `fallback_reason` says why the historical rates were used instead.
    """

    expected_purchases: FloatArray
    expected_value: FloatArray
    method: Method
    bgnbd: BgNbdParameters | None
    gamma_gamma: GammaGammaParameters | None
    fallback_reason: str | None


# --- validation ----------------------------------------------------------------------------


def _as_vector(name: str, values: ArrayLike) -> FloatArray:
    """One finite, non-negative float per customer; a scalar counts as one customer."""
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per customer)")
    _require(name, np.isfinite(array), "must be finite", array)
    _require(name, array >= 0, "must be non-negative", array)
    return array


def _require(name: str, ok: NDArray[np.bool_], rule: str, values: FloatArray) -> None:
    """Raise a ValueError naming the field and the first customer that breaks the rule."""
    if not np.all(ok):
        index = int(np.argmin(ok))
        raise ValueError(f"{name} {rule} (customer at index {index} has {float(values[index])!r})")


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"one value per customer is needed in each input; got lengths {lengths}")


def _validate_frequency(values: ArrayLike) -> FloatArray:
    frequency = _as_vector("frequency", values)
    _require("frequency", frequency == np.round(frequency), "must be integer-valued", frequency)
    return frequency


def _validate_summaries(
    frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check the BG/NBD inputs; recency is the age at the last repeat purchase, so <= age."""
    x = _validate_frequency(frequency)
    t_x = _as_vector("recency", recency)
    t = _as_vector("age", age)
    _same_length(frequency=x, recency=t_x, age=t)
    _require("recency", t_x <= t, "must not exceed age", t_x)
    # A positive recency with no repeat purchase usually means "time since last purchase" was
    # passed instead of the age at the last repeat purchase, which would silently skew the fit.
    _require("recency", (x > 0) | (t_x == 0), "must be 0 when frequency is 0", t_x)
    return x, t_x, t


def _validate_monetary(values: ArrayLike, frequency: FloatArray) -> FloatArray:
    monetary = _as_vector("monetary_value", values)
    _same_length(frequency=frequency, monetary_value=monetary)
    return monetary


def _validate_horizon(horizon: float) -> float:
    value = float(horizon)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"horizon must be finite and non-negative, got {horizon!r}")
    return value


def _validate_discount_rate(rate: float) -> float:
    value = float(rate)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"discount_rate_per_period must be finite and >= 0, got {rate!r}")
    return value


# --- optimization --------------------------------------------------------------------------


def _maximize(
    mean_log_likelihood: Callable[[FloatArray], float], start: FloatArray, penalizer: float
) -> FloatArray:
    """Log-parameters maximizing the mean log-likelihood less penalizer * sum(params**2).

    L-BFGS-B is fast and precise on these smooth likelihoods; if it stops short (it can with
    finite-difference gradients), Nelder-Mead continues from where it stopped.
    """

    def objective(log_params: FloatArray) -> float:
        value = -mean_log_likelihood(log_params) + penalizer * np.sum(np.exp(2 * log_params))
        return float(value) if np.isfinite(value) else 1e300

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    with np.errstate(all="ignore"):
        result = minimize(objective, start, method="L-BFGS-B", bounds=bounds)
        if not result.success:
            result = minimize(
                objective,
                result.x,
                method="Nelder-Mead",
                bounds=bounds,
                options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12},
            )
    if not (result.success and result.fun < 1e300):
        raise FitError(f"maximum-likelihood fit did not converge: {result.message}")
    return np.asarray(result.x, dtype=np.float64)


# --- BG/NBD --------------------------------------------------------------------------------


def _bgnbd_log_likelihood(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, t: FloatArray
) -> FloatArray:
    """Per-customer log-likelihood, eq. 6 of the paper written as a log-sum of its two terms.

    The second term (the customer died after the last repeat purchase) exists only for x > 0;
    its ratio of beta functions B(a+1, b+x-1)/B(a, b+x) simplifies to a/(b+x-1).
    """
    r, alpha, a, b = np.exp(log_params)
    common = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    alive = -(r + x) * np.log(alpha + t)
    repeat = x > 0
    died = np.full_like(x, -np.inf)
    died[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return common + np.logaddexp(alive, died)


def fit_bgnbd(
    frequency: ArrayLike, recency: ArrayLike, age: ArrayLike, penalizer: float = 0.0
) -> BgNbdParameters:
    """Fit r, alpha, a, b by maximum likelihood; raises FitError if the optimizer fails.

    `penalizer` (>= 0) adds penalizer * (r² + alpha² + a² + b²) to the mean negative
    log-likelihood, pulling parameters towards small values on small or degenerate samples;
    0 gives the plain maximum-likelihood estimate. The reported log-likelihood is unpenalized.
    """
    x, t_x, t = _validate_summaries(frequency, recency, age)
    if len(x) == 0:
        raise ValueError("frequency is empty: fit_bgnbd needs at least one customer")
    if not (np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"penalizer must be finite and >= 0, got {penalizer!r}")
    # Starting alpha at the mean age makes the fit indifferent to the time unit.
    start = np.array([0.0, np.log(max(float(np.mean(t)), 1e-6)), 0.0, 0.0])
    log_params = _maximize(lambda p: np.mean(_bgnbd_log_likelihood(p, x, t_x, t)), start, penalizer)
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    total = float(np.sum(_bgnbd_log_likelihood(log_params, x, t_x, t)))
    return BgNbdParameters(r, alpha, a, b, log_likelihood=total, n_customers=len(x))


def _log_odds_dead(
    params: BgNbdParameters, x: FloatArray, t_x: FloatArray, t: FloatArray
) -> FloatArray:
    """log(P(dead) / P(alive)) given the history; -inf for x = 0 (no chance to drop out yet)."""
    log_odds = np.full_like(x, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    log_odds[repeat] = (
        np.log(params.a)
        - np.log(params.b + xr - 1)
        + (params.r + xr) * (np.log(params.alpha + t[repeat]) - np.log(params.alpha + t_x[repeat]))
    )
    return log_odds


def probability_alive(
    params: BgNbdParameters, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> FloatArray:
    """P(still active at the end of observation | history), in [0, 1]; exactly 1 for x = 0.

    A customer who never repeated has not yet had a chance to drop out under BG/NBD.
    """
    x, t_x, t = _validate_summaries(frequency, recency, age)
    return expit(-_log_odds_dead(params, x, t_x, t))


def _expected_purchases(
    params: BgNbdParameters, horizon: float, x: FloatArray, t_x: FloatArray, t: FloatArray
) -> FloatArray:
    """Eq. 10 of the paper, with the hypergeometric term Euler-transformed.

    (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) equals (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose parameters do not grow with x, so heavy buyers neither overflow nor lose precision.
    """
    if horizon == 0:
        return np.zeros_like(x)
    r, alpha, b = params.r, params.alpha, params.b
    # The formula divides by a-1; at exactly 1 that is 0/0, and the limit is continuous.
    a = params.a if params.a != 1.0 else 1.0 + 1e-7
    z = horizon / (alpha + t + horizon)
    hypergeometric = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    scale = np.exp((a - 1) * np.log1p(-z))
    if_alive = (a + b + x - 1) / (a - 1) * (1 - scale * hypergeometric)
    return if_alive * expit(-_log_odds_dead(params, x, t_x, t))


def expected_purchases(
    params: BgNbdParameters,
    horizon: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
) -> FloatArray:
    """Expected number of purchases in the next `horizon` periods, given each history.

    `horizon` is in the time unit of recency and age (and of the data the model was fitted on).
    """
    x, t_x, t = _validate_summaries(frequency, recency, age)
    return _expected_purchases(params, _validate_horizon(horizon), x, t_x, t)


# --- Gamma-Gamma ---------------------------------------------------------------------------


def _gamma_gamma_log_likelihood(log_params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    """Per-customer log density of the average value m of x transactions (all terms kept)."""
    p, q, v = np.exp(log_params)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParameters:
    """Fit p, q, v by maximum likelihood on the customers with frequency > 0.

    Customers without a repeat purchase carry no spend information and are skipped, so the
    arrays can be the same ones given to fit_bgnbd. Repeat buyers need a positive
    monetary_value. Raises FitError if the optimizer fails.
    """
    x = _validate_frequency(frequency)
    m = _validate_monetary(monetary_value, x)
    repeat = x > 0
    x, m = x[repeat], m[repeat]
    if len(x) == 0:
        raise ValueError("frequency has no value > 0: fit_gamma_gamma needs repeat buyers")
    _require("monetary_value", m > 0, "must be positive when frequency > 0", m)
    # Starting v at the mean spend makes the fit indifferent to the currency unit.
    start = np.array([0.0, 0.0, np.log(float(np.mean(m)))])
    log_params = _maximize(lambda p: np.mean(_gamma_gamma_log_likelihood(p, x, m)), start, 0.0)
    p, q, v = (float(value) for value in np.exp(log_params))
    total = float(np.sum(_gamma_gamma_log_likelihood(log_params, x, m)))
    return GammaGammaParameters(p, q, v, log_likelihood=total, n_customers=len(x))


def expected_average_value(
    params: GammaGammaParameters, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """The expected value of a customer's future transactions, given their history.

    p*(v + x*m)/(p*x + q - 1): a weighted mean of the population mean p*v/(q-1) and the
    customer's own average m, leaning on m the more transactions back it. For frequency 0 it is
    the population mean. Raises ValueError where the expectation is infinite (p*x + q <= 1).
    """
    x = _validate_frequency(frequency)
    m = _validate_monetary(monetary_value, x)
    m = np.where(x > 0, m, 0.0)
    denominator = params.p * x + params.q - 1
    _require(
        "frequency",
        denominator > 0,
        f"gives an infinite expected value under q={params.q:.4g}, p={params.p:.4g}",
        x,
    )
    return params.p * (params.v + x * m) / denominator


# --- lifetime value ------------------------------------------------------------------------


def _discounted(
    cumulative: Callable[[float], FloatArray], horizon: float, rate: float
) -> FloatArray:
    """Discounted expected purchases over the horizon.

    The horizon is cut into whole periods (the last may be partial); the purchases expected
    within each are valued at its end, discounted by (1 + rate) ** end. With rate 0 this is
    just cumulative(horizon). Costs one evaluation of `cumulative` per period.
    """
    if rate == 0 or horizon == 0:
        return cumulative(horizon)
    ends = np.minimum(np.arange(1, int(np.ceil(horizon)) + 1, dtype=np.float64), horizon)
    total = np.zeros_like(cumulative(0.0))
    previous = total
    for end in ends:
        current = cumulative(float(end))
        total = total + (current - previous) / (1 + rate) ** end
        previous = current
    return total


def predict_clv(
    bgnbd: BgNbdParameters,
    gamma_gamma: GammaGammaParameters,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary_value: ArrayLike,
    horizon: float,
    discount_rate_per_period: float = 0.0,
) -> ClvPrediction:
    """Expected purchases over the horizon and their expected value.

    Value is expected purchases times the expected average transaction value (the two models
    are independent). With a discount rate, each period's expected purchases are valued at the
    period's end and discounted by (1 + rate) per period; the purchase count stays undiscounted.
    A discount costs one BG/NBD evaluation per whole period in the horizon.
    """
    x, t_x, t = _validate_summaries(frequency, recency, age)
    m = _validate_monetary(monetary_value, x)
    horizon = _validate_horizon(horizon)
    rate = _validate_discount_rate(discount_rate_per_period)
    purchases = _expected_purchases(bgnbd, horizon, x, t_x, t)
    average_value = expected_average_value(gamma_gamma, x, m)
    if rate == 0:
        return ClvPrediction(purchases, purchases * average_value)
    discounted = _discounted(lambda h: _expected_purchases(bgnbd, h, x, t_x, t), horizon, rate)
    return ClvPrediction(purchases, discounted * average_value)


def _historical_rate_prediction(
    x: FloatArray,
    t: FloatArray,
    m: FloatArray,
    horizon: float,
    rate: float,
    prior_periods: float = FALLBACK_PRIOR_PERIODS,
) -> ClvPrediction:
    """Each customer keeps buying at their past rate, shrunk towards everyone's rate.

    The rate is the Gamma-Poisson posterior mean (x + r0) / (age + prior_periods), where
    r0 = prior_periods x the population rate (all repeat purchases / all ages): a customer
    with a long history keeps close to their own rate, while one only days old (whose own
    frequency/age could be hundreds a year) starts from the population's. Value is the
    customer's own average repeat spend, or the population's for customers without a repeat.
    """
    total_age = float(np.sum(t))
    population_rate = float(np.sum(x)) / total_age if total_age > 0 else 0.0
    purchase_rate = (x + population_rate * prior_periods) / (t + prior_periods)
    repeat = x > 0
    population_value = float(np.mean(m[repeat])) if np.any(repeat) else 0.0
    value = np.where(repeat, m, population_value)
    purchases = purchase_rate * horizon
    discounted = _discounted(lambda h: purchase_rate * h, horizon, rate)
    return ClvPrediction(purchases, discounted * value)


def fit_and_predict(
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary_value: ArrayLike,
    horizon: float,
    discount_rate_per_period: float = 0.0,
    penalizer: float = 0.0,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
) -> ClvResult:
    """Fit both models on these customers and predict for the same customers.

    Falls back to method "historical_rate" (each customer's past purchase rate shrunk towards
    the population's, times the horizon; see _historical_rate_prediction) when fewer than
    `min_repeat_buyers` customers have a repeat purchase, when either fit fails to converge,
    when the Gamma-Gamma fit has q <= 1 (infinite mean spend), or when the predictions are not
    finite. `fallback_reason` says which. Invalid inputs raise ValueError rather than falling back.
    """
    x, t_x, t = _validate_summaries(frequency, recency, age)
    m = _validate_monetary(monetary_value, x)
    horizon = _validate_horizon(horizon)
    rate = _validate_discount_rate(discount_rate_per_period)
    try:
        return _model_result(x, t_x, t, m, horizon, rate, penalizer, min_repeat_buyers)
    except FitError as error:
        fallback = _historical_rate_prediction(x, t, m, horizon, rate)
        return ClvResult(*fallback, "historical_rate", None, None, fallback_reason=str(error))


def _model_result(
    x: FloatArray,
    t_x: FloatArray,
    t: FloatArray,
    m: FloatArray,
    horizon: float,
    rate: float,
    penalizer: float,
    min_repeat_buyers: int,
) -> ClvResult:
    """The model-based result; raises FitError saying why it cannot be trusted."""
    repeat_buyers = int(np.count_nonzero(x > 0))
    if repeat_buyers < min_repeat_buyers:
        raise FitError(
            f"{repeat_buyers} repeat buyers, fewer than the {min_repeat_buyers} needed to fit"
        )
    bgnbd = fit_bgnbd(x, t_x, t, penalizer=penalizer)
    gamma_gamma = fit_gamma_gamma(x, m)
    if gamma_gamma.q <= 1:
        raise FitError(f"Gamma-Gamma fit has q = {gamma_gamma.q:.4g} <= 1: mean spend is infinite")
    prediction = predict_clv(bgnbd, gamma_gamma, x, t_x, t, m, horizon, rate)
    if not all(np.all(np.isfinite(values)) for values in prediction):
        raise FitError("the fitted models gave non-finite predictions")
    return ClvResult(*prediction, "bgnbd_gamma_gamma", bgnbd, gamma_gamma, fallback_reason=None)
