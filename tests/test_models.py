"""Tests of mtrank_lite.models: the feature spec, the models and their buffers."""

import io
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mtrank_lite.models import (
    CATEGORICAL_COLUMNS,
    ID_COLUMNS,
    FeatureSpec,
    SharedBottom,
    SingleTask,
)
from mtrank_lite.world import FEATURE_GROUPS, TASKS


# One torch thread for these tiny models; see one_thread in conftest.py.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def frame(world):
    return world.impressions(2_000, seed=1)


@pytest.fixture(scope="module")
def spec(world, frame):
    return FeatureSpec.from_world(world, frame)


def _all_feature_columns():
    return [column for columns in FEATURE_GROUPS.values() for column in columns]


# ---------------------------------------------------------------- FeatureSpec
def test_spec_from_world_has_every_column_with_world_vocabularies(world, spec):
    expected_categorical = [
        column for column in _all_feature_columns() if column in CATEGORICAL_COLUMNS
    ]

    assert spec.categorical_columns == expected_categorical
    assert dict(spec.categorical) == {
        "user_id": 200,
        "item_id": 100,
        "age_group": 5,
        "activity": 3,
        "region": 6,
        "category": world.n_categories,
        "hour": 24,
        "device": 3,
        "position": 10,
    }
    assert set(spec.columns) == set(_all_feature_columns())


def test_spec_numeric_scaling_is_the_training_mean_and_population_std(frame, spec):
    for column, mean, std in spec.numeric:
        values = frame[column].to_numpy(dtype=np.float64)
        assert mean == pytest.approx(values.mean(), rel=1e-12)
        assert std == pytest.approx(values.std(ddof=0), rel=1e-12)


def test_spec_constant_column_gets_std_one():
    log = pd.DataFrame({"device": [0, 1, 2], "constant": [4.0, 4.0, 4.0]})

    spec = FeatureSpec.from_frame(log, feature_groups={"all": ["device", "constant"]})

    assert spec.numeric == (("constant", 4.0, 1.0),)
    assert spec.categorical == (("device", 3),)


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"include_ids": False}, set(_all_feature_columns()) - set(ID_COLUMNS)),
        ({"groups": ["statistics"]}, set(FEATURE_GROUPS["statistics"])),
        ({"groups": "context"}, {"hour", "device", "position"}),
        (
            {"groups": ["user", "context"], "exclude": ["position", "user_id"]},
            {"age_group", "activity", "region", "hour", "device"},
        ),
    ],
)
def test_spec_options_choose_columns(world, frame, options, expected):
    spec = FeatureSpec.from_world(world, frame, **options)

    assert set(spec.columns) == expected


@pytest.mark.parametrize(
    "options, error, message",
    [
        (
            {"groups": ["users"]},
            ValueError,
            "groups must hold names among ['context', 'item', 'statistics', 'user'], "
            "got 'users'",
        ),
        (
            {"include_ids": "no"},
            TypeError,
            "include_ids must be True or False, got 'no'",
        ),
        (
            {"groups": ["statistics"], "exclude": FEATURE_GROUPS["statistics"]},
            ValueError,
            "no feature column is left with groups=['statistics']",
        ),
    ],
)
def test_spec_refuses_bad_options(world, frame, options, error, message):
    with pytest.raises(error, match=re.escape(message)):
        FeatureSpec.from_world(world, frame, **options)


def test_spec_refuses_a_frame_that_is_empty_or_not_a_frame(world, frame):
    empty = re.escape("frame must not be empty, got 0 rows")
    with pytest.raises(ValueError, match=empty):
        FeatureSpec.from_world(world, frame.iloc[:0])
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame, got dict"):
        FeatureSpec.from_world(world, {"user_id": [0]})


def test_encode_gives_int64_codes_and_float32_raw_numbers(frame, spec):
    categorical, numeric = spec.encode(frame)

    assert categorical.dtype == torch.int64
    assert numeric.dtype == torch.float32
    assert tuple(categorical.shape) == (len(frame), 9)
    assert tuple(numeric.shape) == (len(frame), 11)
    item_position = spec.categorical_columns.index("item_id")
    np.testing.assert_array_equal(categorical[:, item_position], frame["item_id"])
    np.testing.assert_allclose(
        numeric[:, 0].numpy(), frame[spec.numeric_columns[0]], rtol=1e-6
    )


def test_encode_refuses_codes_outside_the_vocabulary(world, frame):
    # Built from the frame alone, the vocabulary of item_id ends at the largest
    # id seen; a new item is then refused rather than silently wrapped.
    spec = FeatureSpec.from_frame(frame)
    largest = int(frame["item_id"].max())
    unseen = frame.head(3).copy()
    unseen["item_id"] = largest + 1

    with pytest.raises(
        ValueError,
        match=re.escape(
            f"frame['item_id'] must hold codes in [0, {largest}], got {largest + 1}"
        ),
    ):
        spec.encode(unseen)


def test_encode_refuses_non_integer_codes_and_nan_numbers(spec, frame):
    floats = frame.head(3).copy()
    floats["device"] = floats["device"].astype(float)
    holes = frame.head(3).copy()
    holes.loc[holes.index[1], "item_ctr"] = np.nan

    with pytest.raises(
        TypeError,
        match=re.escape("frame['device'] must hold integer codes, got dtype float64"),
    ):
        spec.encode(floats)
    with pytest.raises(
        ValueError,
        match=re.escape("frame['item_ctr'] must not hold NaN, got NaN at index 1"),
    ):
        spec.encode(holes)


def test_encode_names_a_missing_column(spec, frame):
    with pytest.raises(ValueError, match="frame has no column 'hour'"):
        spec.encode(frame.drop(columns="hour"))


