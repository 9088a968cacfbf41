"""Tests of mtrank_lite.training: losses, fitting, prediction and calibration."""

import io
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mtrank_lite.metrics import auc, logloss
from mtrank_lite.models import FeatureSpec, SharedBottom, SingleTask
from mtrank_lite.sampling import downsample_negatives
from mtrank_lite.training import fit, predict, task_losses
from mtrank_lite.world import TASKS, make_world


# One torch thread for these tiny models; see one_thread in conftest.py.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train(world):
    return world.impressions(20_000, seed=1)


@pytest.fixture(scope="module")
def test_log(world):
    return world.impressions(20_000, seed=2)


@pytest.fixture(scope="module")
def spec(world, train):
    return FeatureSpec.from_world(world, train)


def _small_model(spec, seed=0):
    return SharedBottom(spec, embedding_dim=4, bottom=(16,), towers=(8,), seed=seed)


def _bias_only_sample(n_clicks=100, n_kept_negatives=90):
    """Case 3: 1000 impressions with 100 clicks, negatives kept at 10 %."""
    clicks = np.r_[np.ones(n_clicks), np.zeros(n_kept_negatives)].astype(np.int64)
    return pd.DataFrame(
        {
            # A constant input standardizes to 0: the model is its bias alone.
            "constant": 1.0,
            "click": clicks,
            "like": 0,
            "collect": 0,
            "share": 0,
        }
    )


def _bias_only_spec(sample):
    return FeatureSpec.from_frame(sample, feature_groups={"bias": ["constant"]})


# ------------------------------------------------------------- the masked loss
def _reference_losses(logits, labels, clicked):
    """A slow, obvious version: a loop over tasks and rows in float64."""
    losses = []
    for task in range(logits.shape[1]):
        rows = range(len(logits)) if task == 0 else np.flatnonzero(clicked)
        terms = []
        for row in rows:
            probability = 1 / (1 + np.exp(-logits[row, task]))
            label = labels[row, task]
            terms.append(
                -(label * np.log(probability) + (1 - label) * np.log(1 - probability))
            )
        losses.append(np.mean(terms) if terms else 0.0)
    return np.array(losses)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("click_share", [0.0, 0.1, 1.0])
def test_task_losses_match_a_slow_reference(seed, click_share):
    rng = np.random.default_rng(seed)
    clicked = (rng.random(40) < click_share).astype(np.float32)
    labels = (rng.random((40, 4)) < 0.3).astype(np.float32) * np.r_[1, 1, 1, 1]
    labels[:, 1:] *= clicked[:, None]
    labels[:, 0] = clicked
    masks = np.ones((40, 4), dtype=np.float32)
    masks[:, 1:] = clicked[:, None]
    logits = rng.normal(0, 2, size=(40, 4)).astype(np.float32)

    losses, counts = task_losses(
        torch.from_numpy(logits), torch.from_numpy(labels), torch.from_numpy(masks)
    )

    expected = _reference_losses(logits.astype(np.float64), labels, clicked)
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(counts.numpy(), [40] + [clicked.sum()] * 3)


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_a_batch_without_click_gives_zero_loss_and_gradient_to_the_click_heads(
    spec, train, batch_size
):
    # Case 4: no row of the batch is labelled for like, collect and share.
    model = _small_model(spec)
    batch = train[train["click"] == 0].head(batch_size)
    labels = torch.tensor(batch[list(TASKS)].to_numpy(), dtype=torch.float32)
    masks = torch.ones_like(labels)
    masks[:, 1:] = labels[:, :1]

    losses, counts = task_losses(model(*spec.encode(batch)), labels, masks)
    total = losses.sum()
    total.backward()

    assert torch.isfinite(total)
    assert losses[1:].tolist() == [0.0, 0.0, 0.0]
    assert counts.tolist() == [batch_size, 0, 0, 0]
    for task, tower in zip(TASKS, model.towers):
        gradients = [parameter.grad for parameter in tower.parameters()]
        if task == "click":
            assert any(gradient.abs().sum() > 0 for gradient in gradients)
        else:
            assert all(torch.count_nonzero(gradient) == 0 for gradient in gradients)


def test_fitting_a_log_without_any_click_keeps_every_weight_finite(spec, train):
    model = _small_model(spec)
    no_clicks = train[train["click"] == 0].head(500)

    history = fit(model, no_clicks, epochs=2, batch_size=64, progress=False)

    assert all(torch.isfinite(value).all() for value in model.state_dict().values())
    assert np.isfinite(history["loss_total"]).all()
    assert np.isfinite(history["loss_click"]).all()
    # No clicked row at all: the per-click losses are undefined for the epoch.
    assert history[["loss_like", "loss_collect", "loss_share"]].isna().all().all()


