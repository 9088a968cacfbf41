"""Tests of the funnel and diversity figures of mtrank_lite.plots."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mtrank_lite.funnel import diversity_tradeoff, rerank_page
from mtrank_lite.plots import funnel_figure, rerank_figure, tradeoff_figure

STAGES = pd.DataFrame(
    {
        "stage": ["recall", "pre_ranking", "ranking", "re_ranking"],
        "n_in": [2000, 970, 200, 50],
        "n_out": [970, 200, 50, 10],
        "true_top_share": [0.9, 0.8, 0.8, 0.5],
    }
)


@pytest.fixture()
def candidates():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "category": rng.integers(0, 5, size=30),
            "length_minutes": rng.uniform(1, 10, size=30),
            "item_age_days": rng.uniform(0, 50, size=30),
        }
    )
    relevance = np.sort(rng.uniform(0, 1, size=30))[::-1]
    return frame, relevance


def _texts(figure):
    return [text.get_text() for ax in figure.axes for text in ax.texts]


def test_funnel_figure_writes_every_count_and_share():
    figure = funnel_figure(STAGES)

    assert isinstance(figure, Figure)
    texts = _texts(figure)
    for count in ["2,000", "970", "200", "50", "10"]:
        assert count in texts
    assert "50% of the best" in texts
    assert "catalogue" in texts and "re-ranking" in texts


def test_funnel_figure_bars_are_log10_of_the_counts():
    figure = funnel_figure(STAGES)

    widths = sorted(patch.get_width() for patch in figure.axes[0].patches)
    expected = sorted(np.log10([2000, 970, 200, 50, 10]))
    np.testing.assert_allclose(widths, expected)


@pytest.mark.parametrize(
    "stages, error, message",
    [
        (STAGES.drop(columns="n_out"), ValueError, "n_out"),
        (STAGES.iloc[:0], ValueError, "at least one stage"),
        (STAGES.assign(n_out=[970, 200, 50, 0]), ValueError, "counts >= 1"),
    ],
)
def test_funnel_figure_rejects_bad_stages(stages, error, message):
    with pytest.raises(error, match=message):
        funnel_figure(stages)


@pytest.mark.parametrize("method", ["mmr", "dpp"])
@pytest.mark.parametrize("lambda_", [0.0, 0.5, 1.0])
def test_rerank_figure_shows_the_page_of_rerank_page(candidates, method, lambda_):
    frame, relevance = candidates
    figure, summary = rerank_figure(frame, relevance, lambda_, method,
                                    category_weight=0.8)

    page = rerank_page(frame, relevance, lambda_, method=method,
                       category_rule=False, category_weight=0.8)
    bars = figure.axes[0].patches
    np.testing.assert_allclose([bar.get_height() for bar in bars],
                               relevance[page.positions])
    shown = frame["category"].to_numpy()[page.positions]
    assert f"<b>{len(np.unique(shown))}</b> distinct categories" in summary
    assert method.upper() in summary


def test_rerank_figure_summary_matches_diversity_tradeoff(candidates):
    frame, relevance = candidates
    table = diversity_tradeoff(frame, relevance, [0.3], method="dpp",
                               category_weight=0.8)

    _, summary = rerank_figure(frame, relevance, 0.3, "dpp", category_weight=0.8)

    assert f"<b>{table['relevance_kept'].iloc[0]:.1%}</b>" in summary


def test_rerank_figure_at_lambda_one_keeps_all_relevance(candidates):
    frame, relevance = candidates

    _, summary = rerank_figure(frame, relevance, 1.0)

    assert "<b>100.0%</b>" in summary


def test_rerank_figure_same_category_same_colour(candidates):
    frame, relevance = candidates
    figure, _ = rerank_figure(frame, relevance, 0.9)

    page = rerank_page(frame, relevance, 0.9, category_rule=False)
    shown = frame["category"].to_numpy()[page.positions]
    colours = [tuple(bar.get_facecolor()) for bar in figure.axes[0].patches]
    for first in range(len(shown)):
        for second in range(len(shown)):
            same = shown[first] == shown[second]
            assert (colours[first] == colours[second]) == same


def test_rerank_figure_rejects_negative_relevance(candidates):
    frame, relevance = candidates
    with pytest.raises(ValueError, match="relevance must be >= 0"):
        rerank_figure(frame, relevance - 1.0, 0.5)


def test_tradeoff_figure_draws_one_curve_per_method(candidates):
    frame, relevance = candidates
    lambdas = [0.0, 0.5, 1.0]
    tables = {method: diversity_tradeoff(frame, relevance, lambdas, method=method,
                                         category_weight=0.8)
              for method in ["mmr", "dpp"]}

    figure = tradeoff_figure(tables, annotate=(0.0, 1.0))

    lines = figure.axes[0].get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), tables["mmr"]["relevance_kept"])
    assert _texts(figure).count("lambda 1") == 2


@pytest.mark.parametrize(
    "tables, keywords, message",
    [
        ({}, {}, "at least one named table"),
        ({"mmr": pd.DataFrame({"lambda_": [0.0]})}, {}, "relevance_kept"),
        ({"mmr": pd.DataFrame()}, {"diversity": "volume"}, "diversity must be"),
    ],
)
def test_tradeoff_figure_rejects_bad_input(tables, keywords, message):
    with pytest.raises(ValueError, match=message):
        tradeoff_figure(tables, **keywords)
