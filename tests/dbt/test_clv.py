"""BG/NBD and Gamma-Gamma lifetime value, checked against the papers' published CDNOW fits.

The CDNOW summaries ship inside the `lifetimes` wheel, which `make setup` installs without its
dependencies purely as test data; nothing here imports it.
"""

from __future__ import annotations

import importlib.util
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from scipy.special import hyp2f1

from cdp.predictive.clv import (
    BgNbdParameters,
    GammaGammaParameters,
    expected_average_value,
    expected_purchases,
    fit_and_predict,
    fit_bgnbd,
    fit_gamma_gamma,
    predict_clv,
    probability_alive,
)

Summaries = tuple[np.ndarray, np.ndarray, np.ndarray]


def lifetimes_dataset(name: str) -> Path:
    """The path of a CSV in the lifetimes wheel, found without importing the package."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(
            "lifetimes, which holds the CDNOW data, is not installed: run `make setup` "
            "(it runs `pip install --no-deps lifetimes==0.11.3`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing from the installed lifetimes package")
    return path


@pytest.fixture(scope="module")
def cdnow() -> Summaries:
    """Frequency, recency and age in weeks of CDNOW's 2,357 customers (the papers' sample)."""
    path = lifetimes_dataset("cdnow_customers_summary.csv")
    _, x, t_x, t = np.loadtxt(path, delimiter=",", skiprows=1).T
    return x, t_x, t


@pytest.fixture(scope="module")
def cdnow_spend() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same customers with the average value of their repeat purchases (zbar)."""
    path = lifetimes_dataset("cdnow_customers_summary_with_transactions.csv")
    _, x, t_x, t, zbar = np.loadtxt(path, delimiter=",", skiprows=1).T
    return x, t_x, t, zbar


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: Summaries) -> BgNbdParameters:
    return fit_bgnbd(*cdnow)


def test_bgnbd_fitted_on_cdnow_reproduces_the_published_parameters_and_log_likelihood(
    cdnow_fit: BgNbdParameters,
) -> None:
    """Fader, Hardie & Lee (2005), section 5: r=0.243, alpha=4.414, a=0.793, b=2.426, LL -9582.4."""
    assert cdnow_fit.n_customers == 2357
    assert cdnow_fit.r == pytest.approx(0.243, abs=0.01)
    assert cdnow_fit.alpha == pytest.approx(4.414, abs=0.05)
    assert cdnow_fit.a == pytest.approx(0.793, abs=0.01)
    assert cdnow_fit.b == pytest.approx(2.426, abs=0.01)
    assert cdnow_fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)


def test_bgnbd_fit_scales_alpha_with_the_time_unit_and_leaves_the_rest_alone(
    cdnow: Summaries, cdnow_fit: BgNbdParameters
) -> None:
    """Alpha is a time scale: the same customers measured in days give 7x alpha."""
    x, t_x, t = cdnow
    in_days = fit_bgnbd(x, t_x * 7, t * 7)
    assert in_days.alpha == pytest.approx(cdnow_fit.alpha * 7, rel=1e-3)
    for name in ("r", "a", "b"):
        assert getattr(in_days, name) == pytest.approx(getattr(cdnow_fit, name), rel=1e-3)


def test_expected_purchases_match_the_papers_worked_example(cdnow_fit: BgNbdParameters) -> None:
    """Fader, Hardie & Lee (2005): customer 1 (x=2, t_x=30.43, T=38.86) buys 1.226 in 39 weeks."""
    expected = expected_purchases(cdnow_fit, 39, 2, 30.43, 38.86)
    assert expected.shape == (1,)
    assert expected[0] == pytest.approx(1.226, abs=0.01)


def test_expected_purchases_agree_with_the_papers_untransformed_equation(
    cdnow: Summaries, cdnow_fit: BgNbdParameters
) -> None:
    """The implementation rewrites eq. 10's hypergeometric term; the original must agree."""
    x, t_x, t = cdnow
    r, alpha, a, b = cdnow_fit.r, cdnow_fit.alpha, cdnow_fit.a, cdnow_fit.b
    horizon = 52.0
    z = horizon / (alpha + t + horizon)
    hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1, z)
    shrink = ((alpha + t) / (alpha + t + horizon)) ** (r + x)
    numerator = (a + b + x - 1) / (a - 1) * (1 - shrink * hypergeometric)
    denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + t) / (alpha + t_x)) ** (r + x)
    np.testing.assert_allclose(
        expected_purchases(cdnow_fit, horizon, x, t_x, t), numerator / denominator, rtol=1e-9
    )