def test_a_task_weighted_zero_leaves_its_tower_unchanged(spec, train):
    model = _small_model(spec)
    before = {name: value.clone() for name, value in model.state_dict().items()}

    fit(model, train.head(3000), epochs=1, task_weights={"share": 0}, progress=False)

    after = model.state_dict()
    assert torch.equal(after["towers.3.1.weight"], before["towers.3.1.weight"])
    assert not torch.equal(after["towers.2.1.weight"], before["towers.2.1.weight"])


# ------------------------------------------------------------------- fitting
@pytest.mark.parametrize("n_rows, batch_size", [(11, 10), (2049, 2048), (5, 1), (3, 8)])
def test_any_batch_size_works_including_a_last_batch_of_one_row(
    spec, train, n_rows, batch_size
):
    model = _small_model(spec)

    history = fit(model, train.head(n_rows), epochs=2, batch_size=batch_size,
                  progress=False)

    assert len(history) == 2
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_same_seed_same_weights_other_seed_other_weights(spec, train, seed):
    frame = train.head(4000)
    state_before = torch.get_rng_state()

    weights = []
    for fit_seed in (seed, seed, seed + 1):
        model = _small_model(spec)
        fit(model, frame, epochs=1, batch_size=256, seed=fit_seed, progress=False)
        weights.append(model.state_dict())

    assert torch.equal(torch.get_rng_state(), state_before)
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert not torch.equal(weights[0]["bottom.0.weight"], weights[2]["bottom.0.weight"])


def test_history_has_a_row_per_epoch_and_a_column_per_task(spec, train, test_log):
    model = _small_model(spec)

    history = fit(model, train.head(3000), epochs=3, validation=test_log.head(3000),
                  progress=False)

    losses = [f"loss_{task}" for task in TASKS]
    validation = [
        f"validation_{metric}_{task}" for task in TASKS for metric in ("auc", "logloss")
    ]
    assert list(history.columns) == ["epoch", *losses, "loss_total", "seconds",
                                      *validation]
    assert history["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(
        history["loss_total"], history[losses].sum(axis=1), rtol=1e-12
    )
    assert (history["seconds"] > 0).all()


def test_validation_metrics_are_those_of_predict(spec, train, test_log):
    model = _small_model(spec)
    held_out = test_log.head(5000)

    history = fit(model, train.head(3000), epochs=1, validation=held_out,
                  keep_rate=0.5, progress=False)

    predictions = predict(model, held_out)
    clicked = held_out["click"] == 1
    assert history.loc[0, "validation_auc_click"] == pytest.approx(
        auc(held_out["click"], predictions["click"]), abs=1e-6
    )
    assert history.loc[0, "validation_logloss_like"] == pytest.approx(
        logloss(held_out.loc[clicked, "like"], predictions.loc[clicked, "like"]),
        rel=1e-6,
    )


def test_progress_bar_can_be_switched_off(spec, train, capsys):
    fit(_small_model(spec), train.head(500), epochs=1, progress=False)

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_a_short_run_beats_the_training_base_rate_on_every_task(world):
    train = world.impressions(30_000, seed=11)
    held_out = world.impressions(30_000, seed=12)
    spec = FeatureSpec.from_world(world, train, include_ids=False)
    model = SharedBottom(spec, seed=0)

    fit(model, train, epochs=2, batch_size=512, progress=False)
    predictions = predict(model, held_out)

    clicked_train = train["click"] == 1
    clicked = held_out["click"] == 1
    for task in TASKS:
        rows = slice(None) if task == "click" else clicked
        base_rate = train.loc[slice(None) if task == "click" else clicked_train,
                              task].mean()
        labels = held_out.loc[rows, task]
        model_loss = logloss(labels, predictions.loc[rows, task])
        constant_loss = logloss(labels, np.full(len(labels), base_rate))
        assert model_loss < constant_loss, task


def test_single_task_trains_on_clicked_rows_only(spec, train):
    model = SingleTask(spec, task="like", hidden=(8,))

    history = fit(model, train.head(3000), epochs=1, progress=False)

    assert list(history.columns) == ["epoch", "loss_like", "loss_total", "seconds"]
    assert predict(model, train.head(4)).columns.tolist() == ["like"]


