"""Tests of mtrank_lite.sampling: negative downsampling and importance weights."""

import copy
import math

import numpy as np
import pandas as pd
import pytest

from mtrank_lite.sampling import downsample_negatives, sample_weights

# Two-sided 99.9 % quantile of the standard normal distribution.
Z_999 = 3.2905


def impression_log(n_rows=2000, click_rate=0.1, seed=0):
    # Deliberately seeded with the same integer the tests pass to
    # downsample_negatives: the sample must not reuse the log's numbers.
    rng = np.random.default_rng(seed)
    click = (rng.random(n_rows) < click_rate).astype(np.int64)
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, 50, n_rows),
            "item_id": rng.integers(0, 80, n_rows),
            "click": click,
            "like": click * (rng.random(n_rows) < 0.2),
            "p_click": rng.random(n_rows),
        },
        index=pd.RangeIndex(1000, 1000 + n_rows),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.05, 0.5, 1.0])
def test_the_input_is_left_untouched(seed, alpha):
    log = impression_log(seed=seed)
    before = copy.deepcopy(log)

    sample = downsample_negatives(log, alpha, seed=seed)
    sample.iloc[:, :] = 0

    pd.testing.assert_frame_equal(log, before)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [1e-6, 0.1, 0.7])
def test_every_positive_is_kept_and_rows_are_unchanged(seed, alpha):
    log = impression_log(seed=seed)

    sample = downsample_negatives(log, alpha, seed=seed)

    positives = log.index[log["click"] == 1]
    assert positives.isin(sample.index).all()
    pd.testing.assert_frame_equal(sample, log.loc[sample.index])
    assert sample.index.is_monotonic_increasing


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5, 0.9])
def test_the_kept_fraction_of_negatives_is_alpha(seed, alpha):
    log = impression_log(n_rows=220_000, seed=seed)
    n_negatives = (log["click"] == 0).sum()

    sample = downsample_negatives(log, alpha, seed=seed)

    # The kept count is Binomial(n_negatives, alpha); its fraction lies within
    # z * sqrt(alpha (1 - alpha) / n) of alpha with probability 99.9 %.
    kept_fraction = (sample["click"] == 0).sum() / n_negatives
    half_width = Z_999 * math.sqrt(alpha * (1 - alpha) / n_negatives)
    assert abs(kept_fraction - alpha) <= half_width


@pytest.mark.parametrize("seed", [0, 7, 2**40])
def test_the_same_seed_keeps_the_same_rows(seed):
    log = impression_log()

    first = downsample_negatives(log, 0.3, seed=seed)
    second = downsample_negatives(log, 0.3, seed=seed)

    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("seeds", [(0, 1), (1, 2), (0, 12345)])
def test_different_seeds_keep_different_rows(seeds):
    log = impression_log()

    first = downsample_negatives(log, 0.3, seed=seeds[0])
    second = downsample_negatives(log, 0.3, seed=seeds[1])

    assert not first.index.equals(second.index)


def test_generators_in_the_same_state_keep_the_same_rows():
    log = impression_log()

    first = downsample_negatives(log, 0.3, seed=np.random.default_rng(7))
    second = downsample_negatives(log, 0.3, seed=np.random.default_rng(7))

    pd.testing.assert_frame_equal(first, second)


def test_a_generator_seed_advances_between_calls():
    log = impression_log()
    generator = np.random.default_rng(7)

    first = downsample_negatives(log, 0.3, seed=generator)
    second = downsample_negatives(log, 0.3, seed=generator)

    assert not first.index.equals(second.index)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_seed_that_drew_the_log_does_not_bias_the_sample(seed):
    # The log's users come from rng.choice(..., p=...), which starts with
    # rng.random(n), as in world.impressions. Had downsample_negatives drawn
    # from default_rng(seed) as well, its numbers would equal those, and the
    # kept negatives would all belong to the users first in the choice order.
    n_rows, n_users = 50_000, 100
    rng = np.random.default_rng(seed)
    user_id = rng.choice(n_users, size=n_rows, p=np.full(n_users, 1 / n_users))
    click = (rng.random(n_rows) < 0.1).astype(np.int64)
    log = pd.DataFrame({"user_id": user_id, "click": click})

    sample = downsample_negatives(log, 0.1, seed=seed)

    kept_negatives = sample[sample["click"] == 0]
    assert kept_negatives["user_id"].nunique() == n_users
    # Each user keeps about 10 % of their 450 or so negatives, never none.
    kept_per_user = kept_negatives.groupby("user_id").size()
    assert kept_per_user.min() >= 15