def test_expected_purchases_grow_with_the_horizon(
    cdnow: Summaries, cdnow_fit: BgNbdParameters
) -> None:
    by_horizon = [expected_purchases(cdnow_fit, h, *cdnow) for h in (0, 1, 13, 52, 520)]
    np.testing.assert_array_equal(by_horizon[0], 0.0)
    for shorter, longer in pairwise(by_horizon):
        assert np.all(longer > shorter)


def test_probability_alive_is_a_probability_and_is_one_without_repeat_purchases(
    cdnow: Summaries, cdnow_fit: BgNbdParameters
) -> None:
    x, t_x, t = cdnow
    alive = probability_alive(cdnow_fit, x, t_x, t)
    assert np.all((alive >= 0) & (alive <= 1))
    np.testing.assert_array_equal(alive[x == 0], 1.0)
    # A long silence after frequent buying means the customer has probably left.
    quiet, recent = probability_alive(cdnow_fit, [10, 10], [5, 38], [38, 38])
    assert quiet < 0.01 < 0.9 < recent


def test_gamma_gamma_fitted_on_cdnow_repeat_buyers_reproduces_the_published_parameters(
    cdnow_spend: tuple[np.ndarray, ...],
) -> None:
    """Fader, Hardie & Lee (2005), "RFM and CLV": p=6.25, q=3.74, gamma=15.44 on 946 buyers.

    The maximum-likelihood fit here is p=6.249, q=3.745, v=15.447. The likelihood is nearly
    flat along v (moving v by 0.01 changes it by well under 0.001), so published 15.44 and the
    15.447 found here are the same optimum to the optimizers' precision; v gets 0.02 of slack.
    """
    x, _, _, zbar = cdnow_spend
    fitted = fit_gamma_gamma(x, zbar)
    assert fitted.n_customers == 946  # the customers with a repeat purchase
    assert fitted.p == pytest.approx(6.25, abs=0.01)
    assert fitted.q == pytest.approx(3.74, abs=0.01)
    assert fitted.v == pytest.approx(15.44, abs=0.02)


def test_expected_average_value_shrinks_a_customers_own_average_towards_the_population_mean() -> (
    None
):
    params = GammaGammaParameters(p=6.25, q=3.74, v=15.44, log_likelihood=0.0, n_customers=0)
    population_mean = 6.25 * 15.44 / 2.74
    no_repeat, one, many = expected_average_value(params, [0, 1, 50], [123.0, 100.0, 100.0])
    assert no_repeat == pytest.approx(population_mean)  # its monetary_value is ignored
    assert population_mean < one < many < 100.0


def test_fit_and_predict_on_cdnow_uses_both_models(cdnow_spend: tuple[np.ndarray, ...]) -> None:
    x, t_x, t, zbar = cdnow_spend
    result = fit_and_predict(x, t_x, t, zbar, horizon=39)
    assert result.method == "bgnbd_gamma_gamma"
    assert result.fallback_reason is None
    assert result.bgnbd is not None and result.gamma_gamma is not None
    assert result.expected_purchases[0] == pytest.approx(1.226, abs=0.01)
    average = expected_average_value(result.gamma_gamma, x, zbar)
    np.testing.assert_allclose(result.expected_value, result.expected_purchases * average)


def test_discounting_lowers_the_value_but_not_the_purchase_count(
    cdnow_spend: tuple[np.ndarray, ...], cdnow_fit: BgNbdParameters
) -> None:
    x, t_x, t, zbar = cdnow_spend
    spend = fit_gamma_gamma(x, zbar)
    plain = predict_clv(cdnow_fit, spend, x, t_x, t, zbar, horizon=52)
    discounted = predict_clv(cdnow_fit, spend, x, t_x, t, zbar, 52, discount_rate_per_period=0.01)
    np.testing.assert_array_equal(discounted.expected_purchases, plain.expected_purchases)
    assert np.all(discounted.expected_value < plain.expected_value)
    # Within one period everything is valued at its end: one full discount factor.
    one_period = predict_clv(cdnow_fit, spend, x, t_x, t, zbar, 1, discount_rate_per_period=0.01)
    undiscounted = predict_clv(cdnow_fit, spend, x, t_x, t, zbar, 1)
    np.testing.assert_allclose(one_period.expected_value, undiscounted.expected_value / 1.01)


