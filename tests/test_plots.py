"""Tests of the downsampling, reliability and fusion figures of mtrank_lite.plots.

Each figure is a pure function of its inputs; the tests check that what it
draws and the numbers it reports agree with the package's own functions.
"""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mtrank_lite.calibration import inflate
from mtrank_lite.fusion import fusion_table
from mtrank_lite.plots import downsampling_figure, fusion_figure, reliability_figure
from mtrank_lite.sampling import downsample_negatives
from mtrank_lite.world import make_world


@pytest.fixture(scope="module")
def log():
    world = make_world(seed=0, n_users=200, n_items=100, warmup_impressions=50_000)
    return world.impressions(20_000, seed=1)


@pytest.fixture()
def candidates():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "item_id": np.arange(20),
            "category": rng.integers(0, 4, size=20),
            "click": rng.uniform(0.01, 0.2, size=20),
            "like": rng.uniform(0.0, 0.3, size=20),
            "collect": rng.uniform(0.0, 0.1, size=20),
            "share": rng.uniform(0.0, 0.05, size=20),
        }
    )


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0])
def test_downsampling_summary_reports_the_sample(log, alpha):
    figure, summary = downsampling_figure(log, alpha, seed=4)

    sample = downsample_negatives(log, alpha, seed=4)
    assert isinstance(figure, Figure)
    assert f"{len(sample):,} of {len(log):,} rows kept" in summary
    assert f"{sample['click'].mean():.2%}" in summary
    predicted = inflate(log["p_click"].mean(), alpha)
    assert f"inflate(true rate) predicts {predicted:.2%}" in summary


def test_downsampling_figure_marks_the_rows_left(log):
    figure, _ = downsampling_figure(log, 0.2, seed=0)

    right = figure.axes[1]
    marked = right.collections[0].get_offsets()[0]
    expected = len(downsample_negatives(log, 0.2, seed=0)) / 1e3
    assert marked[1] == pytest.approx(expected)


def test_downsampling_figure_does_not_change_the_log(log):
    before = log.copy()

    downsampling_figure(log, 0.1)

    pd.testing.assert_frame_equal(log, before)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"alpha": 0}, ValueError, r"alpha must be in \(0, 1\], got 0"),
        ({"alpha": 1.5}, ValueError, r"alpha must be in \(0, 1\], got 1.5"),
        ({"alpha": 0.1, "label": "like_it"}, ValueError, "like_it"),
    ],
)
def test_downsampling_figure_rejects_bad_input(log, arguments, error, message):
    with pytest.raises(error, match=message):
        downsampling_figure(log, **arguments)


def test_reliability_figure_draws_one_panel_per_prediction():
    labels = np.array([0, 1, 1, 0, 1, 0])
    predictions = {"a": np.linspace(0.1, 0.9, 6), "b": np.full(6, 0.5)}

    figure = reliability_figure(labels, predictions, n_bins=2)

    assert [ax.get_title() for ax in figure.axes] == ["a", "b"]


def test_reliability_figure_rejects_no_prediction():
    with pytest.raises(ValueError, match="predictions must hold at least one"):
        reliability_figure([0, 1], {})


@pytest.mark.parametrize(
    "weights", [{}, {"like": 0.0, "collect": 0.0, "share": 0.0}, {"share": 50.0}]
)
def test_fusion_figure_shows_the_top_of_fusion_table(candidates, weights):
    figure, summary = fusion_figure(candidates, k=5, **weights)

    full = {"click": 1.0, "like": 2.0, "collect": 4.0, "share": 8.0, **weights}
    table, tau = fusion_table(candidates, full, k=5)
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == [f"item {item}" for item in table["item_id"]]
    assert f"{tau:.3f}" in summary


def test_fusion_figure_with_click_only_keeps_the_click_order(candidates):
    _, summary = fusion_figure(candidates, like=0.0, collect=0.0, share=0.0)

    assert "<b>1.000</b>" in summary


def test_fusion_figure_bars_add_up_to_the_fused_score(candidates):
    figure, _ = fusion_figure(candidates, k=3)

    table, _ = fusion_table(
        candidates, {"click": 1.0, "like": 2.0, "collect": 4.0, "share": 8.0}, k=3
    )
    bars = figure.axes[0].patches
    # Four stacked terms per item: the right edge of the last one is the score.
    right_edges = [bar.get_x() + bar.get_width() for bar in bars[-3:]]
    np.testing.assert_allclose(right_edges, table["fused_score"])


def test_fusion_figure_rejects_a_negative_weight(candidates):
    with pytest.raises(ValueError, match="like"):
        fusion_figure(candidates, like=-1.0)