def test_the_kept_fraction_is_alpha_when_labels_share_the_seed():
    # Labels drawn as default_rng(seed).random(n) < 0.1 are the rows whose first
    # uniforms are small; the sample must not see the same uniforms.
    n_rows, seed, alpha = 200_000, 0, 0.05
    click = (np.random.default_rng(seed).random(n_rows) < 0.1).astype(np.int64)
    log = pd.DataFrame({"click": click})
    n_negatives = (click == 0).sum()

    sample = downsample_negatives(log, alpha, seed=seed)

    kept_fraction = (sample["click"] == 0).sum() / n_negatives
    half_width = Z_999 * math.sqrt(alpha * (1 - alpha) / n_negatives)
    assert abs(kept_fraction - alpha) <= half_width


def test_global_random_state_is_not_touched():
    log = impression_log()
    np.random.seed(2024)
    before = np.random.get_state()[1].copy()

    downsample_negatives(log, 0.3, seed=0)

    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_one_keeps_every_row_in_a_new_frame(seed):
    log = impression_log(seed=seed)

    sample = downsample_negatives(log, 1.0, seed=seed)

    pd.testing.assert_frame_equal(sample, log)
    assert sample is not log


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_smaller_alpha_keeps_a_subset_for_the_same_seed(seed):
    log = impression_log(seed=seed)

    small = downsample_negatives(log, 0.1, seed=seed)
    large = downsample_negatives(log, 0.4, seed=seed)

    assert small.index.isin(large.index).all()
    assert len(small) < len(large)


def test_the_original_index_is_kept_for_joining_back():
    log = pd.DataFrame(
        {"click": [0, 1, 0, 0, 1, 0]}, index=["a", "b", "c", "d", "e", "f"]
    )

    sample = downsample_negatives(log, 0.5, seed=3)

    assert {"b", "e"} <= set(sample.index)
    assert set(sample.index) <= set(log.index)


@pytest.mark.parametrize(
    "column",
    [
        [True, False, False, True],
        [1.0, 0.0, 0.0, 1.0],
        pd.array([1, 0, 0, 1], dtype="Int64"),
    ],
)
def test_labels_may_be_bool_float_or_nullable(column):
    log = pd.DataFrame({"share": column})

    sample = downsample_negatives(log, 1e-9, label="share", seed=0)

    assert sample.index.tolist() == [0, 3]


def test_any_binary_column_can_be_the_label():
    log = impression_log()

    sample = downsample_negatives(log, 0.2, label="like", seed=0)

    assert (log["like"] == 1).sum() == (sample["like"] == 1).sum()
    assert (sample["like"] == 0).sum() < (log["like"] == 0).sum()


# Importance weights.


