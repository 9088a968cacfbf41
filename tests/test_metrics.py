"""Tests of mtrank_lite.metrics, with field cases 5, 6 and 7."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from mtrank_lite.calibration import calibrate, inflate
from mtrank_lite.metrics import (
    UndefinedMetricWarning,
    auc,
    calibration_ratio,
    compare_to_oracle,
    ece,
    evaluate,
    logloss,
    normalized_entropy,
    oracle_metrics,
)

SEEDS = [0, 1, 2]


def random_labels_and_probabilities(seed, n_samples=500, decimals=None):
    """Labels drawn from their probabilities, optionally rounded to make ties."""
    rng = np.random.default_rng(seed)
    probabilities = rng.random(n_samples)
    labels = (rng.random(n_samples) < probabilities).astype(np.int64)
    if decimals is not None:
        probabilities = np.round(probabilities, decimals)
    return labels, probabilities


def slow_auc(labels, scores):
    """AUC by definition: every (positive, negative) pair, ties count one half."""
    positives = [score for label, score in zip(labels, scores) if label == 1]
    negatives = [score for label, score in zip(labels, scores) if label == 0]
    wins = 0.0
    for positive in positives:
        for negative in negatives:
            if positive > negative:
                wins += 1.0
            elif positive == negative:
                wins += 0.5
    return wins / (len(positives) * len(negatives))


def slow_ece(labels, probabilities, n_bins):
    """ECE by definition, one bin at a time; the last bin also holds 1.0."""
    total = 0.0
    for bin_number in range(n_bins):
        lower = bin_number / n_bins
        upper = (bin_number + 1) / n_bins
        is_last = bin_number == n_bins - 1
        members = [
            position
            for position, probability in enumerate(probabilities)
            if lower <= probability < upper or (is_last and probability == upper)
        ]
        if not members:
            continue
        mean_predicted = sum(probabilities[i] for i in members) / len(members)
        fraction_positive = sum(labels[i] for i in members) / len(members)
        total += len(members) * abs(mean_predicted - fraction_positive)
    return total / len(probabilities)


# AUC.


def test_case_5_tied_pairs_count_one_half():
    assert auc([0, 1, 1], [0.5, 0.9, 0.5]) == 0.75


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0], [1]])
def test_case_5_one_class_gives_nan_and_a_warning(labels):
    scores = [0.5] * len(labels)

    with pytest.warns(UndefinedMetricWarning, match="auc is undefined when y_true"):
        value = auc(labels, scores)

    assert math.isnan(value)


def test_the_warning_category_is_a_user_warning():
    assert issubclass(UndefinedMetricWarning, UserWarning)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decimals", [None, 2, 1, 0])
@pytest.mark.parametrize("n_samples", [20, 1000])
def test_auc_matches_scikit_learn(seed, decimals, n_samples):
    labels, scores = random_labels_and_probabilities(seed, n_samples, decimals)

    assert auc(labels, scores) == pytest.approx(
        roc_auc_score(labels, scores), rel=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_matches_the_pairwise_definition(seed, decimals):
    labels, scores = random_labels_and_probabilities(seed, 200, decimals)

    assert auc(labels, scores) == pytest.approx(slow_auc(labels, scores), rel=1e-12)


@pytest.mark.parametrize(
    "labels, scores, expected",
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
        ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3], 0.5),
        ([0, 1], [-math.inf, math.inf], 1.0),
        ([0, 1, 1], [-4.0, 7.5, 12.0], 1.0),
        ([True, False], [1, 0], 1.0),
    ],
)
def test_auc_edge_values(labels, scores, expected):
    assert auc(labels, scores) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_calibration_does_not_change_auc(seed):
    labels, probabilities = random_labels_and_probabilities(seed)

    assert auc(labels, calibrate(probabilities, 0.1)) == pytest.approx(
        auc(labels, probabilities), rel=1e-12
    )


# Log loss.


def test_case_6_log_loss_of_a_one_class_slice():
    value = logloss([1, 1, 1], [0.9, 0.9, 0.9])

    assert value == pytest.approx(0.1054, abs=5e-5)
    assert value == pytest.approx(-math.log(0.9), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decimals", [None, 2])
def test_logloss_matches_scikit_learn(seed, decimals):
    labels, probabilities = random_labels_and_probabilities(seed, 1000, decimals)
    # Away from 0 and 1, where the two clip at different bounds.
    probabilities = np.clip(probabilities, 0.001, 0.999)

    assert logloss(labels, probabilities) == pytest.approx(
        log_loss(labels, probabilities), rel=1e-12
    )


@pytest.mark.parametrize(
    "labels, probabilities, expected",
    [
        # Clipped to eps: -ln(1e-15), about 34.539.
        ([1], [0.0], -math.log(1e-15)),
        # Clipped to 1 - eps, which rounds to 1 - 0.999e-15 in float64.
        ([0], [1.0], -math.log1p(-(1 - 1e-15))),
    ],
)
def test_a_certain_mistake_costs_the_clipped_loss(labels, probabilities, expected):
    assert logloss(labels, probabilities) == pytest.approx(expected, rel=1e-12)
    assert logloss(labels, probabilities) == pytest.approx(34.54, abs=0.01)


def test_eps_zero_gives_an_infinite_loss_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = logloss([1, 0], [0.0, 0.5], eps=0.0)

    assert value == math.inf


@pytest.mark.parametrize(
    "eps, error, message",
    [
        (0.5, ValueError, r"eps must be in \[0, 0\.5\), got 0\.5$"),
        (-1e-3, ValueError, r"eps must be in \[0, 0\.5\), got -0\.001$"),
        (math.nan, ValueError, r"eps must be in \[0, 0\.5\), got nan$"),
        ("1e-15", TypeError, r"eps must be a real number, got '1e-15' \(str\)"),
    ],
)
def test_bad_eps_is_refused(eps, error, message):
    with pytest.raises(error, match=message):
        logloss([0, 1], [0.2, 0.8], eps=eps)


# Normalized entropy.


@pytest.mark.parametrize("base_rate_labels", [[0, 1], [0, 0, 0, 1], [1, 1, 1, 0, 0]])
def test_predicting_the_base_rate_gives_normalized_entropy_one(base_rate_labels):
    base_rate = np.mean(base_rate_labels)
    predictions = [base_rate] * len(base_rate_labels)

    assert normalized_entropy(base_rate_labels, predictions) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_normalized_entropy_is_log_loss_over_base_rate_entropy(seed):
    labels, probabilities = random_labels_and_probabilities(seed)
    rate = labels.mean()
    entropy = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))

    value = normalized_entropy(labels, probabilities)

    assert value == pytest.approx(logloss(labels, probabilities) / entropy)
    assert value < 1.0


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0]])
def test_normalized_entropy_of_one_class_is_nan_with_a_warning(labels):
    predictions = [0.5] * len(labels)

    with pytest.warns(UndefinedMetricWarning, match="normalized_entropy is undefined"):
        value = normalized_entropy(labels, predictions)

    assert math.isnan(value)


# Expected calibration error.


def test_case_7_a_probability_of_one_counts_in_the_last_bin():
    assert ece([1, 0], [0.95, 1.0], n_bins=10) == pytest.approx(0.475, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_bins", [1, 3, 10, 15])
def test_ece_matches_the_bin_by_bin_definition(seed, n_bins):
    labels, probabilities = random_labels_and_probabilities(seed, 400)
    # Put some predictions exactly on edges, and at 0 and 1.
    edges = np.arange(n_bins + 1) / n_bins
    probabilities[: n_bins + 1] = edges
    probabilities[-5:] = 1.0

    expected = slow_ece(labels.tolist(), probabilities.tolist(), n_bins)

    assert ece(labels, probabilities, n_bins=n_bins) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_ece_of_a_calibrated_model_is_small(seed):
    labels, probabilities = random_labels_and_probabilities(seed, 100_000)

    assert ece(labels, probabilities) < 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_ece_sees_the_inflation_that_auc_does_not(seed):
    labels, probabilities = random_labels_and_probabilities(seed, 20_000)
    probabilities = 0.2 * probabilities
    labels = (np.random.default_rng(seed + 10).random(20_000) < probabilities) * 1
    inflated = inflate(probabilities, 0.1)

    assert ece(labels, inflated) > 0.3
    assert ece(labels, calibrate(inflated, 0.1)) < 0.02
    assert auc(labels, inflated) == pytest.approx(auc(labels, probabilities))


@pytest.mark.parametrize(
    "n_bins, error, message",
    [
        (0, ValueError, r"n_bins must be a positive integer, got 0$"),
        (-3, ValueError, r"n_bins must be a positive integer, got -3$"),
        (2.0, TypeError, r"n_bins must be a positive integer, got 2\.0 \(float\)"),
        ("10", TypeError, r"n_bins must be a positive integer, got '10' \(str\)"),
    ],
)
def test_bad_n_bins_is_refused(n_bins, error, message):
    with pytest.raises(error, match=message):
        ece([0, 1], [0.2, 0.8], n_bins=n_bins)


# Calibration ratio.


@pytest.mark.parametrize(
    "labels, probabilities, expected",
    [
        ([0, 1, 0, 0], [0.5, 0.5, 0.5, 0.5], 2.0),
        ([0, 1], [0.25, 0.75], 1.0),
        ([1, 1], [0.5, 0.5], 0.5),
    ],
)
def test_calibration_ratio_values(labels, probabilities, expected):
    assert calibration_ratio(labels, probabilities) == pytest.approx(expected)


def test_calibration_ratio_without_positives_is_nan_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="calibration_ratio is undefined"):
        value = calibration_ratio([0, 0], [0.1, 0.2])

    assert math.isnan(value)


# evaluate and oracle_metrics.


@pytest.mark.parametrize("seed", SEEDS)
def test_evaluate_gathers_the_single_metrics(seed):
    labels, probabilities = random_labels_and_probabilities(seed)

    result = evaluate(labels, probabilities)

    assert list(result) == [
        "auc",
        "logloss",
        "normalized_entropy",
        "ece",
        "mean_predicted",
        "observed_rate",
    ]
    assert result["auc"] == auc(labels, probabilities)
    assert result["logloss"] == logloss(labels, probabilities)
    assert result["normalized_entropy"] == normalized_entropy(labels, probabilities)
    assert result["ece"] == ece(labels, probabilities)
    assert result["mean_predicted"] == pytest.approx(probabilities.mean())
    assert result["observed_rate"] == pytest.approx(labels.mean())
    assert all(type(value) is float for value in result.values())


def test_oracle_metrics_are_evaluate_on_the_truth():
    labels, probabilities = random_labels_and_probabilities(5)

    assert oracle_metrics(labels, probabilities) == evaluate(labels, probabilities)


def test_oracle_metrics_names_p_true_in_errors():
    with pytest.raises(ValueError, match=r"p_true must hold probabilities .* got 1\.5"):
        oracle_metrics([0, 1], [0.5, 1.5])


def test_evaluate_on_one_class_warns_for_auc_and_normalized_entropy():
    with pytest.warns(UndefinedMetricWarning) as record:
        result = evaluate([1, 1, 1], [0.9, 0.9, 0.9])

    assert len(record) == 2
    assert math.isnan(result["auc"])
    assert math.isnan(result["normalized_entropy"])
    assert result["logloss"] == pytest.approx(0.1054, abs=5e-5)


# Bad input shared by every metric: messages name the argument and the value.

METRICS = [auc, logloss, normalized_entropy, ece, calibration_ratio, evaluate]


def score_name(metric):
    return "y_score" if metric is auc else "y_prob"


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    "y_true, y_prob, error, message",
    [
        (
            [0, 1, 1],
            [0.2, 0.8],
            ValueError,
            r"y_true and {score} must have the same length, got 3 and 2",
        ),
        ([], [], ValueError, r"y_true must not be empty, got shape \(0,\)"),
        (
            [0, 1, 2],
            [0.1, 0.2, 0.3],
            ValueError,
            r"y_true must hold labels in \{{0, 1\}}, got 2 at index 2",
        ),
        (
            [0, math.nan],
            [0.1, 0.2],
            ValueError,
            r"y_true must hold labels in \{{0, 1\}}, got nan at index 1",
        ),
        (
            [[0, 1], [1, 0]],
            [[0.1, 0.2], [0.3, 0.4]],
            ValueError,
            r"y_true must be one-dimensional, got shape \(2, 2\)",
        ),
        (
            ["0", "1"],
            [0.1, 0.2],
            TypeError,
            r"y_true must hold numbers, got '0' at index 0 \(str\)",
        ),
        (
            [0, 1],
            [0.1, "0.2"],
            TypeError,
            r"{score} must hold numbers, got '0\.1' at index 0 \(str\)",
        ),
    ],
)
def test_bad_pairs_are_refused(metric, y_true, y_prob, error, message):
    with pytest.raises(error, match=message.format(score=score_name(metric))):
        metric(y_true, y_prob)


@pytest.mark.parametrize(
    "metric", [logloss, normalized_entropy, ece, calibration_ratio, evaluate]
)
@pytest.mark.parametrize(
    "y_prob, message",
    [
        ([0.1, 0.2, 0.3, 1.2], r"got 1\.2 at index 3$"),
        ([0.1, -0.1, 0.3, 0.4], r"got -0\.1 at index 1$"),
        ([math.nan, 0.2, 0.3, 0.4], r"got nan at index 0$"),
    ],
)
def test_probabilities_outside_the_unit_interval_are_refused(metric, y_prob, message):
    with pytest.raises(
        ValueError, match=r"y_prob must hold probabilities in \[0, 1\], " + message
    ):
        metric([0, 1, 0, 1], y_prob)


def test_auc_takes_any_real_scores_but_not_nan():
    assert auc([0, 1], [-3.0, 42.0]) == 1.0

    message = r"y_score must not hold NaN, got nan at index 1"
    with pytest.raises(ValueError, match=message):
        auc([0, 1], [0.5, math.nan])


def test_series_errors_give_the_index_label():
    y_prob = pd.Series([0.2, 1.7], index=[101, 205])

    with pytest.raises(ValueError, match=r"got 1\.7 at index 205$"):
        logloss(pd.Series([0, 1], index=[101, 205]), y_prob)


# compare_to_oracle.

TASKS = ("click", "like", "collect", "share")


def synthetic_log(n_rows=20_000, seed=0):
    """A log with the columns of world.impressions that the metrics read."""
    rng = np.random.default_rng(seed)
    truth = {
        "p_click": rng.uniform(0.02, 0.2, n_rows),
        "p_like": rng.uniform(0.02, 0.3, n_rows),
        "p_collect": rng.uniform(0.01, 0.1, n_rows),
        "p_share": rng.uniform(0.01, 0.05, n_rows),
    }
    click = rng.random(n_rows) < truth["p_click"]
    labels = {"click": click.astype(np.int64)}
    for task in TASKS[1:]:
        # The conditional labels can be 1 only where click is 1.
        happened = rng.random(n_rows) < truth[f"p_{task}"]
        labels[task] = (click & happened).astype(np.int64)
    return pd.DataFrame({**labels, **truth})


def truth_as_predictions(log):
    return pd.DataFrame({task: log[f"p_{task}"] for task in TASKS})


@pytest.mark.parametrize("seed", SEEDS)
def test_the_truth_scores_exactly_the_oracle(seed):
    log = synthetic_log(seed=seed)

    table = compare_to_oracle(log, truth_as_predictions(log))

    assert table.index.tolist() == list(TASKS)
    assert table.shape == (4, 12)
    for metric in ("auc", "logloss", "normalized_entropy", "ece", "mean_predicted"):
        assert table[f"model_{metric}"].tolist() == table[f"oracle_{metric}"].tolist()


@pytest.mark.parametrize("seed", SEEDS)
def test_conditional_tasks_are_scored_on_clicked_rows_only(seed):
    log = synthetic_log(seed=seed)
    clicked = log["click"] == 1
    predictions = truth_as_predictions(log)
    # Nonsense on rows without a click must not count for like, collect, share.
    noisy = predictions.copy()
    for task in TASKS[1:]:
        noisy.loc[~clicked, task] = 0.99

    table = compare_to_oracle(log, noisy)

    assert table.loc["click", "n_samples"] == len(log)
    for task in TASKS[1:]:
        assert table.loc[task, "n_samples"] == clicked.sum()
        expected = evaluate(log.loc[clicked, task], predictions.loc[clicked, task])
        assert table.loc[task, "model_auc"] == expected["auc"]
        assert table.loc[task, "model_logloss"] == expected["logloss"]
        assert table.loc[task, "observed_rate"] == expected["observed_rate"]


def test_an_uncalibrated_click_head_is_seen_by_log_loss_not_by_auc():
    log = synthetic_log(seed=4)
    predictions = truth_as_predictions(log)
    predictions["click"] = inflate(log["p_click"], 0.1)

    row = compare_to_oracle(log, predictions, tasks=["click"]).loc["click"]

    assert row["model_auc"] == pytest.approx(row["oracle_auc"], rel=1e-12)
    assert row["model_logloss"] > 2 * row["oracle_logloss"]
    assert row["model_mean_predicted"] > 3 * row["oracle_mean_predicted"]


def test_predictions_are_matched_by_position_not_index():
    log = synthetic_log(n_rows=2000, seed=1)
    predictions = truth_as_predictions(log).set_axis(range(5000, 7000))

    table = compare_to_oracle(log, predictions, tasks="click")

    assert table.loc["click", "model_auc"] == table.loc["click", "oracle_auc"]


def test_a_conditional_task_without_clicks_gives_nan_and_a_warning():
    log = synthetic_log(n_rows=50, seed=0)
    log[list(TASKS)] = 0

    with pytest.warns(UndefinedMetricWarning, match="'like' has no clicked row"):
        table = compare_to_oracle(log, truth_as_predictions(log), tasks=["like"])

    assert table.loc["like", "n_samples"] == 0
    assert math.isnan(table.loc["like", "model_auc"])


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda log, predictions: (log.drop(columns="p_like"), predictions),
            ValueError,
            r"frame has no column 'p_like'; its columns are \['click'",
        ),
        (
            lambda log, predictions: (log, predictions.drop(columns=["share"])),
            ValueError,
            r"predictions has no column 'share'; its columns are \['click', 'like'",
        ),
        (
            lambda log, predictions: (log, predictions.iloc[:-1]),
            ValueError,
            r"frame and predictions must have the same length, got 300 and 299",
        ),
        (
            lambda log, predictions: (log.iloc[:0], predictions.iloc[:0]),
            ValueError,
            r"frame must not be empty, got 0 rows",
        ),
        (
            lambda log, predictions: (log, predictions.to_numpy()),
            TypeError,
            r"predictions must be a pandas DataFrame, got ndarray",
        ),
        (
            lambda log, predictions: (log, predictions.assign(like=1.5)),
            ValueError,
            r"predictions\['like'\] must hold probabilities in \[0, 1\], "
            r"got 1\.5 at index 0",
        ),
        (
            lambda log, predictions: (log.assign(share=2), predictions),
            ValueError,
            r"frame\['share'\] must hold labels in \{0, 1\}, got 2 at index 0",
        ),
    ],
)
def test_compare_to_oracle_refuses_bad_input(change, error, message):
    log = synthetic_log(n_rows=300, seed=0)
    frame, predictions = change(log, truth_as_predictions(log))

    with pytest.raises(error, match=message):
        compare_to_oracle(frame, predictions)


def test_compare_to_oracle_refuses_an_empty_task_list():
    log = synthetic_log(n_rows=10, seed=0)

    message = r"tasks must name at least one task, got \(\)"
    with pytest.raises(ValueError, match=message):
        compare_to_oracle(log, truth_as_predictions(log), tasks=())