# ------------------------------------------------------------------- predict
def test_predict_keeps_the_index_and_gives_probabilities(spec, train):
    model = _small_model(spec)
    frame = train.head(300).set_index(np.arange(300) * 7 + 3)

    predictions = predict(model, frame)

    assert predictions.columns.tolist() == list(TASKS)
    assert predictions.index.equals(frame.index)
    assert ((predictions > 0) & (predictions < 1)).all().all()


@pytest.mark.parametrize("batch_size", [1, 7, 300, 10_000])
def test_predict_batch_size_changes_nothing(spec, train, batch_size):
    model = _small_model(spec)
    frame = train.head(300)

    np.testing.assert_allclose(
        predict(model, frame, batch_size=batch_size), predict(model, frame), rtol=1e-6
    )


def test_predict_of_an_empty_frame_is_empty(spec, train):
    predictions = predict(_small_model(spec), train.iloc[:0])

    assert predictions.shape == (0, 4)
    assert predictions.columns.tolist() == list(TASKS)


def test_predict_leaves_the_training_mode_as_it_was(spec, train):
    model = _small_model(spec)
    model.train()

    predict(model, train.head(10))

    assert model.training


# ------------------------------------------------- case 3: the correction stays
@pytest.mark.parametrize("model_type", ["shared_bottom", "single_task"])
def test_case_3_bias_only_model_predicts_the_true_click_rate(model_type):
    # 1000 impressions with 100 clicks; negatives kept at 10 %: 190 rows.
    sample = _bias_only_sample()
    spec = _bias_only_spec(sample)
    if model_type == "shared_bottom":
        model = SharedBottom(spec, bottom=(), towers=())
    else:
        model = SingleTask(spec, hidden=())

    fit(model, sample, epochs=200, batch_size=190, learning_rate=0.05,
        keep_rate=0.1, progress=False)

    calibrated = predict(model, sample)["click"]
    raw = predict(model, sample, calibrated=False)["click"]
    assert len(sample) == 190
    assert raw.mean() == pytest.approx(100 / 190, abs=1e-3)  # 0.526, inflated
    assert calibrated.mean() == pytest.approx(0.100, abs=1e-3)


def test_case_3_the_correction_survives_save_and_load():
    sample = _bias_only_sample()
    spec = _bias_only_spec(sample)
    model = SharedBottom(spec, bottom=(), towers=())
    fit(model, sample, epochs=200, batch_size=190, learning_rate=0.05,
        keep_rate=0.1, progress=False)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)
    saved.seek(0)

    served = SharedBottom(spec, bottom=(), towers=(), seed=3)
    served.load_state_dict(torch.load(saved))

    assert predict(served, sample)["click"].mean() == pytest.approx(0.100, abs=1e-3)
    pd.testing.assert_frame_equal(predict(served, sample), predict(model, sample))


