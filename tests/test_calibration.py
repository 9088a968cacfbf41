"""Tests of mtrank_lite.calibration, with field cases 1 and 2."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from mtrank_lite.calibration import (
    calibrate,
    calibrate_logit,
    inflate,
    reliability_curve,
)
from mtrank_lite.sampling import downsample_negatives

EPSILON = np.finfo(np.float64).eps

probabilities = st.floats(min_value=0.0, max_value=1.0)
# Below 1e-3 the round trip is still right to rounding, but the rounding is
# amplified by 1 / alpha (see round_trip_tolerance), so the bound stops meaning
# much; the course's keep rates are well above it.
keep_rates = st.floats(min_value=1e-3, max_value=1.0)


def sigmoid(logit):
    return 1.0 / (1.0 + math.exp(-logit))


def logit(probability):
    return math.log(probability / (1.0 - probability))


def round_trip_tolerance(alpha):
    # inflate pushes values towards 1, where a float carries absolute precision
    # EPSILON; calibrate stretches that gap back by 1 / alpha. Measured error is
    # below EPSILON / alpha; 4 * EPSILON / alpha leaves room for a few roundings.
    return 4.0 * EPSILON / alpha


# Values of the formula p_true = alpha p / (1 - p + alpha p), worked by hand.


@pytest.mark.parametrize(
    "p, alpha, expected",
    [
        (100 / 190, 0.1, 0.1),
        (0.5, 0.5, 1 / 3),
        (0.5, 0.1, 1 / 11),
        (0.2, 1.0, 0.2),
        (0.0, 0.3, 0.0),
        (1.0, 0.3, 1.0),
        (0.0, 1e-9, 0.0),
        (1.0, 1e-9, 1.0),
    ],
)
def test_calibrate_known_values(p, alpha, expected):
    assert calibrate(p, alpha) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "p, alpha, expected",
    [
        (0.1, 0.1, 100 / 190),
        (1 / 3, 0.5, 0.5),
        (1 / 11, 0.1, 0.5),
        (0.2, 1.0, 0.2),
        (0.0, 0.3, 0.0),
        (1.0, 0.3, 1.0),
    ],
)
def test_inflate_known_values(p, alpha, expected):
    assert inflate(p, alpha) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("alpha", [1e-3, 0.05, 0.1, 0.5, 0.9, 1.0])
def test_calibrate_and_inflate_match_the_textbook_formulas(alpha):
    # The formulas as the chapter writes them, fine away from the end points.
    p = np.linspace(0.0, 1.0, 1001)
    textbook_calibrated = alpha * p / (1.0 - p + alpha * p)
    textbook_inflated = p / (p + alpha * (1.0 - p))

    np.testing.assert_allclose(calibrate(p, alpha), textbook_calibrated, rtol=1e-13)
    np.testing.assert_allclose(inflate(p, alpha), textbook_inflated, rtol=1e-13)


# Properties.


@settings(deadline=None)
@given(p=probabilities, alpha=keep_rates)
def test_calibrate_undoes_inflate(p, alpha):
    back = calibrate(inflate(p, alpha), alpha)

    assert math.isclose(back, p, rel_tol=1e-12, abs_tol=round_trip_tolerance(alpha))


@settings(deadline=None)
@given(p=probabilities, alpha=keep_rates)
def test_inflate_undoes_calibrate(p, alpha):
    back = inflate(calibrate(p, alpha), alpha)

    assert math.isclose(back, p, rel_tol=1e-12, abs_tol=4.0 * EPSILON)


@settings(deadline=None)
@given(first=probabilities, second=probabilities, alpha=keep_rates)
def test_both_maps_are_monotone_in_p(first, second, alpha):
    low, high = sorted([first, second])

    assert calibrate(low, alpha) <= calibrate(high, alpha)
    assert inflate(low, alpha) <= inflate(high, alpha)


@settings(deadline=None)
@given(p=probabilities, first=keep_rates, second=keep_rates)
def test_calibrate_grows_and_inflate_shrinks_with_alpha(p, first, second):
    low, high = sorted([first, second])

    assert calibrate(p, low) <= calibrate(p, high)
    assert inflate(p, low) >= inflate(p, high)


@settings(deadline=None)
@given(p=probabilities)
def test_alpha_one_is_the_identity(p):
    assert calibrate(p, 1.0) == p
    assert inflate(p, 1.0) == p
    assert calibrate_logit(p, 1.0) == p


@settings(deadline=None)
@given(p=probabilities, alpha=keep_rates)
def test_calibrate_lowers_and_inflate_raises(p, alpha):
    assert 0.0 <= calibrate(p, alpha) <= p <= inflate(p, alpha) <= 1.0


@pytest.mark.parametrize("alpha", [1e-6, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("end_point", [0.0, 1.0])
def test_end_points_map_to_themselves(end_point, alpha):
    assert calibrate(end_point, alpha) == end_point
    assert inflate(end_point, alpha) == end_point


@settings(deadline=None)
@given(
    p=st.floats(min_value=1e-9, max_value=1.0 - 1e-9),
    alpha=keep_rates,
)
def test_shifting_the_logit_is_calibrating_the_probability(p, alpha):
    shifted = sigmoid(calibrate_logit(logit(p), alpha))

    assert math.isclose(shifted, calibrate(p, alpha), rel_tol=1e-9, abs_tol=1e-15)


# Shapes and types.


@pytest.mark.parametrize("function", [calibrate, inflate, calibrate_logit])
@pytest.mark.parametrize("number", [0.25, 0, 1, np.float64(0.25), np.float32(0.25)])
def test_a_number_gives_a_python_float(function, number):
    assert type(function(number, 0.5)) is float


@pytest.mark.parametrize("function", [calibrate, inflate, calibrate_logit])
@pytest.mark.parametrize("shape", [(0,), (5,), (2, 3), (2, 1, 4)])
def test_an_array_keeps_its_shape_and_matches_elementwise(function, shape):
    values = np.random.default_rng(0).random(shape)
    original = values.copy()

    result = function(values, 0.3)

    assert isinstance(result, np.ndarray)
    assert result.shape == shape
    assert result.dtype == np.float64
    np.testing.assert_array_equal(values, original)
    expected = [function(float(value), 0.3) for value in values.ravel()]
    np.testing.assert_array_equal(result.ravel(), expected)


@pytest.mark.parametrize("function", [calibrate, inflate, calibrate_logit])
def test_a_series_keeps_its_index_and_name(function):
    series = pd.Series([0.1, 0.5, 0.9], index=["a", "b", "c"], name="click")

    result = function(series, 0.2)

    assert isinstance(result, pd.Series)
    assert result.index.tolist() == ["a", "b", "c"]
    assert result.name == "click"


def test_a_list_gives_an_array():
    result = calibrate([0.0, 0.5, 1.0], 0.5)

    np.testing.assert_allclose(result, [0.0, 1 / 3, 1.0])


@pytest.mark.parametrize("logit_value", [-math.inf, math.inf])
def test_calibrate_logit_passes_infinities(logit_value):
    assert calibrate_logit(logit_value, 0.1) == logit_value


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_calibrate_logit_adds_log_alpha(alpha):
    logits = np.array([-3.0, 0.0, 2.5])

    np.testing.assert_allclose(calibrate_logit(logits, alpha), logits + math.log(alpha))


# Bad input: every message names the argument and the value.


@pytest.mark.parametrize("function", [calibrate, inflate, calibrate_logit])
@pytest.mark.parametrize(
    "alpha, error, message",
    [
        (0, ValueError, r"alpha must be in \(0, 1\], got 0$"),
        (0.0, ValueError, r"alpha must be in \(0, 1\], got 0\.0$"),
        (1.5, ValueError, r"alpha must be in \(0, 1\], got 1\.5$"),
        (-0.1, ValueError, r"alpha must be in \(0, 1\], got -0\.1$"),
        (math.nan, ValueError, r"alpha must be in \(0, 1\], got nan$"),
        ("0.5", TypeError, r"alpha must be a real number, got '0\.5' \(str\)"),
        (None, TypeError, r"alpha must be a real number, got None \(NoneType\)"),
        (True, TypeError, r"alpha must be a real number, got True \(bool\)"),
    ],
)
def test_bad_alpha_is_refused(function, alpha, error, message):
    with pytest.raises(error, match=message):
        function(0.5, alpha)


@pytest.mark.parametrize("function", [calibrate, inflate])
@pytest.mark.parametrize(
    "p, error, message",
    [
        (1.2, ValueError, r"p must be a probability in \[0, 1\], got 1\.2$"),
        (-0.1, ValueError, r"p must be a probability in \[0, 1\], got -0\.1$"),
        (math.nan, ValueError, r"p must be a probability in \[0, 1\], got nan$"),
        (
            [0.1, 0.2, 0.3, 1.2],
            ValueError,
            r"p must hold probabilities in \[0, 1\], got 1\.2 at index 3$",
        ),
        (
            np.array([[0.1, 0.2], [math.nan, 0.4]]),
            ValueError,
            r"p must hold probabilities in \[0, 1\], got nan at index \(1, 0\)$",
        ),
        (
            pd.Series([0.1, -0.1], index=["u1", "u2"]),
            ValueError,
            r"p must hold probabilities in \[0, 1\], got -0\.1 at index 'u2'$",
        ),
        (
            [0.1, math.inf],
            ValueError,
            r"p must hold probabilities in \[0, 1\], got inf at index 1$",
        ),
        ("0.5", TypeError, r"p must be a number or an array of numbers, got '0\.5'"),
        ([0.5, None], TypeError, r"p must hold numbers, got None at index 1"),
        (["0.1", "0.2"], TypeError, r"p must hold numbers, got '0\.1' at index 0"),
        (
            pd.DataFrame({"click": [0.5]}),
            TypeError,
            r"p must be a number or an array of numbers, got a DataFrame with "
            r"columns \['click'\]",
        ),
    ],
)
def test_bad_probabilities_are_refused(function, p, error, message):
    with pytest.raises(error, match=message):
        function(p, 0.5)


@pytest.mark.parametrize(
    "logit_values, message",
    [
        (math.nan, r"logit must not hold NaN, got nan$"),
        ([0.0, math.nan], r"logit must not hold NaN, got nan at index 1$"),
    ],
)
def test_calibrate_logit_refuses_nan(logit_values, message):
    with pytest.raises(ValueError, match=message):
        calibrate_logit(logit_values, 0.5)


# Field case 1: correct a downsampled model by shifting its logit by ln alpha;
# scaling the intercept by alpha is wrong.


def test_case_1_bias_only_model_is_corrected_by_a_shift_not_a_scaling():
    # A bias-only click model fitted on 100 clicks and 90 non-clicks, the
    # non-clicks kept at 10 %: the fitted rate is the sample rate 100 / 190.
    labels = np.r_[np.ones(100), np.zeros(90)]
    model = LogisticRegression(C=np.inf, tol=1e-10).fit(np.zeros((190, 1)), labels)
    intercept = model.intercept_[0]
    assert sigmoid(intercept) == pytest.approx(100 / 190, abs=1e-6)

    assert calibrate(sigmoid(intercept), 0.1) == pytest.approx(0.1000, abs=1e-6)
    assert sigmoid(calibrate_logit(intercept, 0.1)) == pytest.approx(0.1, abs=1e-6)

    # The wrong correction, for contrast: about 0.503, five times too high.
    assert sigmoid(0.1 * intercept) == pytest.approx(0.503, abs=5e-4)


def test_case_1_exact_values():
    sample_rate = 100 / 190

    assert calibrate(sample_rate, 0.1) == pytest.approx(0.1, rel=1e-12)
    assert sigmoid(calibrate_logit(logit(sample_rate), 0.1)) == pytest.approx(
        0.1, rel=1e-12
    )
    assert sigmoid(0.1 * logit(sample_rate)) == pytest.approx(0.50263, abs=1e-5)


# Field case 2: each task needs the keep rate its own negatives were sampled at.


def case_2_log(n_impressions=1000, n_clicks=100, n_conversions=10):
    # Clicks are the first rows, and conversions the first of the clicks.
    click = np.zeros(n_impressions, dtype=np.int64)
    click[:n_clicks] = 1
    conversion = np.zeros(n_impressions, dtype=np.int64)
    conversion[:n_conversions] = 1
    return pd.DataFrame({"click": click, "conversion": conversion})


def test_case_2_exact_sample_of_190_rows():
    log = case_2_log()
    # Every click and every tenth non-click: 90 of 900, a keep rate of exactly 0.1.
    kept_negatives = log.index[log["click"] == 0][::10]
    sample = log[(log["click"] == 1) | log.index.isin(kept_negatives)]
    assert len(sample) == 190

    click_rate = sample["click"].mean()
    assert click_rate == pytest.approx(100 / 190)
    assert calibrate(click_rate, 0.1) == pytest.approx(0.100, rel=1e-12)

    # Conversions per impression: 10 / 190 in the sample, and the negatives of
    # this task (no conversion) were kept at 180 / 990, not at 0.1.
    conversion_rate = sample["conversion"].mean()
    conversion_keep_rate = (sample["conversion"] == 0).sum() / (
        log["conversion"] == 0
    ).sum()
    assert conversion_rate == pytest.approx(10 / 190)
    assert conversion_keep_rate == pytest.approx(180 / 990)
    assert calibrate(conversion_rate, conversion_keep_rate) == pytest.approx(
        0.0100, rel=1e-12
    )
    assert calibrate(conversion_rate, 0.1) == pytest.approx(0.0055, abs=5e-5)
    assert calibrate(conversion_rate, 0.1) == pytest.approx(1 / 181, rel=1e-12)

    # The per-click view needs no keep rate of its own: the rate given a click
    # is unchanged by downsampling, and times the calibrated click rate it is
    # the rate per impression.
    per_click = sample.loc[sample["click"] == 1, "conversion"].mean()
    assert per_click == log.loc[log["click"] == 1, "conversion"].mean()
    assert calibrate(click_rate, 0.1) * per_click == pytest.approx(0.0100, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_case_2_seeded_downsampling(seed):
    # Scaled up 100 times so that sampling noise is small: 90,000 non-clicks
    # kept at 0.1 leave K ~ Binomial(90000, 0.1) = 9000 +- 296 at 99.9 %.
    log = case_2_log(100_000, 10_000, 1_000)
    sample = downsample_negatives(log, 0.1, label="click", seed=seed)

    # calibrate(C / (C + K), 0.1) = 1000 / (1000 + K): within 0.1 +- 0.0035.
    assert calibrate(sample["click"].mean(), 0.1) == pytest.approx(0.1, abs=0.004)

    # Non-conversions are the 9000 clicks without one, all kept, plus the kept
    # non-clicks: in expectation 18000 of 99000, the rate 180 / 990.
    conversion_rate = sample["conversion"].mean()
    assert calibrate(conversion_rate, 180 / 990) == pytest.approx(0.0100, abs=2e-4)
    assert calibrate(conversion_rate, 0.1) == pytest.approx(0.0055, abs=1e-4)

    # With the keep rate that was realized, the correction is exact.
    realized = (sample["click"] == 0).sum() / (log["click"] == 0).sum()
    assert calibrate(sample["click"].mean(), realized) == pytest.approx(0.1, rel=1e-9)


# Reliability curves.


def test_reliability_curve_small_example():
    curve = reliability_curve(
        [0, 0, 1, 1, 0], [0.05, 0.15, 0.15, 0.95, 1.0], n_bins=10
    )

    assert curve.columns.tolist() == [
        "bin_lower",
        "bin_upper",
        "mean_predicted",
        "fraction_positive",
        "count",
    ]
    # Bins 0, 1 and 9 are filled; the empty ones are dropped; 1.0 is in bin 9.
    np.testing.assert_allclose(curve["bin_lower"], [0.0, 0.1, 0.9])
    np.testing.assert_allclose(curve["bin_upper"], [0.1, 0.2, 1.0])
    np.testing.assert_allclose(curve["mean_predicted"], [0.05, 0.15, 0.975])
    np.testing.assert_allclose(curve["fraction_positive"], [0.0, 0.5, 0.5])
    assert curve["count"].tolist() == [1, 2, 2]


@pytest.mark.parametrize("n_bins", [1, 2, 10])
def test_a_probability_of_one_lands_in_the_last_bin(n_bins):
    curve = reliability_curve([1], [1.0], n_bins=n_bins)

    assert curve["bin_upper"].tolist() == [1.0]
    assert curve["count"].tolist() == [1]


def test_a_probability_on_an_inner_edge_opens_the_next_bin():
    curve = reliability_curve([0, 1], [0.3, 0.7], n_bins=10)

    assert curve["bin_lower"].tolist() == [0.3, 0.7]


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_calibrated_model_lies_on_the_diagonal(strategy, seed):
    rng = np.random.default_rng(seed)
    p_true = rng.random(200_000)
    labels = rng.random(200_000) < p_true

    curve = reliability_curve(labels, p_true, n_bins=10, strategy=strategy)

    # The fraction of positives in a bin is a binomial mean: 99.9 % within
    # 3.29 standard errors of the mean probability (a little more across bins).
    standard_error = np.sqrt(
        curve["mean_predicted"] * (1 - curve["mean_predicted"]) / curve["count"]
    )
    gap = (curve["fraction_positive"] - curve["mean_predicted"]).abs()
    assert (gap <= 4.0 * standard_error).all()
    assert curve["count"].sum() == 200_000
    assert (curve["bin_lower"] <= curve["mean_predicted"]).all()
    assert (curve["mean_predicted"] <= curve["bin_upper"]).all()


def test_a_downsampled_model_lies_below_the_diagonal_until_calibrated():
    rng = np.random.default_rng(3)
    p_true = rng.uniform(0.0, 0.3, 100_000)
    labels = rng.random(100_000) < p_true
    inflated = inflate(p_true, 0.1)

    before = reliability_curve(labels, inflated, n_bins=5, strategy="quantile")
    after = reliability_curve(labels, calibrate(inflated, 0.1), n_bins=5)

    assert (before["fraction_positive"] < before["mean_predicted"] - 0.05).all()
    gap = (after["fraction_positive"] - after["mean_predicted"]).abs()
    assert gap.max() < 0.01


def test_quantile_bins_hold_about_equal_counts():
    y_prob = np.random.default_rng(4).random(1000)
    labels = np.zeros(1000, dtype=int)

    curve = reliability_curve(labels, y_prob, n_bins=4, strategy="quantile")

    assert len(curve) == 4
    assert (curve["count"] - 250).abs().max() <= 1


def test_quantile_bins_of_equal_predictions_merge_into_one():
    curve = reliability_curve([0, 1, 1], [0.4, 0.4, 0.4], strategy="quantile")

    assert curve["count"].tolist() == [3]
    assert curve["mean_predicted"].tolist() == [pytest.approx(0.4)]


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (
            {"n_bins": 0},
            ValueError,
            r"n_bins must be a positive integer, got 0$",
        ),
        (
            {"n_bins": 2.5},
            TypeError,
            r"n_bins must be a positive integer, got 2\.5 \(float\)",
        ),
        (
            {"strategy": "median"},
            ValueError,
            r"strategy must be 'uniform' or 'quantile', got 'median'",
        ),
        (
            {"strategy": 3},
            TypeError,
            r"strategy must be 'uniform' or 'quantile', got 3 \(int\)",
        ),
        (
            {"y_prob": [0.1, 1.2]},
            ValueError,
            r"y_prob must hold probabilities in \[0, 1\], got 1\.2 at index 1",
        ),
        (
            {"y_true": [0, 2]},
            ValueError,
            r"y_true must hold labels in \{0, 1\}, got 2 at index 1",
        ),
        (
            {"y_true": [0]},
            ValueError,
            r"y_true and y_prob must have the same length, got 1 and 2",
        ),
        (
            {"y_true": [], "y_prob": []},
            ValueError,
            r"y_true must not be empty, got shape \(0,\)",
        ),
    ],
)
def test_reliability_curve_refuses_bad_input(arguments, error, message):
    call = {"y_true": [0, 1], "y_prob": [0.1, 0.9], **arguments}

    with pytest.raises(error, match=message):
        reliability_curve(**call)
