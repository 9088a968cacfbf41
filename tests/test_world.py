"""Tests of the synthetic world: seeding, shapes, label logic, base rates."""

import numpy as np
import pandas as pd
import pytest

from mtrank_lite import TASKS, make_world
from mtrank_lite.world import FEATURE_GROUPS


@pytest.fixture(scope="module")
def small_world():
    return make_world(seed=0, n_users=300, n_items=200, warmup_impressions=200_000)


@pytest.fixture(scope="module")
def default_log():
    # The chapters' default world; a large log pins the base rates.
    return make_world(seed=0).impressions(400_000, seed=1)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_same_seed_gives_the_same_log(seed):
    first = make_world(seed=seed, n_users=80, n_items=60, warmup_impressions=20_000)
    second = make_world(seed=seed, n_users=80, n_items=60, warmup_impressions=20_000)

    pd.testing.assert_frame_equal(
        first.impressions(500, seed=3), second.impressions(500, seed=3)
    )


def test_different_seeds_give_different_logs(small_world):
    first = small_world.impressions(500, seed=1)
    second = small_world.impressions(500, seed=2)

    assert not first["user_id"].equals(second["user_id"])


def test_log_has_every_feature_label_and_truth_column(small_world):
    log = small_world.impressions(1000, seed=1)

    features = [column for group in FEATURE_GROUPS.values() for column in group]
    truths = [f"p_{task}" for task in TASKS]
    assert list(log.columns) == features + list(TASKS) + truths
    assert len(log) == 1000


def test_interactions_happen_only_after_a_click(small_world):
    log = small_world.impressions(50_000, seed=1)

    for task in TASKS[1:]:
        assert (log.loc[log["click"] == 0, task] == 0).all()
        assert log[task].sum() > 0


def test_truth_columns_are_probabilities(small_world):
    log = small_world.impressions(5000, seed=1)

    truth = log[[f"p_{task}" for task in TASKS]].to_numpy()
    assert np.isfinite(truth).all()
    assert ((truth > 0) & (truth < 1)).all()


def test_true_probabilities_agree_with_the_log(small_world):
    log = small_world.impressions(2000, seed=4)

    recomputed = small_world.true_probabilities(log)

    for task in TASKS:
        np.testing.assert_allclose(recomputed[f"p_{task}"], log[f"p_{task}"])


def test_labels_follow_the_truth(small_world):
    log = small_world.impressions(200_000, seed=5)

    # The observed click rate must sit within 4 standard errors of the mean
    # true probability; this fails if labels were drawn from another rule.
    expected = log["p_click"].mean()
    error = np.sqrt(expected * (1 - expected) / len(log))
    assert abs(log["click"].mean() - expected) < 4 * error


@pytest.mark.slow
def test_default_world_has_realistic_base_rates(default_log):
    clicked = default_log[default_log["click"] == 1]

    assert 0.05 <= default_log["click"].mean() <= 0.10
    assert 0.07 <= clicked["like"].mean() <= 0.13
    assert 0.01 <= clicked["collect"].mean() <= 0.05
    assert 0.01 <= clicked["share"].mean() <= 0.025


@pytest.mark.slow
def test_clickbait_raises_clicks_and_lowers_likes():
    world = make_world(seed=0)
    log = world.impressions(200_000, seed=2)
    per_item = log.groupby("item_id")[["p_click", "p_like"]].mean()
    clickbait = world.hidden_items.set_index("item_id")["clickbait"]
    per_item = per_item.join(clickbait)

    assert per_item["clickbait"].corr(per_item["p_click"]) > 0.2
    assert per_item["clickbait"].corr(per_item["p_like"]) < -0.2


def test_new_items_have_no_history(small_world):
    new = small_world.impressions(2000, seed=1, item_pool="new")
    known = small_world.impressions(2000, seed=1)

    assert small_world.items.loc[new["item_id"], "is_new"].all()
    assert not small_world.items.loc[known["item_id"], "is_new"].any()
    assert (new["item_log_impressions"] == 0).all()
    assert new["item_ctr"].nunique() == 1


def test_features_accept_scalar_context(small_world):
    frame = small_world.features([0, 1, 2], [3, 4, 5], hour=20, device=0, position=1)

    assert (frame["hour"] == 20).all()
    assert frame.shape == (3, 24)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"n_users": 0}, ValueError, "n_users must be a positive integer, got 0"),
        ({"n_items": 1}, ValueError, "n_items must be at least 2, got 1"),
        ({"n_items": 2.5}, TypeError, "n_items must be a positive integer, got 2.5"),
        ({"new_item_share": 1.0}, ValueError, r"new_item_share must be in \[0, 1\)"),
        ({"warmup_impressions": -5}, ValueError, "warmup_impressions must be a"),
    ],
)
def test_make_world_rejects_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        make_world(seed=0, **{"n_users": 10, "n_items": 10, **arguments})


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"n": 0}, ValueError, "n must be a positive integer, got 0"),
        ({"n": "10"}, TypeError, "n must be a positive integer, got '10'"),
        ({"n": 10, "item_pool": "old"}, ValueError, "item_pool must be .* got 'old'"),
    ],
)
def test_impressions_rejects_bad_arguments(small_world, arguments, error, message):
    with pytest.raises(error, match=message):
        small_world.impressions(**arguments)


def test_features_reject_unknown_ids(small_world):
    with pytest.raises(ValueError, match=r"item_id must be in \[0, 199\].*got 200"):
        small_world.features([0], [200], hour=1, device=0, position=0)
    with pytest.raises(ValueError, match="user_ids and item_ids must have the same"):
        small_world.features([0, 1], [2], hour=1, device=0, position=0)


def test_true_probabilities_reject_a_frame_without_ids(small_world):
    with pytest.raises(ValueError, match="frame has no column 'user_id'"):
        small_world.true_probabilities(
            pd.DataFrame({"item_id": [0], "hour": [0], "device": [0], "position": [0]})
        )