def test_sample_weights_undo_downsampling_exactly_on_case_2():
    # Field case 2: 100 clicks and 90 of 900 non-clicks kept at alpha = 0.1.
    sample = pd.DataFrame({"click": [1] * 100 + [0] * 90})

    weights = sample_weights(sample, 0.1)

    assert weights[sample["click"] == 1].eq(1.0).all()
    assert weights[sample["click"] == 0].eq(10.0).all()
    assert weights.sum() == pytest.approx(1000.0)
    weighted_rate = (weights * sample["click"]).sum() / weights.sum()
    assert weighted_rate == pytest.approx(0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_negatives_estimate_the_full_count(seed):
    log = impression_log(n_rows=100_000, seed=seed)
    n_negatives = (log["click"] == 0).sum()
    alpha = 0.1

    sample = downsample_negatives(log, alpha, seed=seed)
    weights = sample_weights(sample, alpha)

    # K / alpha with K ~ Binomial(n, alpha): standard deviation
    # sqrt(n alpha (1 - alpha)) / alpha.
    estimate = weights[sample["click"] == 0].sum()
    tolerance = Z_999 * math.sqrt(n_negatives * alpha * (1 - alpha)) / alpha
    assert abs(estimate - n_negatives) <= tolerance


def test_sample_weights_keep_the_index_and_leave_the_frame_untouched():
    sample = pd.DataFrame({"click": [0, 1]}, index=["x", "y"])
    before = copy.deepcopy(sample)

    weights = sample_weights(sample, 0.5)

    assert weights.index.tolist() == ["x", "y"]
    assert weights.name == "weight"
    assert weights.dtype == np.float64
    pd.testing.assert_frame_equal(sample, before)


# Bad input: every message names the argument and the value.

BAD_ALPHAS = [
    (0, ValueError, r"alpha must be in \(0, 1\], got 0$"),
    (1.5, ValueError, r"alpha must be in \(0, 1\], got 1\.5$"),
    (math.nan, ValueError, r"alpha must be in \(0, 1\], got nan$"),
    (-0.2, ValueError, r"alpha must be in \(0, 1\], got -0\.2$"),
    ("0.5", TypeError, r"alpha must be a real number, got '0\.5' \(str\)"),
]


@pytest.mark.parametrize("function", [downsample_negatives, sample_weights])
@pytest.mark.parametrize("alpha, error, message", BAD_ALPHAS)
def test_bad_alpha_is_refused(function, alpha, error, message):
    with pytest.raises(error, match=message):
        function(impression_log(n_rows=10), alpha)


@pytest.mark.parametrize("function", [downsample_negatives, sample_weights])
@pytest.mark.parametrize(
    "frame, label, error, message",
    [
        (
            pd.DataFrame({"clicked": [0, 1]}),
            "click",
            ValueError,
            r"frame has no column 'click'; its columns are \['clicked'\]",
        ),
        (
            pd.DataFrame({"click": [0, 1]}),
            "like",
            ValueError,
            r"frame has no column 'like'; its columns are \['click'\]",
        ),
        (
            pd.DataFrame({"click": pd.Series([], dtype=np.int64)}),
            "click",
            ValueError,
            r"frame must not be empty, got 0 rows",
        ),
        (pd.DataFrame(), "click", ValueError, r"frame must not be empty, got 0 rows"),
        (
            pd.DataFrame({"click": [0, 1, 2]}),
            "click",
            ValueError,
            r"frame\['click'\] must hold labels in \{0, 1\}, got 2 at index 2",
        ),
        (
            pd.DataFrame({"click": [0.0, math.nan]}, index=[10, 11]),
            "click",
            ValueError,
            r"frame\['click'\] must hold labels in \{0, 1\}, got nan at index 11",
        ),
        (
            pd.DataFrame({"click": ["0", "1"]}),
            "click",
            TypeError,
            r"frame\['click'\] must hold numbers, got '0' at index 0 \(str\)",
        ),
        (
            [{"click": 1}],
            "click",
            TypeError,
            r"frame must be a pandas DataFrame, got list",
        ),
        (
            pd.Series([0, 1], name="click"),
            "click",
            TypeError,
            r"frame must be a pandas DataFrame, got Series",
        ),
    ],
)
def test_a_bad_frame_is_refused(function, frame, label, error, message):
    with pytest.raises(error, match=message):
        function(frame, 0.5, label=label)


@pytest.mark.parametrize(
    "seed, error, message",
    [
        (
            -1,
            ValueError,
            r"seed must be a non-negative integer or a numpy.random.Generator, "
            r"got -1",
        ),
        (
            1.5,
            TypeError,
            r"seed must be a non-negative integer or a numpy.random.Generator, "
            r"got 1\.5 \(float\)",
        ),
        (
            "0",
            TypeError,
            r"seed must be a non-negative integer or a numpy.random.Generator, "
            r"got '0' \(str\)",
        ),
    ],
)
def test_a_bad_seed_is_refused(seed, error, message):
    with pytest.raises(error, match=message):
        downsample_negatives(impression_log(n_rows=10), 0.5, seed=seed)