def test_fit_and_predict_falls_back_to_historical_rates_with_few_repeat_buyers() -> None:
    frequency = np.array([0, 0, 0, 1, 2, 4, 0, 3, 0, 0])
    recency = np.array([0, 0, 0, 5, 10, 20, 0, 15, 0, 0])
    age = np.array([10, 20, 30, 20, 20, 40, 5, 30, 0, 1])
    monetary = np.array([0, 0, 0, 10, 20, 30, 0, 40, 0, 0])
    result = fit_and_predict(frequency, recency, age, monetary, horizon=10)
    assert result.method == "historical_rate"
    assert result.bgnbd is None and result.gamma_gamma is None
    assert result.fallback_reason is not None and "4 repeat buyers" in result.fallback_reason
    population_rate = frequency.sum() / age.sum()
    rate = (frequency + 4 * population_rate) / (age + 4)
    np.testing.assert_allclose(result.expected_purchases, rate * 10)
    repeat_value = monetary[frequency > 0].mean()
    np.testing.assert_allclose(
        result.expected_value, rate * 10 * np.where(frequency > 0, monetary, repeat_value)
    )


def test_the_fallback_does_not_extrapolate_a_few_days_of_history() -> None:
    """One repeat purchase in a customer's first day would be 365 a year at face value; the
    fallback starts such a customer near the population's rate and lets history take over."""
    frequency = np.array([1, 1, 0, 2, 0])
    recency = np.array([0.1, 50.0, 0, 40.0, 0])
    age = np.array([0.1, 100.0, 30.0, 100.0, 0.0])
    monetary = np.array([10.0, 10.0, 0.0, 20.0, 0.0])
    result = fit_and_predict(frequency, recency, age, monetary, horizon=52)
    assert result.method == "historical_rate"
    newcomer, veteran = result.expected_purchases[0], result.expected_purchases[1]
    assert newcomer < 52 * 2  # not 1 / 0.1 x 52 = 520
    assert abs(veteran - 52 * 1 / 100) < 0.2  # long history: close to its own 0.01/period
    assert result.expected_purchases[4] > 0  # a brand-new customer gets the population rate


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "field", "rule"),
    [
        ([1.5], [1.0], [2.0], "frequency", "integer-valued"),
        ([-1], [0.0], [2.0], "frequency", "non-negative"),
        ([1], [-1.0], [2.0], "recency", "non-negative"),
        ([1], [3.0], [2.0], "recency", "must not exceed age"),
        ([0], [1.0], [2.0], "recency", "must be 0 when frequency is 0"),
        ([1], [1.0], [np.nan], "age", "finite"),
        ([1, 2], [1.0], [2.0], "frequency", "lengths"),
    ],
)
def test_invalid_customer_summaries_are_rejected_naming_the_field(
    frequency: list[float], recency: list[float], age: list[float], field: str, rule: str
) -> None:
    with pytest.raises(ValueError, match=field) as raised:
        fit_bgnbd(frequency, recency, age)
    assert rule in str(raised.value)


def test_invalid_spend_and_horizon_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="monetary_value must be non-negative"):
        fit_and_predict([1], [1.0], [2.0], [-5.0], horizon=10)
    with pytest.raises(ValueError, match="monetary_value must be positive when frequency > 0"):
        fit_gamma_gamma([1, 2], [0.0, 5.0])
    with pytest.raises(ValueError, match="horizon"):
        fit_and_predict([1], [1.0], [2.0], [5.0], horizon=-1)


def simulate_bgnbd(
    rng: np.random.Generator, r: float, alpha: float, a: float, b: float, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency and recency of customers following BG/NBD, each observed for its age.

    Each customer buys at a gamma(r, alpha) Poisson rate and after every repeat purchase
    leaves for good with a beta(a, b) probability; the first purchase is at time 0.
    """
    n = len(age)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    frequency, recency, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        shopping = np.flatnonzero(active)
        clock[shopping] += rng.exponential(1 / rate[shopping])
        bought = clock[shopping] <= age[shopping]
        buyers = shopping[bought]
        frequency[buyers] += 1
        recency[buyers] = clock[buyers]
        active[shopping[~bought]] = False
        active[buyers[rng.random(len(buyers)) < dropout[buyers]]] = False
    return frequency, recency


def test_bgnbd_fit_recovers_the_parameters_of_simulated_customers() -> None:
    """5,000 simulated customers observed for one to two years (weeks) give back the truth.

    Tolerances are about four sampling standard deviations: over 100 seeds the relative
    standard deviation of the estimates was 2.6% for r, 3.8% for alpha, 6.3% for a and 9.2%
    for b (dropout is seen only through customers who stopped, so a and b are the least
    determined), with no bias beyond 1.5%. A wrong likelihood term misses by far more.
    """
    truth = {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 2.0}
    tolerance = {"r": 0.10, "alpha": 0.15, "a": 0.25, "b": 0.35}
    rng = np.random.default_rng(7)
    age = rng.uniform(52, 104, 5000)
    frequency, recency = simulate_bgnbd(rng, **truth, age=age)
    fitted = fit_bgnbd(frequency, recency, age)
    for name, value in truth.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=tolerance[name]), name