# ---------------------------------------------------------------- the models
@pytest.mark.parametrize("batch_size", [1, 2, 17])
def test_shared_bottom_gives_one_logit_per_task(spec, frame, batch_size):
    model = SharedBottom(spec)

    logits = model(*spec.encode(frame.head(batch_size)))

    assert tuple(logits.shape) == (batch_size, len(TASKS))
    assert model.tasks == TASKS
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("task", TASKS)
def test_single_task_gives_one_logit(spec, frame, task):
    model = SingleTask(spec, task=task)

    logits = model(*spec.encode(frame.head(5)))

    assert tuple(logits.shape) == (5, 1)
    assert model.tasks == (task,)


@pytest.mark.parametrize(
    "options, sizes",
    [
        ({"bottom": (128, 64), "towers": (32,)}, [(128, None), (64, 128), (32, 64)]),
        ({"bottom": (8,), "towers": ()}, [(8, None), (1, 8)]),
    ],
)
def test_shared_bottom_layer_sizes(spec, options, sizes):
    model = SharedBottom(spec, embedding_dim=4, **options)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

    assert model.input_size == 9 * 4 + 11
    assert linear[0].in_features == model.input_size
    assert [layer.out_features for layer in linear[: len(sizes)]] == [
        size for size, _ in sizes
    ]
    # One tower per task, each ending in a single output.
    assert [tower[-1].out_features for tower in model.towers] == [1] * 4


def test_a_spec_without_categorical_columns_works(world, frame):
    spec = FeatureSpec.from_world(world, frame, groups=["statistics"])
    model = SharedBottom(spec)

    assert tuple(model(*spec.encode(frame.head(4))).shape) == (4, 4)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_initial_weights_follow_the_seed_and_leave_global_state(spec, seed):
    before = torch.get_rng_state()

    first = SharedBottom(spec, seed=seed).state_dict()
    second = SharedBottom(spec, seed=seed).state_dict()
    other = SharedBottom(spec, seed=seed + 1).state_dict()

    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not torch.equal(first["embedding.weight"], other["embedding.weight"])
    assert not torch.equal(first["bottom.0.weight"], other["bottom.0.weight"])


@pytest.mark.parametrize(
    "build, error, message",
    [
        (
            lambda s: SharedBottom("spec"),
            TypeError,
            "spec must be a FeatureSpec, got str",
        ),
        (
            lambda s: SharedBottom(s, bottom=(64, 0)),
            ValueError,
            "bottom[1] must be a positive integer, got 0",
        ),
        (
            lambda s: SharedBottom(s, tasks=("click", "buy")),
            ValueError,
            "tasks must be among ['click', 'like', 'collect', 'share'], got 'buy'",
        ),
        (
            lambda s: SharedBottom(s, tasks=()),
            ValueError,
            "tasks must name at least one of",
        ),
        (
            lambda s: SingleTask(s, task="buy"),
            ValueError,
            "task must be among ['click', 'like', 'collect', 'share'], got 'buy'",
        ),
        (
            lambda s: SharedBottom(s, embedding_dim=0),
            ValueError,
            "embedding_dim must be a positive integer, got 0",
        ),
        (
            lambda s: SharedBottom(s, seed=-1),
            ValueError,
            "seed must be a non-negative integer, got -1",
        ),
        (
            lambda s: SharedBottom(s, embedding_std=0.0),
            ValueError,
            "embedding_std must be positive, got 0.0",
        ),
    ],
)
def test_models_refuse_bad_arguments(spec, build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build(spec)


# ------------------------------------------------ keep rate and calibration
def test_keep_rate_is_a_buffer_that_survives_save_and_load(spec):
    model = SharedBottom(spec)
    model.set_keep_rate(0.1)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)

    fresh = SharedBottom(spec, seed=5)
    assert float(fresh.keep_rate) == 1.0
    saved.seek(0)
    fresh.load_state_dict(torch.load(saved))

    assert "keep_rate" in model.state_dict()
    assert float(fresh.keep_rate) == pytest.approx(0.1, abs=1e-15)


@pytest.mark.parametrize("alpha", [0, 1.5, -0.1, float("nan")])
def test_set_keep_rate_refuses_values_outside_the_unit_interval(spec, alpha):
    model = SharedBottom(spec)

    with pytest.raises(ValueError, match=re.escape("alpha must be in (0, 1], got")):
        model.set_keep_rate(alpha)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.5, 1.0])
def test_predict_proba_shifts_only_the_click_logit_by_log_alpha(spec, frame, alpha):
    model = SharedBottom(spec)
    model.set_keep_rate(alpha)
    inputs = spec.encode(frame.head(50))

    raw = model.predict_proba(*inputs, calibrated=False)
    calibrated = model.predict_proba(*inputs)
    logits = model(*inputs).detach().double().numpy()

    # A slow, obvious reference: the sigmoid of logit + ln(alpha) by hand.
    expected = 1.0 / (1.0 + np.exp(-(logits[:, 0] + np.log(alpha))))
    np.testing.assert_allclose(calibrated[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(raw[:, 0], 1.0 / (1.0 + np.exp(-logits[:, 0])))
    np.testing.assert_array_equal(calibrated[:, 1:], raw[:, 1:])


def test_predict_proba_never_overflows_for_extreme_logits(spec):
    model = SingleTask(spec, task="like")
    with torch.no_grad():
        model.network[-1].bias.fill_(1000.0)
    probabilities = model._probabilities(np.array([[1000.0], [-1000.0]]), True)

    np.testing.assert_array_equal(probabilities, [[1.0], [0.0]])