def test_case_3_per_click_heads_are_never_calibrated(spec, train):
    model = _small_model(spec)
    fit(model, train.head(2000), epochs=1, keep_rate=0.1, progress=False)

    calibrated = predict(model, train.head(500))
    raw = predict(model, train.head(500), calibrated=False)

    pd.testing.assert_frame_equal(calibrated[["like", "collect", "share"]],
                                  raw[["like", "collect", "share"]])
    assert (calibrated["click"] < raw["click"]).all()


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_case_3_downsampled_world_log_predicts_the_true_mean_click_rate(
    world, alpha
):
    train = world.impressions(60_000, seed=21)
    held_out = world.impressions(40_000, seed=22)
    sample = downsample_negatives(train, alpha, seed=0)
    spec = FeatureSpec.from_world(world, sample, include_ids=False)
    model = SharedBottom(spec)

    fit(model, sample, epochs=3, batch_size=256, keep_rate=alpha, progress=False)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)
    saved.seek(0)
    served = SharedBottom(spec, seed=9)
    served.load_state_dict(torch.load(saved))

    true_mean = held_out["p_click"].mean()
    calibrated_mean = predict(served, held_out)["click"].mean()
    raw_mean = predict(served, held_out, calibrated=False)["click"].mean()
    assert calibrated_mean == pytest.approx(true_mean, rel=0.1)
    assert raw_mean > 1.8 * true_mean


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            {"frame": "drop_like"},
            ValueError,
            "frame has no column 'like'; its columns are",
        ),
        ({"frame": "empty"}, ValueError, "frame must not be empty, got 0 rows"),
        ({"frame": "list"}, TypeError, "frame must be a pandas DataFrame, got list"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
        (
            {"batch_size": 2.5},
            TypeError,
            "batch_size must be a positive integer, got 2.5 (float)",
        ),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
        ({"keep_rate": 0}, ValueError, "keep_rate must be in (0, 1], got 0"),
        ({"keep_rate": 1.5}, ValueError, "keep_rate must be in (0, 1], got 1.5"),
        (
            {"keep_rate": "0.1"},
            TypeError,
            "keep_rate must be a real number, got '0.1' (str)",
        ),
        (
            {"learning_rate": -0.1},
            ValueError,
            "learning_rate must be a positive finite number, got -0.1",
        ),
        (
            {"task_weights": {"buy": 1.0}},
            ValueError,
            "task_weights must have keys among the model's tasks "
            "['click', 'like', 'collect', 'share'], got 'buy'",
        ),
        (
            {"task_weights": {"like": -1}},
            ValueError,
            "task_weights['like'] must be a finite number >= 0, got -1",
        ),
        ({"seed": -3}, ValueError, "seed must be a non-negative integer, got -3"),
        ({"progress": "no"}, TypeError, "progress must be True or False, got 'no'"),
        (
            {"frame": "bad_label"},
            ValueError,
            "frame['click'] must hold labels in {0, 1}, got 2 at index 0",
        ),
        (
            {"validation": "drop_share"},
            ValueError,
            "validation has no column 'share'",
        ),
    ],
)
def test_fit_refuses_bad_input_naming_argument_and_value(
    spec, train, change, error, message
):
    frames = {
        "drop_like": train.head(50).drop(columns="like"),
        "drop_share": train.head(50).drop(columns="share"),
        "empty": train.iloc[:0],
        "list": [1, 2],
        "bad_label": train.head(50).assign(click=2),
    }
    arguments = {"frame": train.head(50), "progress": False}
    for name, value in change.items():
        arguments[name] = frames.get(value, value) if isinstance(value, str) else value

    with pytest.raises(error, match=re.escape(message)):
        fit(_small_model(spec), **arguments)


@pytest.mark.parametrize("function", [fit, predict])
@pytest.mark.parametrize("model", [torch.nn.Linear(3, 1), "model", None])
def test_fit_and_predict_refuse_a_model_of_the_wrong_type(train, function, model):
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"model must be a SharedBottom or a SingleTask, got {type(model).__name__}"
        ),
    ):
        function(model, train.head(5))


def test_predict_refuses_bad_arguments(spec, train):
    model = _small_model(spec)

    message = re.escape("batch_size must be a positive integer, got 0")
    with pytest.raises(ValueError, match=message):
        predict(model, train.head(5), batch_size=0)
    message = re.escape("calibrated must be True or False, got 1")
    with pytest.raises(TypeError, match=message):
        predict(model, train.head(5), calibrated=1)
    with pytest.raises(ValueError, match="frame has no column 'position'"):
        predict(model, train.head(5).drop(columns="position"))


@pytest.mark.parametrize("seed", [0, 3])
def test_fit_matches_each_head_mean_to_its_label_rate(seed):
    world = make_world(seed=seed, n_users=150, n_items=80, warmup_impressions=30_000)
    frame = world.impressions(6000, seed=seed + 1)
    model = SharedBottom(FeatureSpec.from_world(world, frame), seed=seed)

    fit(model, frame, epochs=1, batch_size=512, seed=seed, progress=False)

    raw = predict(model, frame, calibrated=False)
    clicked = frame["click"] == 1
    assert raw["click"].mean() == pytest.approx(frame["click"].mean(), rel=1e-6)
    for task in ("like", "collect", "share"):
        if 0 < frame.loc[clicked, task].mean() < 1:
            expected = frame.loc[clicked, task].mean()
            assert raw.loc[clicked, task].mean() == pytest.approx(expected, rel=1e-6)


def test_fit_without_matching_leaves_the_mean_off():
    world = make_world(seed=0, n_users=150, n_items=80, warmup_impressions=30_000)
    frame = world.impressions(6000, seed=1)
    model = SharedBottom(FeatureSpec.from_world(world, frame), seed=0)

    fit(model, frame, epochs=1, batch_size=512, progress=False, match_rates=False)

    raw = predict(model, frame, calibrated=False)
    assert abs(raw["click"].mean() - frame["click"].mean()) > 1e-6


def test_fit_rejects_a_non_boolean_match_rates():
    world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=5000)
    frame = world.impressions(200, seed=1)
    model = SharedBottom(FeatureSpec.from_world(world, frame))

    with pytest.raises(TypeError, match="match_rates must be True or False, got 1"):
        fit(model, frame, epochs=1, progress=False, match_rates=1)
