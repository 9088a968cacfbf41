"""Tests of mtrank_lite.fusion: hand-computed values, properties and errors."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mtrank_lite.fusion import (
    DEFAULT_WEIGHTS,
    METHODS,
    TASKS,
    UndefinedCorrelationWarning,
    expected_interactions,
    fuse,
    fusion_table,
    product_of_powers,
    rank_based,
    rank_correlation,
    ranking,
    top_k,
    truth_scores,
    weighted_sum,
)
from mtrank_lite.world import make_world

# Two items, every task: the tiny example the hand computations below use.
TINY = {
    "click": [0.1, 0.2],
    "like": [0.5, 0.0],
    "collect": [0.2, 0.4],
    "share": [0.0, 0.1],
}
WEIGHTS = {"click": 1.0, "like": 2.0, "collect": 3.0, "share": 4.0}

probability = st.floats(0.0, 1.0, allow_nan=False)
weight = st.floats(0.0, 10.0, allow_nan=False)


def score_lists(n_items):
    return st.fixed_dictionaries(
        {
            task: st.lists(probability, min_size=n_items, max_size=n_items)
            for task in TASKS
        }
    )


@pytest.fixture(scope="module")
def world():
    return make_world(seed=0, n_users=300, warmup_impressions=300_000)


# ------------------------------------------------------------ the formulas
def test_weighted_sum_by_hand():
    # item 0: 0.1 + 2 * 0.5 + 3 * 0.2 + 4 * 0.0 = 1.7
    # item 1: 0.2 + 2 * 0.0 + 3 * 0.4 + 4 * 0.1 = 1.8
    np.testing.assert_allclose(weighted_sum(TINY, WEIGHTS), [1.7, 1.8])


def test_weighted_sum_reads_a_frame_like_a_dict():
    frame = pd.DataFrame(TINY).assign(item_id=[5, 6])
    np.testing.assert_allclose(
        weighted_sum(frame, WEIGHTS), weighted_sum(TINY, WEIGHTS)
    )


def test_a_task_left_out_has_weight_zero_and_is_not_needed():
    only_click = {"click": [0.1, 0.2]}
    np.testing.assert_allclose(weighted_sum(only_click, {"click": 3.0}), [0.3, 0.6])
    np.testing.assert_allclose(
        weighted_sum(TINY, {"click": 1.0, "like": 2.0}),
        weighted_sum(TINY, {"click": 1.0, "like": 2.0, "collect": 0.0, "share": 0.0}),
    )


def test_expected_interactions_by_hand():
    # item 0: 1 * 0.1 + 0.1 * (2 * 0.5 + 3 * 0.2 + 4 * 0.0) = 0.1 + 0.16 = 0.26
    # item 1: 1 * 0.2 + 0.2 * (2 * 0.0 + 3 * 0.4 + 4 * 0.1) = 0.2 + 0.32 = 0.52
    np.testing.assert_allclose(expected_interactions(TINY, WEIGHTS), [0.26, 0.52])


def test_expected_interactions_needs_click_even_with_weight_zero():
    np.testing.assert_allclose(
        expected_interactions(TINY, {"like": 2.0}), [0.1 * 2 * 0.5, 0.0]
    )
    with pytest.raises(ValueError, match="scores has no scores for click"):
        expected_interactions({"like": [0.5]}, {"like": 1.0})


@settings(max_examples=50, deadline=None)
@given(scores=score_lists(5), weights=st.fixed_dictionaries({t: weight for t in TASKS}))
def test_expected_interactions_is_a_weighted_sum_of_per_impression_rates(
    scores, weights
):
    # Independent form: sum over tasks of w_t * P(task per impression), where a
    # like per impression is P(click) * P(like | click).
    click = np.array(scores["click"])
    per_impression = {
        task: click if task == "click" else click * np.array(scores[task])
        for task in TASKS
    }
    expected = sum(weights[task] * per_impression[task] for task in TASKS)
    np.testing.assert_allclose(
        expected_interactions(scores, weights), expected, atol=1e-12
    )


def test_product_of_powers_by_hand():
    scores = {"click": [0.25, 0.04], "like": [0.5, 1.0]}
    # sqrt(0.25) * 0.5 = 0.25 and sqrt(0.04) * 1.0 = 0.2
    np.testing.assert_allclose(
        product_of_powers(scores, {"click": 0.5, "like": 1.0}, epsilon=0.0),
        [0.25, 0.2],
    )
    # With the default offset: (0.25 + 1e-6) ** 0.5 * (0.5 + 1e-6).
    np.testing.assert_allclose(
        product_of_powers(scores, {"click": 0.5, "like": 1.0})[0],
        (0.25 + 1e-6) ** 0.5 * (0.5 + 1e-6),
    )


def test_product_of_powers_offset_keeps_a_zero_from_vetoing():
    scores = {"click": [0.2, 0.2], "share": [0.0, 0.01]}
    exponents = {"click": 1.0, "share": 1.0}
    assert product_of_powers(scores, exponents, epsilon=0.0)[0] == 0.0
    np.testing.assert_allclose(
        product_of_powers(scores, exponents, epsilon=0.01), [0.21 * 0.01, 0.21 * 0.02]
    )


@settings(max_examples=50, deadline=None)
@given(
    scores=score_lists(6),
    exponents=st.fixed_dictionaries({t: st.floats(0.0, 3.0) for t in TASKS}),
)
def test_product_of_powers_is_a_weighted_sum_of_logs(scores, exponents):
    epsilon = 1e-6
    logs = sum(
        exponents[task] * np.log(np.array(scores[task]) + epsilon) for task in TASKS
    )
    np.testing.assert_allclose(
        np.log(product_of_powers(scores, exponents, epsilon=epsilon)), logs, atol=1e-9
    )


def test_rank_based_by_hand_with_tied_ranks_averaged():
    scores = {"click": [0.3, 0.1, 0.3], "like": [0.1, 0.2, 0.0]}
    # click ranks (ties averaged): 1.5, 3, 1.5; like ranks: 2, 1, 3; k = 1.
    # item 0: 1 / 2.5 + 2 / 3; item 1: 1 / 4 + 2 / 2; item 2: 1 / 2.5 + 2 / 4
    np.testing.assert_allclose(
        rank_based(scores, {"click": 1.0, "like": 2.0}, k=1),
        [1 / 2.5 + 2 / 3, 1 / 4 + 1.0, 1 / 2.5 + 2 / 4],
    )


def test_rank_based_default_k_is_60():
    scores = {"click": [0.9, 0.1]}
    np.testing.assert_allclose(rank_based(scores, {"click": 1.0}), [1 / 61, 1 / 62])


def _slow_rank_based(scores, weights, k):
    """Reciprocal-rank fusion by explicit counting, ties sharing their ranks."""
    n_items = len(scores["click"])
    fused = [0.0] * n_items
    for task, task_weight in weights.items():
        values = scores[task]
        for item in range(n_items):
            higher = sum(1 for other in values if other > values[item])
            equal = sum(1 for other in values if other == values[item])
            # Places higher + 1 ... higher + equal, averaged.
            rank = higher + (equal + 1) / 2
            fused[item] += task_weight / (k + rank)
    return fused


@settings(max_examples=50, deadline=None)
@given(
    scores=score_lists(7),
    weights=st.fixed_dictionaries({t: weight for t in TASKS}),
    k=st.floats(0.0, 100.0),
)
def test_rank_based_matches_a_slow_count(scores, weights, k):
    np.testing.assert_allclose(
        rank_based(scores, weights, k=k), _slow_rank_based(scores, weights, k)
    )


def test_rank_based_ignores_a_monotone_distortion_of_a_head():
    # A head that is miscalibrated but keeps its order changes nothing.
    rng = np.random.default_rng(3)
    scores = {task: rng.random(20) for task in TASKS}
    distorted = dict(scores, click=scores["click"] ** 3)
    np.testing.assert_allclose(
        rank_based(scores, WEIGHTS), rank_based(distorted, WEIGHTS)
    )
    assert not np.array_equal(
        ranking(weighted_sum(scores, WEIGHTS)),
        ranking(weighted_sum(distorted, WEIGHTS)),
    )


@pytest.mark.parametrize(
    "method, function",
    [
        ("weighted_sum", weighted_sum),
        ("expected_interactions", expected_interactions),
        ("product_of_powers", product_of_powers),
        ("rank_based", rank_based),
    ],
)
def test_fuse_dispatches_by_name(method, function):
    np.testing.assert_allclose(fuse(TINY, method, WEIGHTS), function(TINY, WEIGHTS))


def test_fuse_passes_epsilon_and_k():
    np.testing.assert_allclose(
        fuse(TINY, "product_of_powers", WEIGHTS, epsilon=0.5),
        product_of_powers(TINY, WEIGHTS, epsilon=0.5),
    )
    np.testing.assert_allclose(
        fuse(TINY, "rank_based", WEIGHTS, k=2), rank_based(TINY, WEIGHTS, k=2)
    )


@pytest.mark.parametrize("method", METHODS)
def test_scaling_the_weights_keeps_the_order(method):
    rng = np.random.default_rng(7)
    scores = {task: rng.random(30) for task in TASKS}
    doubled = {task: 2 * value for task, value in WEIGHTS.items()}
    np.testing.assert_array_equal(
        ranking(fuse(scores, method, WEIGHTS)), ranking(fuse(scores, method, doubled))
    )


def test_every_method_gives_one_score_per_item():
    frame = pd.DataFrame(TINY)
    for method in METHODS:
        assert fuse(frame, method, DEFAULT_WEIGHTS).shape == (2,)


def test_an_empty_candidate_list_gives_an_empty_score():
    empty = {task: [] for task in TASKS}
    for method in METHODS:
        assert fuse(empty, method, WEIGHTS).shape == (0,)


# ------------------------------------------------------------------ orders
def test_ranking_is_stable_for_ties():
    np.testing.assert_array_equal(ranking([0.2, 0.9, 0.2, 0.5]), [1, 3, 0, 2])


def test_top_k_returns_best_rows_with_score_and_rank():
    frame = pd.DataFrame({"item_id": [7, 8, 9, 10]}, index=[3, 2, 1, 0])
    best = top_k(frame, [0.1, 0.3, 0.2, 0.05], k=2)
    assert best["item_id"].tolist() == [8, 9]
    assert best["rank"].tolist() == [1, 2]
    np.testing.assert_allclose(best["fused_score"], [0.3, 0.2])
    assert best.index.tolist() == [0, 1]
    assert len(top_k(frame, [0.1, 0.3, 0.2, 0.05], k=10)) == 4


def test_rank_correlation_by_hand():
    # Pairs of [1, 2, 3] against [1, 3, 2]: two concordant, one discordant.
    assert rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # Spearman: 1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)) = 0.5
    assert rank_correlation([1, 2, 3], [1, 3, 2], method="spearman") == pytest.approx(
        0.5
    )
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_rank_correlation_agrees_with_scipy_on_ties():
    rng = np.random.default_rng(11)
    first, second = rng.integers(0, 4, 40), rng.random(40)
    assert rank_correlation(first, second) == pytest.approx(
        stats.kendalltau(first, second).statistic
    )


@pytest.mark.parametrize("first, second", [([0.5, 0.5, 0.5], [1, 2, 3]), ([1], [2])])
def test_rank_correlation_undefined_is_nan_with_a_warning(first, second):
    with pytest.warns(UndefinedCorrelationWarning, match="undefined"):
        assert math.isnan(rank_correlation(first, second))


# ------------------------------------------------------ the chapter's table
def _tiny_candidates():
    return pd.DataFrame(
        {
            "item_id": [11, 12, 13],
            "category": [0, 1, 0],
            "click": [0.5, 0.25, 0.125],
            "like": [0.0, 0.25, 0.5],
            "collect": [0.0, 0.0, 0.0],
            "share": [0.0, 0.0, 0.0],
        }
    )


def test_fusion_table_by_hand():
    # Fused with click 1, like 1: 0.5, 0.5, 0.625 (exact in binary); item 11
    # stays before item 12 on the tie.
    table, tau = fusion_table(_tiny_candidates(), {"click": 1, "like": 1}, k=2)
    assert table.columns.tolist() == [
        "rank", "item_id", "category", *TASKS, "fused_score", "click_rank"
    ]
    assert table["item_id"].tolist() == [13, 11]
    assert table["click_rank"].tolist() == [3, 1]
    np.testing.assert_allclose(table["fused_score"], [0.625, 0.5])
    # Fused 0.5, 0.5, 0.625 against clicks 0.5, 0.25, 0.125: no concordant
    # pair, two discordant, one tied in the fused score, so tau-b is
    # (0 - 2) / sqrt((3 - 1) * (3 - 0)).
    assert tau == pytest.approx(-2 / math.sqrt(6))


def test_fusion_table_click_only_is_the_click_order():
    table, tau = fusion_table(_tiny_candidates(), {"click": 1.0})
    assert table["rank"].tolist() == table["click_rank"].tolist() == [1, 2, 3]
    assert tau == pytest.approx(1.0)


def test_fusion_table_reads_the_truth_with_a_prefix(world):
    frame = world.features(np.zeros(50, int), np.arange(50), 20, 0, 0)
    table, _ = fusion_table(frame, WEIGHTS, k=5, prefix="p_")
    best = np.argsort(-weighted_sum(truth_scores(frame), WEIGHTS), kind="stable")[:5]
    assert table["item_id"].tolist() == best.tolist()


def test_click_only_ranking_promotes_clickbait_and_fusion_does_not(world):
    # The claim of the "why several objectives" chapter, on the truth.
    clickbait = world.hidden_items.set_index("item_id")["clickbait"]
    shares = []
    for user in range(5):
        frame = world.features(np.full(2000, user), np.arange(2000), 20, 0, 0)
        by_click, _ = fusion_table(frame, {"click": 1.0}, k=20, prefix="p_")
        fused, tau = fusion_table(frame, DEFAULT_WEIGHTS, k=20, prefix="p_")
        shares.append(
            (
                clickbait[by_click["item_id"]].mean(),
                clickbait[fused["item_id"]].mean(),
            )
        )
        assert 0.0 < tau < 1.0
    click_only, with_fusion = np.mean(shares, axis=0)
    assert click_only > 2 * with_fusion
    assert click_only > 2 * clickbait.mean()


def test_fusion_table_with_a_constant_score_warns_and_gives_nan():
    with pytest.warns(UndefinedCorrelationWarning):
        _, tau = fusion_table(_tiny_candidates(), {"collect": 1.0})
    assert math.isnan(tau)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("function", [weighted_sum, rank_based, expected_interactions])
@pytest.mark.parametrize(
    "weights, error, message",
    [
        (
            {"click": 1.0, "like": -1.0},
            ValueError,
            "weights['like'] must be a finite number >= 0, got -1.0",
        ),
        (
            {"click": math.inf},
            ValueError,
            "weights['click'] must be a finite number >= 0, got inf",
        ),
        (
            {"click": math.nan},
            ValueError,
            "weights['click'] must be a finite number >= 0, got nan",
        ),
        (
            {"clicks": 1.0},
            ValueError,
            "weights has an unknown task 'clicks'; the tasks are click, like, "
            "collect, share",
        ),
        ({}, ValueError, "weights must name at least one of the tasks"),
        ([1, 2, 3, 4], TypeError, "weights must be a dict from task name"),
        ({"click": "1"}, TypeError, "weights['click'] must be a real number"),
        ({"click": True}, TypeError, "weights['click'] must be a real number"),
    ],
)
def test_bad_weights_are_refused(function, weights, error, message):
    with pytest.raises(error, match=re.escape(message)):
        function(TINY, weights)


def test_bad_exponents_are_named_as_exponents():
    with pytest.raises(ValueError, match=re.escape("exponents['share'] must be")):
        product_of_powers(TINY, {"share": -2.0})


@pytest.mark.parametrize(
    "scores, message",
    [
        (
            {"click": [0.1, math.nan], "like": [0.1, 0.2]},
            "scores['click'] must hold probabilities in [0, 1], got nan at index 1",
        ),
        (
            {"click": [0.1, 1.5], "like": [0.1, 0.2]},
            "scores['click'] must hold probabilities in [0, 1], got 1.5 at index 1",
        ),
        (
            {"click": [0.1, 0.2], "like": [0.1, 0.2, 0.3]},
            "scores['click'] and scores['like'] must have the same length, got 2 and 3",
        ),
        (
            {"click": [0.1], "likes": [0.1]},
            "scores has an unknown task 'likes'; the tasks are click, like, collect, "
            "share",
        ),
        ({"click": [0.1]}, "scores has no scores for like; it holds click"),
        (
            pd.DataFrame({"click": [0.1], "item_id": [3]}),
            "scores has no column 'like'; its columns are ['click', 'item_id']",
        ),
        (
            {"click": [[0.1]], "like": [[0.2]]},
            "scores['click'] must be one-dimensional, got shape (1, 1)",
        ),
    ],
)
def test_bad_scores_are_refused(scores, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        weighted_sum(scores, {"click": 1.0, "like": 1.0})


def test_scores_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="scores must be a DataFrame or a dict"):
        weighted_sum([[0.1, 0.2]], {"click": 1.0})


def test_a_series_with_nan_is_located_by_its_label():
    frame = pd.DataFrame({"click": [0.1, np.nan]}, index=[10, 20])
    with pytest.raises(ValueError, match="got nan at index 20"):
        weighted_sum(frame, {"click": 1.0})


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: fuse(TINY, "weighted_product", WEIGHTS),
            "method must be one of weighted_sum, expected_interactions, "
            "product_of_powers, rank_based, got 'weighted_product'",
        ),
        (
            lambda: product_of_powers(TINY, WEIGHTS, epsilon=-0.1),
            "epsilon must be a finite number >= 0, got -0.1",
        ),
        (
            lambda: rank_based(TINY, WEIGHTS, k=-1),
            "k must be a finite number >= 0, got -1",
        ),
        (
            lambda: ranking([0.1, math.nan]),
            "fused_score must not hold NaN, got nan at index 1",
        ),
        (
            lambda: top_k(pd.DataFrame({"a": [1, 2]}), [0.1], k=1),
            "frame and fused_score must have the same length, got 2 and 1",
        ),
        (
            lambda: top_k(pd.DataFrame({"a": [1]}), [0.1], k=0),
            "k must be a positive integer, got 0",
        ),
        (
            lambda: rank_correlation([1, 2], [1, 2, 3]),
            "first and second must have the same length, got 2 and 3",
        ),
        (
            lambda: rank_correlation([1, 2], [1, 2], method="pearson"),
            "method must be 'kendall' or 'spearman', got 'pearson'",
        ),
        (
            lambda: fusion_table(_tiny_candidates(), WEIGHTS, method="sum"),
            "method must be one of",
        ),
        (
            lambda: fusion_table(_tiny_candidates().drop(columns="category"), WEIGHTS),
            "candidates has no column 'category'",
        ),
        (
            lambda: fusion_table(_tiny_candidates(), WEIGHTS, prefix="p_"),
            "candidates has no columns 'p_click', 'p_like', 'p_collect', 'p_share'",
        ),
        (
            lambda: truth_scores(pd.DataFrame({"p_click": [0.1]})),
            "frame has no columns 'p_like', 'p_collect', 'p_share'",
        ),
    ],
)
def test_bad_arguments_are_refused_with_a_message(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
