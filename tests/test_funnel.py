"""Tests of mtrank_lite.funnel: the four stages and diversity re-ranking."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrank_lite.fusion import DEFAULT_WEIGHTS, fuse, ranking, truth_scores
from mtrank_lite.funnel import (
    DEFAULT_RECALL_SIZES,
    STAGES,
    arrange_page,
    diversity_tradeoff,
    dpp_order,
    dpp_page,
    funnel_summary,
    item_similarity,
    mmr_order,
    noisy_truth_scorer,
    rerank_page,
    run_funnel,
    statistics_scorer,
    truth_scorer,
)
from mtrank_lite.world import make_world

STAGE_COLUMNS = [
    "stage",
    "n_in",
    "n_out",
    "evaluations",
    "seconds",
    "true_top_kept",
    "true_top_share",
]

# The funnel with the truth everywhere and no diversity: it must keep every
# truly best item at every stage.
PERFECT = dict(
    pre_ranking_scorer=truth_scorer,
    ranking_scorer=truth_scorer,
    embedding_noise=0.0,
    lambda_=1.0,
    category_rule=False,
)


@pytest.fixture(scope="module")
def world():
    return make_world(seed=0, n_users=200, warmup_impressions=300_000)


@pytest.fixture(scope="module")
def candidates(world):
    """Fifty candidates of one user, with their true fused score."""
    frame = world.features(np.full(50, 4), np.arange(100, 150), 20, 0, 0)
    relevance = fuse(truth_scores(frame), "weighted_sum", DEFAULT_WEIGHTS)
    return frame.assign(relevance=relevance)


def _random_candidates(n_items, n_categories, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "item_id": np.arange(n_items) + 1000,
            "category": rng.integers(0, n_categories, n_items),
            "length_minutes": rng.lognormal(1.0, 0.6, n_items),
            "item_age_days": rng.exponential(20.0, n_items),
        }
    ), rng.random(n_items)


def _adjacent_repeats(categories):
    categories = np.asarray(categories)
    return int(np.sum(categories[1:] == categories[:-1]))


# ------------------------------------------------------------- the funnel
def test_the_stage_table_chains_counts(world):
    result = run_funnel(world, user_id=0)
    stages = result.stages
    assert stages.columns.tolist() == STAGE_COLUMNS
    assert stages["stage"].tolist() == list(STAGES)
    assert stages["n_in"].iloc[0] == len(world.items)
    assert stages["n_in"].iloc[1:].tolist() == stages["n_out"].iloc[:-1].tolist()
    assert stages["n_out"].iloc[1:].tolist() == [200, 50, 10]
    assert 500 < stages["n_out"].iloc[0] <= sum(DEFAULT_RECALL_SIZES.values())
    # The embedding channel scores the catalogue; the scorers score their
    # input; re-ranking scores nothing.
    assert stages["evaluations"].tolist() == [
        len(world.items),
        stages["n_in"].iloc[1],
        stages["n_in"].iloc[2],
        0,
    ]
    assert (stages["seconds"] >= 0).all()


def test_each_stage_keeps_a_subset_of_the_one_before(world):
    result = run_funnel(world, user_id=1, seed=3)
    kept = [set(result.items[stage]["item_id"]) for stage in STAGES]
    assert len(kept[0]) == len(result.items["recall"])
    for before, after in zip(kept, kept[1:]):
        assert after <= before
    pd.testing.assert_frame_equal(result.page, result.items["re_ranking"])
    assert result.page["slot"].tolist() == list(range(1, 11))


def test_true_top_is_the_best_of_the_catalogue(world):
    result = run_funnel(world, user_id=2, n_true_top=15)
    catalogue = world.features(np.full(2000, 2), np.arange(2000), 20, 0, 0)
    true_score = fuse(truth_scores(catalogue), "weighted_sum", DEFAULT_WEIGHTS)
    assert result.true_top.tolist() == ranking(true_score)[:15].tolist()
    kept = result.items["ranking"]["is_true_top"].sum()
    assert result.stages["true_top_kept"].iloc[2] == kept


@pytest.mark.parametrize("user_id", [0, 7, 42])
@pytest.mark.parametrize(
    "method", ["weighted_sum", "expected_interactions", "product_of_powers"]
)
def test_the_truth_everywhere_keeps_every_true_top_item(world, user_id, method):
    result = run_funnel(world, user_id, method=method, seed=user_id, **PERFECT)
    assert result.stages["true_top_share"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert result.page["item_id"].tolist() == result.true_top.tolist()


def test_the_truth_everywhere_with_weak_channels_still_keeps_the_top(world):
    # Only the truth-driven channel, just large enough for the top items.
    sizes = {"popularity": 0, "favourite_categories": 0, "exploration": 0}
    result = run_funnel(
        world,
        3,
        recall_sizes={**sizes, "embedding": 60},
        ranking_size=20,
        pre_ranking_size=30,
        **PERFECT,
    )
    assert result.stages["n_out"].tolist() == [60, 30, 20, 10]
    assert result.stages["true_top_share"].tolist() == [1.0] * 4


def test_diversity_may_drop_true_top_items_only_at_re_ranking(world):
    options = dict(PERFECT, lambda_=0.3, category_rule=True)
    shares = [
        run_funnel(world, user, **options).stages["true_top_share"].tolist()
        for user in range(5)
    ]
    assert all(share[:3] == [1.0, 1.0, 1.0] for share in shares)
    assert min(share[3] for share in shares) < 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_scorers_lose_some_true_top_items(world, seed):
    shares = np.array(
        [
            run_funnel(world, user, seed=seed).stages["true_top_share"].to_numpy()
            for user in range(6)
        ]
    )
    assert ((shares >= 0.0) & (shares <= 1.0)).all()
    # A stage can only lose items, never bring them back.
    assert (np.diff(shares, axis=1) <= 0).all()
    # The cheap stages are imperfect: the test fails if they keep everything.
    assert shares[:, 2].min() < 1.0


def test_a_noisier_ranking_model_keeps_fewer_true_top_items(world):
    def kept(noise):
        scorer = noisy_truth_scorer(world, noise=noise, seed=5)
        table = funnel_summary(
            world,
            range(10),
            ranking_scorer=scorer,
            pre_ranking_scorer=truth_scorer,
            embedding_noise=0.0,
            lambda_=1.0,
            category_rule=False,
        )
        return table.loc[table["stage"] == "re_ranking", "true_top_kept"].sum()

    assert kept(0.0) == 100
    assert kept(2.0) < kept(0.3) < 100


def test_the_page_keeps_its_length_and_the_category_rule(world):
    for user in range(8):
        result = run_funnel(world, user, seed=user, rerank_method="dpp")
        assert len(result.page) == 10
        assert result.page["item_id"].is_unique
        assert result.rule_satisfied
        assert _adjacent_repeats(result.page["category"]) == 0


def test_the_same_seed_gives_the_same_funnel(world):
    first = run_funnel(world, 5, seed=11)
    second = run_funnel(world, 5, seed=11)
    other = run_funnel(world, 5, seed=12)
    columns = [column for column in STAGE_COLUMNS if column != "seconds"]
    pd.testing.assert_frame_equal(first.stages[columns], second.stages[columns])
    for stage in STAGES:
        pd.testing.assert_frame_equal(first.items[stage], second.items[stage])
    assert set(first.items["recall"]["item_id"]) != set(
        other.items["recall"]["item_id"]
    )


def test_a_generator_seed_is_used_and_advanced(world):
    rng = np.random.default_rng(4)
    first = run_funnel(world, 5, seed=rng)
    second = run_funnel(world, 5, seed=rng)
    assert set(first.items["recall"]["item_id"]) != set(
        second.items["recall"]["item_id"]
    )


def test_recall_lists_the_channels_that_found_each_item(world):
    recall = run_funnel(world, 6).items["recall"]
    assert recall["item_id"].is_unique
    channels = recall["channels"].str.split("+")
    assert set(itertools.chain.from_iterable(channels)) == set(DEFAULT_RECALL_SIZES)
    found = channels.explode().value_counts()
    for channel in ("popularity", "exploration", "embedding"):
        assert found[channel] == DEFAULT_RECALL_SIZES[channel]
    # Three categories of about 2000 / 12 items each: fewer than asked for.
    assert 300 < found["favourite_categories"] <= 500


def test_a_larger_catalogue_is_recalled_from(world):
    big = make_world(seed=1, n_users=50, n_items=8000, warmup_impressions=200_000)
    result = run_funnel(big, 0, recall_sizes={"embedding": 1000, "exploration": 1000})
    assert result.stages["n_in"].iloc[0] == 8000
    assert result.stages["n_out"].iloc[0] > 2000


def test_funnel_summary_stacks_users_reproducibly(world):
    table = funnel_summary(world, [3, 4, 5], seed=2, lambda_=0.5)
    assert len(table) == 12
    assert table.columns.tolist() == ["user_id", *STAGE_COLUMNS, "rule_satisfied"]
    assert table["user_id"].tolist() == [3] * 4 + [4] * 4 + [5] * 4
    again = funnel_summary(world, [3, 4, 5], seed=2, lambda_=0.5)
    pd.testing.assert_frame_equal(
        table.drop(columns="seconds"), again.drop(columns="seconds")
    )


def test_rank_based_fusion_runs_through_the_funnel(world):
    result = run_funnel(world, 0, method="rank_based")
    assert len(result.page) == 10
    assert 0.0 <= result.stages["true_top_share"].min() <= 1.0


# ----------------------------------------------------------------- scorers
def test_statistics_scorer_by_hand():
    frame = pd.DataFrame(
        {
            "item_ctr": [0.1, 0.5],
            "item_like_rate": [0.2, 0.3],
            "item_collect_rate": [0.01, 0.02],
            "item_share_rate": [0.0, 0.05],
            "user_ctr": [0.1, 0.1],
            "user_category_ctr": [0.2, 0.3],
        },
        index=[7, 8],
    )
    scores = statistics_scorer(frame)
    # Click: item rate times the user's lift in the category, clipped to 1.
    np.testing.assert_allclose(scores["click"], [0.1 * 2.0, 1.0])
    np.testing.assert_allclose(scores["like"], [0.2, 0.3])
    assert scores.index.tolist() == [7, 8]


def test_noisy_truth_scorer_is_the_truth_without_noise(world):
    frame = world.features([1, 2, 3], [10, 20, 30], 20, 0, 0)
    np.testing.assert_allclose(
        noisy_truth_scorer(world, noise=0.0)(frame).to_numpy(),
        truth_scores(frame).to_numpy(),
        rtol=1e-9,
    )


def test_noisy_truth_scorer_is_a_fixed_function_of_user_and_item(world):
    scorer = noisy_truth_scorer(world, noise=1.0, seed=3)
    frame = world.features([1, 2, 1, 2], [10, 20, 30, 40], 20, 0, 0)
    once = scorer(frame)
    reversed_rows = scorer(frame.iloc[::-1].reset_index(drop=True))
    np.testing.assert_array_equal(once.to_numpy(), reversed_rows.to_numpy()[::-1])
    assert not np.allclose(once.to_numpy(), truth_scores(frame).to_numpy())
    other_seed = noisy_truth_scorer(world, noise=1.0, seed=4)(frame)
    assert not np.allclose(once.to_numpy(), other_seed.to_numpy())


# ------------------------------------------------------------- similarity
@pytest.mark.parametrize("category_weight", [1.0, 0.6, 0.0])
def test_item_similarity_is_a_valid_kernel(category_weight):
    frame, _ = _random_candidates(30, 4, seed=1)
    similarity = item_similarity(frame, category_weight)
    assert similarity.shape == (30, 30)
    np.testing.assert_allclose(similarity, similarity.T)
    np.testing.assert_allclose(np.diag(similarity), 1.0)
    assert similarity.min() >= 0.0 and similarity.max() <= 1.0 + 1e-12
    assert np.linalg.eigvalsh(similarity).min() > -1e-9


def test_item_similarity_by_category_is_an_indicator():
    similarity = item_similarity(pd.DataFrame({"category": [3, 1, 3]}))
    np.testing.assert_array_equal(similarity, [[1, 0, 1], [0, 1, 0], [1, 0, 1]])


# -------------------------------------------------------------------- MMR
def _slow_mmr(relevance, similarity, lambda_):
    """MMR straight from the formula, recomputing every maximum."""
    relevance = np.asarray(relevance, dtype=float)
    spread = relevance.max() - relevance.min()
    r = (relevance - relevance.min()) / spread if spread > 0 else relevance * 0
    picked = []
    while len(picked) < len(r):
        best, best_key = None, None
        for item in range(len(r)):
            if item in picked:
                continue
            redundancy = max((similarity[item][j] for j in picked), default=0.0)
            value = lambda_ * r[item] - (1 - lambda_) * redundancy
            key = (value, r[item], -item)  # ties: relevance, then position
            if best_key is None or key > best_key:
                best, best_key = item, key
        picked.append(best)
    return picked


@settings(max_examples=40, deadline=None)
@given(
    # A few levels, so that ties happen and their breaking is checked too.
    relevance=st.lists(
        st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), min_size=1, max_size=9
    ),
    lambda_=st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]),
    seed=st.integers(0, 1000),
)
def test_mmr_matches_the_formula_step_by_step(relevance, lambda_, seed):
    frame, _ = _random_candidates(len(relevance), 3, seed)
    similarity = item_similarity(frame, category_weight=0.5)
    assert mmr_order(relevance, similarity, lambda_).tolist() == _slow_mmr(
        relevance, similarity, lambda_
    )


@settings(max_examples=40, deadline=None)
@given(
    relevance=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=20),
    seed=st.integers(0, 1000),
)
def test_mmr_with_lambda_one_sorts_by_relevance(relevance, seed):
    frame, _ = _random_candidates(len(relevance), 3, seed)
    order = mmr_order(relevance, item_similarity(frame), 1.0)
    assert order.tolist() == np.argsort(-np.array(relevance), kind="stable").tolist()


def test_mmr_by_hand():
    similarity = item_similarity(pd.DataFrame({"category": [0, 0, 1]}))
    # lambda 0.5, r = (1, 0.875, 0): after item 0, item 1 scores
    # 0.5 * 0.875 - 0.5 * 1 < 0 and item 2 scores 0.5 * 0 - 0 = 0.
    assert mmr_order([0.9, 0.8, 0.1], similarity, 0.5).tolist() == [0, 2, 1]
    assert mmr_order([0.9, 0.8, 0.1], similarity, 0.9).tolist() == [0, 1, 2]
    assert mmr_order([0.9, 0.8, 0.1], similarity, 0.5, n_picks=2).tolist() == [0, 2]


# -------------------------------------------------------------------- DPP
def _slow_dpp(relevance, similarity, lambda_, n_picks):
    """Greedy MAP of the DPP by evaluating log det L_Y for every candidate."""
    relevance = np.asarray(relevance, dtype=float)
    r = (relevance - relevance.min()) / (relevance.max() - relevance.min())
    quality = np.exp(lambda_ * r / (2 * (1 - lambda_)))
    kernel = quality[:, None] * similarity * quality[None, :]
    picked = []
    while len(picked) < n_picks:
        best, best_key = None, None
        for item in range(len(r)):
            if item in picked:
                continue
            chosen = picked + [item]
            sign, log_det = np.linalg.slogdet(kernel[np.ix_(chosen, chosen)])
            # Ties (the first pick when lambda_ is 0): relevance, then position.
            key = (log_det if sign > 0 else -np.inf, r[item], -item)
            if best_key is None or key > best_key:
                best, best_key = item, key
        picked.append(best)
    return picked


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lambda_", [0.0, 0.4, 0.8])
def test_dpp_matches_a_log_det_greedy(seed, lambda_):
    frame, relevance = _random_candidates(12, 3, seed)
    # Mixed with the feature kernel, S has full rank.
    similarity = item_similarity(frame, category_weight=0.5)
    assert dpp_order(relevance, similarity, lambda_, n_picks=6).tolist() == _slow_dpp(
        relevance, similarity, lambda_, 6
    )


def test_dpp_by_category_covers_the_categories_first():
    frame, relevance = _random_candidates(40, 5, seed=2)
    order = dpp_order(relevance, item_similarity(frame), lambda_=0.5)
    assert sorted(order.tolist()) == list(range(40))
    first = frame["category"].to_numpy()[order[:5]]
    assert sorted(first.tolist()) == [0, 1, 2, 3, 4]
    # Then the DPP cannot tell the rest apart, and relevance decides.
    rest = order[5:]
    assert np.all(np.diff(relevance[rest]) <= 0)


def test_dpp_by_hand():
    similarity = item_similarity(pd.DataFrame({"category": [0, 0, 1]}))
    # Item 1 duplicates item 0 for the DPP (det 0), so item 2 comes second.
    assert dpp_order([0.9, 0.8, 0.1], similarity, 0.5).tolist() == [0, 2, 1]
    assert dpp_order([0.9, 0.8, 0.1], similarity, 1.0).tolist() == [0, 1, 2]


@settings(max_examples=30, deadline=None)
@given(
    n_items=st.integers(1, 25),
    n_categories=st.integers(1, 6),
    lambda_=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_dpp_picks_distinct_items(n_items, n_categories, lambda_, seed):
    frame, relevance = _random_candidates(n_items, n_categories, seed)
    for weight in (1.0, 0.5):
        order = dpp_order(relevance, item_similarity(frame, weight), lambda_)
        assert len(order) == n_items
        assert len(set(order.tolist())) == n_items


def test_dpp_survives_a_lambda_near_one():
    frame, relevance = _random_candidates(30, 4, seed=3)
    order = dpp_order(relevance, item_similarity(frame, 0.5), 0.999999)
    assert len(set(order.tolist())) == 30


# ----------------------------------------------------- the category rule
def _rule_can_be_kept(categories, page_size):
    """Is there any page of page_size distinct items with no neighbours alike?"""
    for page in itertools.permutations(range(len(categories)), page_size):
        if _adjacent_repeats([categories[i] for i in page]) == 0:
            return True
    return False


@settings(max_examples=60, deadline=None)
@given(
    categories=st.lists(st.integers(0, 2), min_size=1, max_size=6),
    data=st.data(),
)
def test_arrange_page_keeps_the_rule_whenever_it_can(categories, data):
    page_size = data.draw(st.integers(1, len(categories)))
    order = data.draw(st.permutations(range(len(categories))))
    page, satisfied = arrange_page(order, categories, page_size)
    assert len(page) == page_size
    assert len(set(page.tolist())) == page_size
    assert satisfied == _rule_can_be_kept(categories, page_size)
    assert satisfied == (_adjacent_repeats(np.array(categories)[page]) == 0)


def test_arrange_page_by_hand():
    page, satisfied = arrange_page([0, 1, 2, 3], ["a", "a", "b", "b"], 4)
    assert page.tolist() == [0, 2, 1, 3] and satisfied
    # Looking ahead: a, b, c would leave c, c for the last two slots.
    page, satisfied = arrange_page([0, 1, 2, 3], ["a", "b", "c", "c"], 4)
    assert page.tolist() == [0, 2, 1, 3] and satisfied


def test_arrange_page_flags_a_rule_it_cannot_keep_and_keeps_the_length():
    page, satisfied = arrange_page([2, 0, 1], [5, 5, 5], 3)
    assert page.tolist() == [2, 0, 1]
    assert not satisfied


def test_arrange_page_without_the_rule_is_the_order():
    page, satisfied = arrange_page([3, 1, 0, 2], [0, 0, 0, 1], 3, category_rule=False)
    assert page.tolist() == [3, 1, 0] and satisfied


# ---------------------------------------------------- the chapter's pages
def test_rerank_page_keeps_length_and_rule(candidates):
    for method in ("mmr", "dpp"):
        for lambda_ in (0.0, 0.5, 1.0):
            page = rerank_page(
                candidates, candidates["relevance"], lambda_, method=method
            )
            assert len(page.items) == 10
            assert page.items["slot"].tolist() == list(range(1, 11))
            assert page.rule_satisfied
            assert _adjacent_repeats(page.items["category"]) == 0
            np.testing.assert_allclose(
                page.items["relevance"],
                candidates["relevance"].to_numpy()[page.positions],
            )


def test_rerank_page_with_lambda_one_and_no_rule_is_the_top_by_relevance(candidates):
    page = rerank_page(candidates, candidates["relevance"], 1.0, category_rule=False)
    best = np.argsort(-candidates["relevance"].to_numpy(), kind="stable")[:10]
    assert page.positions.tolist() == best.tolist()


def test_rerank_page_flags_a_single_category(candidates):
    one_category = candidates.assign(category=7)
    page = rerank_page(one_category, candidates["relevance"], 0.5)
    assert len(page.items) == 10
    assert not page.rule_satisfied


def test_dpp_page_is_rerank_page_with_the_dpp(candidates):
    page = dpp_page(candidates, candidates["relevance"], 0.3, page_size=6)
    same = rerank_page(
        candidates, candidates["relevance"], 0.3, method="dpp", page_size=6
    )
    assert page.positions.tolist() == same.positions.tolist()


@pytest.mark.parametrize("method", ["mmr", "dpp"])
def test_diversity_tradeoff_moves_from_diversity_to_relevance(candidates, method):
    table = diversity_tradeoff(
        candidates, candidates["relevance"], [0.0, 0.5, 1.0], method=method
    )
    assert table.columns.tolist() == [
        "lambda_",
        "relevance_kept",
        "n_categories",
        "mean_dissimilarity",
        "adjacent_repeats",
        "rule_satisfied",
    ]
    assert table["relevance_kept"].iloc[-1] == pytest.approx(1.0)
    assert (table["relevance_kept"] <= 1.0 + 1e-12).all()
    assert table["relevance_kept"].iloc[0] < 1.0
    assert table["n_categories"].iloc[0] > table["n_categories"].iloc[-1]
    assert table["mean_dissimilarity"].iloc[0] > table["mean_dissimilarity"].iloc[-1]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"lambda_": 1.5}, ValueError, "lambda_ must be in [0, 1], got 1.5"),
        ({"lambda_": float("nan")}, ValueError, "lambda_ must be in [0, 1], got nan"),
        (
            {"rerank_method": "xquad"},
            ValueError,
            "rerank_method must be one of 'mmr', 'dpp', got 'xquad'",
        ),
        (
            {"method": "sum"},
            ValueError,
            "method must be one of weighted_sum, expected_interactions",
        ),
        (
            {"weights": {"like": -1.0}},
            ValueError,
            "weights['like'] must be a finite number >= 0, got -1.0",
        ),
        (
            {"ranking_size": 300},
            ValueError,
            "ranking_size must be at most pre_ranking_size (200), got 300",
        ),
        (
            {"page_size": 60},
            ValueError,
            "page_size must be at most ranking_size (50), got 60",
        ),
        ({"page_size": 0}, ValueError, "page_size must be a positive integer, got 0"),
        (
            {"n_true_top": 5000},
            ValueError,
            "n_true_top must be in [1, 2000] (the number of items), got 5000",
        ),
        (
            {"recall_sizes": {"trending": 10}},
            ValueError,
            "recall_sizes has an unknown channel 'trending'; the channels are "
            "popularity, favourite_categories, exploration, embedding",
        ),
        (
            {"recall_sizes": {"embedding": -1}},
            ValueError,
            "recall_sizes['embedding'] must be an integer >= 0, got -1",
        ),
        (
            {"recall_sizes": {channel: 0 for channel in DEFAULT_RECALL_SIZES}},
            ValueError,
            "recall_sizes switches every channel off",
        ),
        (
            {
                "recall_sizes": {
                    "popularity": 5,
                    "favourite_categories": 0,
                    "exploration": 0,
                    "embedding": 0,
                }
            },
            ValueError,
            "recall found 5 items, fewer than page_size (10)",
        ),
        (
            {"embedding_noise": -0.5},
            ValueError,
            "embedding_noise must be a finite number >= 0, got -0.5",
        ),
        ({"hour": 25}, ValueError, "hour must be in [0, 23] for this world, got 25"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        (
            {"ranking_scorer": "truth"},
            TypeError,
            "ranking_scorer must be callable, got str",
        ),
        (
            {"ranking_scorer": lambda frame: truth_scores(frame).to_numpy()},
            TypeError,
            "ranking_scorer must return a DataFrame, got ndarray",
        ),
        (
            {"ranking_scorer": lambda frame: truth_scores(frame).iloc[1:]},
            ValueError,
            "ranking_scorer must return one row per candidate (200), got 199 rows",
        ),
        (
            {"ranking_scorer": lambda frame: truth_scores(frame).drop(columns="share")},
            ValueError,
            "the output of ranking_scorer has no column 'share'",
        ),
        (
            {
                "pre_ranking_scorer": lambda frame: truth_scores(frame).assign(
                    like=np.nan
                )
            },
            ValueError,
            "pre_ranking_scorer returned unusable scores: scores['like'] must hold "
            "probabilities in [0, 1], got nan at index 0",
        ),
    ],
)
def test_bad_funnel_arguments_are_refused(world, options, error, message):
    with pytest.raises(error, match=re.escape(message)):
        run_funnel(world, 0, **options)


@pytest.mark.parametrize(
    "user_id, error, message",
    [
        (200, ValueError, "user_id must be in [0, 199], got 200"),
        (-1, ValueError, "user_id must be in [0, 199], got -1"),
        (1.0, TypeError, "user_id must be an integer, got 1.0"),
    ],
)
def test_bad_user_ids_are_refused(world, user_id, error, message):
    with pytest.raises(error, match=re.escape(message)):
        run_funnel(world, user_id)


def test_the_world_must_be_a_world():
    message = "world must be a World from make_world, got dict"
    with pytest.raises(TypeError, match=message):
        run_funnel({}, 0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda c: rerank_page(c, c["relevance"], 1.5),
            ValueError,
            "lambda_ must be in [0, 1], got 1.5",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], -0.1),
            ValueError,
            "lambda_ must be in [0, 1], got -0.1",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], "high"),
            TypeError,
            "lambda_ must be a real number, got 'high' (str)",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], 0.5, method="xquad"),
            ValueError,
            "method must be one of 'mmr', 'dpp', got 'xquad'",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], 0.5, page_size=51),
            ValueError,
            "page_size must be in [1, 50] (the number of candidates), got 51",
        ),
        (
            lambda c: rerank_page(c, c["relevance"][:-1], 0.5),
            ValueError,
            "relevance and candidates must have the same length, got 49 and 50",
        ),
        (
            lambda c: rerank_page(c, c["relevance"].where(c.index != 3), 0.5),
            ValueError,
            "relevance must not hold NaN, got nan at index 3",
        ),
        (
            lambda c: rerank_page(c, np.full(50, np.inf), 0.5),
            ValueError,
            "relevance must hold finite numbers, got inf",
        ),
        (
            lambda c: rerank_page(c.drop(columns="category"), c["relevance"], 0.5),
            ValueError,
            "candidates has no column 'category'",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], 0.5, category_weight=2.0),
            ValueError,
            "category_weight must be in [0, 1], got 2.0",
        ),
        (
            lambda c: rerank_page(c, c["relevance"], 0.5, category_rule="yes"),
            TypeError,
            "category_rule must be True or False, got 'yes'",
        ),
        (
            lambda c: diversity_tradeoff(c, c["relevance"], [0.5, 1.2]),
            ValueError,
            "lambdas must hold values in [0, 1], got 1.2",
        ),
        (
            lambda c: diversity_tradeoff(c, -c["relevance"], [0.5]),
            ValueError,
            "relevance must be >= 0 for diversity_tradeoff",
        ),
        (
            lambda c: mmr_order([0.1, 0.2], np.eye(3), 0.5),
            ValueError,
            "similarity must have shape (2, 2) to match relevance, got (3, 3)",
        ),
        (
            lambda c: dpp_order([0.1, 0.2], np.eye(2), 0.5, n_picks=3),
            ValueError,
            "n_picks must be in [1, 2] (the number of items), got 3",
        ),
        (
            lambda c: arrange_page([0, 0, 1], [1, 2], 2),
            ValueError,
            "order must not repeat a position",
        ),
        (
            lambda c: arrange_page([0, 5], [1, 2], 2),
            ValueError,
            "order must hold positions in [0, 1]",
        ),
        (
            lambda c: arrange_page([0, 1], [1, 2], 3),
            ValueError,
            "page_size must be at most the number of candidates in order (2), got 3",
        ),
        (
            lambda c: noisy_truth_scorer(None),
            TypeError,
            "world must be a World from make_world, got NoneType",
        ),
    ],
)
def test_bad_re_ranking_arguments_are_refused(candidates, call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(candidates)


def test_noisy_truth_scorer_refuses_negative_noise(world):
    message = "noise must be a finite number >= 0, got -1"
    with pytest.raises(ValueError, match=re.escape(message)):
        noisy_truth_scorer(world, noise=-1)
